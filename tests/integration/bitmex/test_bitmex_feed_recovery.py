"""bitmex.Feed when the websocket upgrade never completes and when the protocol fails on a frame
with an exception it does not document: the feed retries / resynchronises, never stalls or
ends."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer
from tests.conftest import unanswering_server

from .conftest import HANG_GUARD, fast_backoff

SYMBOLS = ["XBTUSD", "ETHUSD"]
TOPICS = ["orderBookL2:XBTUSD", "orderBookL2:ETHUSD"]


async def test_unanswered_websocket_upgrade_times_out_and_is_retried(runner: Any) -> None:
    async with unanswering_server(attempts=2) as (port, two_attempts):
        feed = bitmex.Feed(
            "orderBookL2:XBTUSD",
            url=f"ws://127.0.0.1:{port}/realtime",
            connect_timeout=0.3,
            backoff=fast_backoff(),
        )
        async with runner(feed) as run:
            async with asyncio.timeout(HANG_GUARD):  # before the fix the first attempt hung
                await two_attempts.wait()
        assert run.error is None
    assert feed.stats.connects == 0 and not feed.stats.connected


async def test_unexpected_protocol_error_resynchronises_instead_of_ending_the_feed(
    server: BitmexMockServer,
    make_feed: Any,
    runner: Any,
    match: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    feed = make_feed(server, TOPICS)
    receive = feed.protocol.receive
    marker = b'"unexpected-here"'

    def receive_with_a_bug(frame: str | bytes, received: float | None = None) -> list[Any]:
        data = frame.encode() if isinstance(frame, str) else frame
        if marker in data:  # a stand-in for a bug met on an unusual frame
            raise ZeroDivisionError("a bug in the protocol")
        return receive(frame, received)

    monkeypatch.setattr(feed.protocol, "receive", receive_with_a_bug)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        with caplog.at_level(logging.ERROR, logger="marketstreams.bitmex"):
            server.malformed('{"info":"unexpected-here"}')
            await run.until(lambda: not feed.books["XBTUSD"].is_valid)
            server.step(10)  # the market moves on while the feed resynchronises
            async with asyncio.timeout(HANG_GUARD):  # before the fix the feed had ended
                await server.wait_accepted(2)
            await run.until(lambda: match(server, feed, SYMBOLS))
    assert run.error is None  # the feed (and an Updater around it) kept going
    assert feed.stats.malformed == 1
    assert feed.stats.reconnects == 1
    invalid = [reason for _, valid, reason, _ in run.seen if not valid]
    assert len(invalid) == 2  # both books were reported out of sync, once
    assert "ZeroDivisionError" in caplog.text
    assert "unexpected-here" in caplog.text  # the frame excerpt is logged

"""bitmex.connect() / listen() against the mock server, and a Feed inside an Updater."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from marketstreams import Updater
from marketstreams.exceptions import AuthenticationError, SubscriptionError
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer

GUARD = 20.0
FAST = {"ping_interval": 0.2, "pong_timeout": 2.0}
REPO = Path(__file__).resolve().parents[3]


def subscribes(server: BitmexMockServer, op: str, topic: str) -> int:
    return sum(1 for c in server.commands if c.get("op") == op and topic in c.get("args", []))


async def test_listeners_share_one_subscription(server: BitmexMockServer) -> None:
    async with bitmex.connect(server.url, **FAST) as ws:
        first = ws.listen("orderBookL2", "XBTUSD")
        second = ws.listen("orderBookL2", "XBTUSD")
        async with asyncio.timeout(GUARD), contextlib.aclosing(first), contextlib.aclosing(second):
            row = await anext(first)  # the partial's rows
            assert row["symbol"] == "XBTUSD" and "price" in row
            assert ws.listeners("orderBookL2", "XBTUSD") == 1
            pending = asyncio.ensure_future(anext(second))
            # One loop turn runs the new task up to its first wait: it has registered then.
            await asyncio.sleep(0)
            assert ws.listeners("orderBookL2", "XBTUSD") == 2
            server.step(5)
            seen = await pending
            assert seen["symbol"] == "XBTUSD"
            assert subscribes(server, "subscribe", "orderBookL2:XBTUSD") == 1
        # Both listeners are gone: exactly one unsubscribe.
        await server.wait_for(lambda: subscribes(server, "unsubscribe", "orderBookL2:XBTUSD") == 1)
        assert ws.listeners("orderBookL2", "XBTUSD") == 0
        assert subscribes(server, "subscribe", "orderBookL2:XBTUSD") == 1


async def test_listen_yields_symbol_rows_and_exposes_storage(server: BitmexMockServer) -> None:
    server.set_legacy_ids(True)  # update rows carry only the id: listeners still get prices
    async with bitmex.connect(server.url, **FAST) as ws:
        rows = ws.listen("orderBookL2", "ETHUSD")
        async with asyncio.timeout(GUARD), contextlib.aclosing(rows):
            partial_rows = len(server.book("ETHUSD")["bids"]) + len(server.book("ETHUSD")["asks"])
            got = [await anext(rows) for _ in range(partial_rows)]
            server.step(40)
            more = [await anext(rows) for _ in range(10)]
        assert {r["symbol"] for r in got + more} == {"ETHUSD"}
        assert all(isinstance(r["price"], float) for r in got + more)
        book = ws.books["ETHUSD"]
        stored = ws.storage.rows("orderBookL2", "ETHUSD")
        assert len(stored) == len(book)
        assert book.is_valid


async def test_refused_topic_fails_only_its_listener(server: BitmexMockServer) -> None:
    async with bitmex.connect(server.url, **FAST) as ws:
        good = ws.listen("instrument")
        bad = ws.listen("noSuchTable")
        async with asyncio.timeout(GUARD), contextlib.aclosing(good), contextlib.aclosing(bad):
            with pytest.raises(SubscriptionError, match="Unknown table: noSuchTable"):
                await anext(bad)
            row = await anext(good)
            assert row["symbol"] in server.markets


async def test_refused_credentials_end_every_listener(
    server: BitmexMockServer, credentials: tuple[str, str]
) -> None:
    key, _ = credentials
    async with bitmex.connect(server.url, key, "not-the-secret", **FAST) as ws:
        rows = ws.listen("trade", "XBTUSD")
        async with asyncio.timeout(GUARD), contextlib.aclosing(rows):
            with pytest.raises(AuthenticationError) as info:
                await anext(rows)
    assert "not-the-secret" not in str(info.value)
    assert "Signature not valid" in str(info.value)


async def test_feed_books_flow_into_updater_hooks(
    server: BitmexMockServer, make_feed: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2:XBTUSD", "trade:XBTUSD"])
    seen: list[tuple[str, int]] = []
    trades: list[Any] = []
    changed = asyncio.Event()

    def hook(book: Any, new_trades: list[Any]) -> None:
        seen.append((book.market, len(book)))
        trades.extend(new_trades)
        changed.set()

    updater = Updater(feed, hooks=[hook])
    task = asyncio.create_task(updater.run())
    try:
        async with asyncio.timeout(GUARD):
            while not (trades and match(server, feed, ["XBTUSD"])):
                changed.clear()
                server.step(5)
                await changed.wait()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert updater.book("bitmex", "XBTUSD") is feed.books["XBTUSD"]
    assert seen and all(market == "XBTUSD" for market, _ in seen)
    assert all(t.venue == "bitmex" and t.market == "XBTUSD" for t in trades)


async def test_mock_main_runs_alone() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_servers.bitmex",
        "--port",
        "0",
        "--interval",
        "0.05",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(GUARD):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("mock BitMEX listening on ws://127.0.0.1:")
        url = line.split()[-1]
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            welcome = orjson.loads((await ws.receive(timeout=GUARD)).data)
            assert welcome["info"] == "Welcome to the BitMEX Realtime API."
            await ws.send_str('{"op":"help"}')
            help_reply = orjson.loads((await ws.receive(timeout=GUARD)).data)
            assert "orderBookL2" in help_reply["subscriptionSubjects"]["public"]
            await ws.send_str("ping")
            assert (await ws.receive(timeout=GUARD)).data == "pong"
    finally:
        proc.terminate()
        async with asyncio.timeout(GUARD):
            await proc.wait()


async def test_listener_survives_a_dropped_connection(server: BitmexMockServer) -> None:
    async with bitmex.connect(server.url, **FAST) as ws:
        rows = ws.listen("instrument")
        async with asyncio.timeout(GUARD), contextlib.aclosing(rows):
            first = [await anext(rows) for _ in server.markets]  # the partial: one row a symbol
            await server.drop()
            await server.wait_accepted(2)
            again = [await anext(rows) for _ in server.markets]  # the new partial's rows
        assert {r["symbol"] for r in first} == {r["symbol"] for r in again} == set(server.markets)
        assert ws.stats.reconnects == 1
        assert subscribes(server, "subscribe", "instrument") == 2  # once per connection


async def test_listen_again_after_the_last_listener_left(server: BitmexMockServer) -> None:
    async def unsubscribed(times: int) -> None:
        await server.wait_for(lambda: subscribes(server, "unsubscribe", "quote:XBTUSD") == times)

    async with bitmex.connect(server.url, **FAST) as ws:
        for expected in (1, 2):
            rows = ws.listen("quote", "XBTUSD")
            async with asyncio.timeout(GUARD), contextlib.aclosing(rows):
                row = await anext(rows)
                assert row["symbol"] == "XBTUSD"
            await unsubscribed(expected)
        assert subscribes(server, "subscribe", "quote:XBTUSD") == 2


async def test_updates_are_yielded_as_merged_rows(server: BitmexMockServer) -> None:
    async with bitmex.connect(server.url, **FAST) as ws:
        rows = ws.listen("instrument", "XBTUSD")
        async with asyncio.timeout(GUARD), contextlib.aclosing(rows):
            partial = await anext(rows)
            assert partial["state"] == "Open" and "tickSize" in partial
            server.step(80)  # trades move lastPrice: instrument updates carry only that
            update = await anext(rows)
        # The update row merged into the stored one: fields from the partial are still there.
        assert update["symbol"] == "XBTUSD" and update["state"] == "Open"
        assert update["tickSize"] == partial["tickSize"]
        # A copy: later updates change the stored row, not rows already handed out.
        assert ws.storage.rows("instrument", "XBTUSD")[0] is not update

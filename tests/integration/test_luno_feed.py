"""The Luno feed through real sockets against mock_servers/luno.py, faults injected."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from marketstreams import AuthenticationError, Backoff, ConfigurationError, Hook, Trade, Updater
from marketstreams.venues import luno
from marketstreams.venues.luno.protocol import LunoProtocol
from mock_servers.luno import LunoMockServer, book_digest
from tests.conftest import unanswering_server

KEY, SECRET = "key-id", "s3cret-value"
GUARD = 30.0  # a hang guard only: every wait below ends on an event long before this


@pytest.fixture
async def server() -> AsyncIterator[LunoMockServer]:
    async with LunoMockServer(
        pairs=("XBTZAR", "ETHZAR"),
        seed=3,
        orders=1500,
        rate=200.0,
        credentials={KEY: SECRET},
        keepalive_interval=0.2,
        ping_interval=None,
    ) as srv:
        yield srv


def make_feed(server: LunoMockServer, pair: str = "XBTZAR", **kw: Any) -> luno.Feed:
    kw.setdefault("silence_timeout", 2.0)
    kw.setdefault("keepalive_interval", 0.5)
    return luno.Feed(
        pair, KEY, SECRET, url=server.url, backoff=Backoff(initial=0.01, maximum=0.05), **kw
    )


class Watch:
    """A hook that checks every valid delivery against the server's true book at that sequence,
    and lets the test wait on conditions."""

    def __init__(self, server: LunoMockServer) -> None:
        self.server = server
        self.changed = asyncio.Event()
        self.calls = 0
        self.invalid_seen = 0
        self.valid_checked = 0
        self.mismatches: list[tuple[str, int | None]] = []
        self.trades: list[Trade] = []

    def __call__(self, book: Any, trades: list[Trade]) -> None:
        self.calls += 1
        self.trades.extend(trades)
        if not book.is_valid:
            self.invalid_seen += 1
        else:
            expected = self.server.digest(book.market, book.sequence)
            if expected is not None:
                self.valid_checked += 1
                if book_digest(book.depth()) != expected:
                    self.mismatches.append((book.market, book.sequence))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def converge(server: LunoMockServer, watch: Watch, feed: luno.Feed) -> None:
    """Stop the market, wait for the client to catch up, compare full depth exactly."""
    server.pause()
    await asyncio.sleep(0)
    target = server.sequence(feed.pair)
    await watch.until(lambda: feed.book.is_valid and feed.book.sequence == target)
    assert feed.book.depth() == server.true_depth(feed.pair)


async def run_with(updater: Updater) -> asyncio.Task[None]:
    return asyncio.create_task(updater.run())


@pytest.mark.parametrize("fault", ["gap", "drop", "silence", "error"])
async def test_book_converges_after_fault(server: LunoMockServer, fault: str) -> None:
    feed = make_feed(server, silence_timeout=0.6)
    watch = Watch(server)
    task = await run_with(Updater(feed, hooks=[watch]))
    try:
        await watch.until(lambda: feed.book.is_valid and watch.valid_checked >= 20)
        if fault == "gap":
            server.inject_gap("XBTZAR")
        elif fault == "drop":
            await server.drop("XBTZAR")
        elif fault == "silence":
            server.silence(30.0, "XBTZAR")
        else:
            server.send_error("internal_error", "try again", pair="XBTZAR")
        await watch.until(lambda: feed.stats.connects >= 2 and feed.book.is_valid)
        await watch.until(lambda: watch.valid_checked >= 60)
        await converge(server, watch, feed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert watch.invalid_seen >= 1  # hooks were told the book went out of sync
    assert watch.mismatches == []  # no hook ever got a wrong book marked valid
    assert feed.stats.reconnects >= 1
    counter = {
        "gap": feed.stats.gaps,
        "drop": feed.stats.reconnects,
        "silence": feed.stats.silences,
        "error": feed.stats.errors,
    }[fault]
    assert counter >= 1


async def test_two_pairs_side_by_side(server: LunoMockServer) -> None:
    feeds = [make_feed(server, "XBTZAR"), make_feed(server, "ETHZAR")]
    watch = Watch(server)
    updater = Updater(*feeds, hooks=[watch])
    task = await run_with(updater)
    try:
        await watch.until(lambda: all(f.book.is_valid for f in feeds) and watch.valid_checked > 40)
        await converge(server, watch, feeds[0])
        await converge(server, watch, feeds[1])
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert set(updater.books) == {("luno", "XBTZAR"), ("luno", "ETHZAR")}
    assert watch.mismatches == [] and watch.trades  # the market traded and trades arrived
    assert {t.type for t in watch.trades} <= {"buy", "sell"}


async def test_malformed_frame_is_counted_not_fatal(
    server: LunoMockServer, caplog: pytest.LogCaptureFixture
) -> None:
    feed = make_feed(server)
    watch = Watch(server)
    task = await run_with(Updater(feed, hooks=[watch]))
    try:
        await watch.until(lambda: watch.valid_checked >= 5)
        with caplog.at_level(logging.WARNING, logger="marketstreams.luno"):
            server.send_malformed("XBTZAR")
            await watch.until(lambda: feed.stats.malformed == 1 and watch.valid_checked >= 30)
        await converge(server, watch, feed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert feed.stats.connects == 1  # skipped, not reconnected
    assert "malformed" in caplog.text and watch.mismatches == []


async def test_keepalives_every_second_are_not_malformed(caplog: pytest.LogCaptureFixture) -> None:
    # Luno sends the two characters "" on a quiet stream; none of them may count as malformed.
    async with LunoMockServer(
        pairs=("XBTZAR",), seed=4, orders=200, credentials={KEY: SECRET}, keepalive_interval=1.0,
        ping_interval=None,
    ) as mock:  # fmt: skip
        mock.pause()
        feed = make_feed(mock, silence_timeout=10.0)
        watch = Watch(mock)
        task = await run_with(Updater(feed, hooks=[watch]))
        try:
            with caplog.at_level(logging.WARNING, logger="marketstreams.luno"):
                await watch.until(lambda: feed.book.is_valid)
                async with asyncio.timeout(GUARD):
                    await mock.wait_keepalives(3)
                # An update after the keepalives: once it is applied, so are they.
                await mock.step(1)
                await watch.until(lambda: feed.book.sequence == mock.sequence("XBTZAR"))
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert mock.keepalives_sent >= 3
    assert feed.stats.malformed == 0 and "malformed" not in caplog.text
    assert feed.stats.messages >= 1 + 3 + 1  # snapshot, keepalives, the update
    assert feed.stats.connects == 1 and watch.mismatches == []


async def test_slow_hook_does_not_delay_other_hooks(server: LunoMockServer) -> None:
    feed = make_feed(server)
    slow_started = asyncio.Event()
    slow_finished = 0

    async def slow(book: Any, trades: list[Trade]) -> None:
        nonlocal slow_finished
        slow_started.set()
        await asyncio.sleep(1.0)
        slow_finished += 1

    watch = Watch(server)
    updater = Updater(feed, hooks=[slow, watch])
    task = await run_with(updater)
    try:
        await slow_started.wait()
        start = watch.calls
        # While the slow hook is inside its first one-second call, the other hook keeps
        # receiving every update as it happens.
        await watch.until(lambda: watch.calls >= start + 50)
        assert slow_finished == 0
        await watch.until(lambda: slow_finished >= 1)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    slow_stats = updater.hooks[0].stats
    assert slow_stats.conflated >= 50  # the slow hook's backlog was merged, not queued
    assert watch.mismatches == []


async def test_raising_hook_does_not_stop_the_feed(server: LunoMockServer) -> None:
    feed = make_feed(server)

    def broken(book: Any, trades: list[Trade]) -> None:
        raise ValueError("strategy bug")

    watch = Watch(server)
    updater = Updater(feed, hooks=[Hook(broken), watch])
    task = await run_with(updater)
    try:
        await watch.until(lambda: watch.valid_checked >= 50)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert updater.hooks[0].stats.errors >= 50 and feed.stats.connects == 1


async def test_wrong_credentials_raise_clearly_without_the_secret(server: LunoMockServer) -> None:
    feed = luno.Feed("XBTZAR", KEY, "not-the-secret", url=server.url)
    with pytest.raises(AuthenticationError) as info:
        await Updater(feed).run()
    assert info.value.code == "invalid_credentials"
    assert "not-the-secret" not in str(info.value) and "not-the-secret" not in repr(feed)


async def test_unknown_pair_is_a_configuration_error(server: LunoMockServer) -> None:
    with pytest.raises(ConfigurationError, match="invalid_market"):
        await Updater(luno.Feed("NOPEZAR", KEY, SECRET, url=server.url)).run()


async def test_snapshot_over_two_mib_is_accepted() -> None:
    async with LunoMockServer(
        pairs=("XBTZAR",), orders=500, rate=0, snapshot_padding_bytes=3 * 1024 * 1024
    ) as srv:
        feed = luno.Feed("XBTZAR", url=srv.url)
        async for update in Updater(feed):
            assert update.snapshot and update.book.is_valid
            assert update.book.depth() == srv.true_depth("XBTZAR")
            break
    assert feed.stats.malformed == 0


def test_frame_limit_below_two_mib_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        luno.Feed("XBTZAR", max_frame_bytes=1024 * 1024)


async def test_unanswered_websocket_upgrade_times_out_and_is_retried() -> None:
    async with unanswering_server(attempts=2) as (port, two_attempts):
        feed = luno.Feed(
            "XBTZAR",
            url=f"ws://127.0.0.1:{port}",
            connect_timeout=0.3,
            backoff=Backoff(initial=0.01, maximum=0.05),
        )
        task = await run_with(Updater(feed))
        try:
            async with asyncio.timeout(GUARD):  # before the fix the first attempt never ended
                await two_attempts.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert feed.stats.connects == 0 and not feed.stats.connected
    assert not feed.book.is_valid


async def test_stopping_the_feed_invalidates_its_book(server: LunoMockServer) -> None:
    feed = make_feed(server)
    watch = Watch(server)
    task = await run_with(Updater(feed, hooks=[watch]))
    try:
        await watch.until(lambda: feed.book.is_valid and watch.valid_checked >= 5)
        assert feed.stats.connected
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not feed.book.is_valid
    assert feed.book.invalid_reason == "feed stopped"
    assert feed.stats.connected is False


class FailsOnce(LunoProtocol):
    """The real protocol, except that applying one chosen update raises what it never
    documents (a stand-in for a bug met on an unusual frame)."""

    def __init__(self, pair: str) -> None:
        super().__init__(pair)
        self.fail_next_update = False
        self.failed_on: str | bytes | None = None

    def receive(self, frame: str | bytes) -> Any:
        if self.fail_next_update and self.failed_on is None and b'"sequence"' in _bytes(frame):
            self.failed_on = frame
            raise ZeroDivisionError("a bug in the protocol")
        return super().receive(frame)


def _bytes(frame: str | bytes) -> bytes:
    return frame.encode() if isinstance(frame, str) else frame


async def test_unexpected_protocol_error_resynchronises_instead_of_ending_the_feed(
    server: LunoMockServer, caplog: pytest.LogCaptureFixture
) -> None:
    feed = make_feed(server)
    protocol = feed.protocol = FailsOnce(feed.pair)
    watch = Watch(server)
    task = await run_with(Updater(feed, hooks=[watch]))
    try:
        await watch.until(lambda: feed.book.is_valid and watch.valid_checked >= 5)
        with caplog.at_level(logging.ERROR, logger="marketstreams.luno"):
            protocol.fail_next_update = True
            await watch.until(lambda: feed.stats.connects == 2 and feed.book.is_valid)
        await watch.until(lambda: watch.valid_checked >= 30)
        await converge(server, watch, feed)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert protocol.failed_on is not None
    assert feed.stats.malformed == 1
    assert feed.stats.reconnects == 1
    assert watch.invalid_seen >= 1  # hooks were told the book was out of sync
    assert watch.mismatches == []
    assert "ZeroDivisionError" in caplog.text
    assert _bytes(protocol.failed_on)[:40].decode() in caplog.text  # the frame excerpt is logged

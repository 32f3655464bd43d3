"""Updater and hook delivery, driven by in-memory feeds (no sockets)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from marketstreams import Feed, FeedStats, Hook, OrderBook, Trade, Update, Updater


class ListFeed:
    """A finite feed: sets bid level i on book ``market`` for each step, with one trade each."""

    venue = "mem"

    def __init__(self, market: str, steps: int, gate: asyncio.Event | None = None) -> None:
        self.stats = FeedStats()
        self.book = OrderBook("mem", market)
        self.steps = steps
        self.gate = gate
        self.paused = asyncio.Event()  # set when the feed waits at its gate

    async def updates(self) -> AsyncIterator[Update]:
        self.book.mark_valid()
        for i in range(self.steps):
            self.book.set_level("bid", i, 1)
            self.book.sequence = i
            trade = Trade("mem", self.book.market, "buy", i, 1, sequence=i)
            self.stats.updates += 1
            yield Update(self.book, [trade])
            await asyncio.sleep(0)
            if self.gate is not None and i == self.steps // 2:
                self.paused.set()
                await self.gate.wait()


class FailingFeed:
    venue = "bad"

    def __init__(self) -> None:
        self.stats = FeedStats()

    async def updates(self) -> AsyncIterator[Update]:
        raise PermissionError("refused")
        yield  # pragma: no cover


def test_feeds_satisfy_the_protocol() -> None:
    assert isinstance(ListFeed("A", 1), Feed)
    with pytest.raises(TypeError, match="not a feed"):
        Updater(object())  # type: ignore[arg-type]


async def test_sync_hook_sees_every_update_and_books_are_kept() -> None:
    seen: list[tuple[int | None, int]] = []
    updater = Updater(
        ListFeed("A", 50), ListFeed("B", 30), hooks=[lambda b, t: seen.append((b.sequence, len(t)))]
    )
    await updater.run()
    assert len(seen) == 80 and all(n == 1 for _, n in seen)
    assert set(updater.books) == {("mem", "A"), ("mem", "B")}
    assert updater.book("mem", "A").best_bid() == (49, 1)
    assert updater.updates == 80
    assert updater.hooks[0].stats.calls == 80 and updater.hooks[0].stats.conflated == 0


async def test_raising_hook_is_counted_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    good: list[int] = []

    def bad(book: Any, trades: list[Trade]) -> None:
        raise RuntimeError("boom")

    async def bad_async(book: Any, trades: list[Trade]) -> None:
        raise RuntimeError("async boom")

    updater = Updater(
        ListFeed("A", 20), hooks=[bad, bad_async, lambda b, t: good.append(b.sequence)]
    )
    with caplog.at_level(logging.ERROR, logger="marketstreams.hooks"):
        await updater.run()
    assert good == list(range(20))
    assert updater.hooks[0].stats.errors == 20
    assert updater.hooks[1].stats.errors == updater.hooks[1].stats.calls >= 1
    assert "boom" in caplog.text


async def test_stuck_hook_conflates_and_never_stalls_others() -> None:
    release = asyncio.Event()
    slow_calls: list[tuple[int | None, list[int | None]]] = []
    fast: list[int | None] = []

    async def slow(book: Any, trades: list[Trade]) -> None:
        await release.wait()
        slow_calls.append((book.sequence, [t.sequence for t in trades]))

    async def fast_hook(book: Any, trades: list[Trade]) -> None:
        fast.append(book.sequence)

    gate = asyncio.Event()
    feed = ListFeed("A", 200, gate=gate)
    updater = Updater(feed, hooks=[slow, fast_hook])
    task = asyncio.create_task(updater.run())
    await feed.paused.wait()  # the feed pauses at its half-way gate
    assert feed.book.sequence == 100
    await asyncio.sleep(0)
    # The slow hook is stuck in its first call; the fast one kept up with every update.
    assert fast[-1] == 100 and slow_calls == []
    slow_stats = updater.hooks[0].stats
    assert slow_stats.calls == 1 and slow_stats.conflated >= 99
    release.set()
    gate.set()
    await task
    assert fast == list(range(200))
    # Every trade reached the slow hook exactly once, in order, across its few deliveries.
    delivered = [s for _, trades in slow_calls for s in trades]
    assert delivered == list(range(200))
    assert slow_calls[-1][0] == 199 and len(slow_calls) < 200
    assert slow_stats.pending == 0


async def test_queue_policy_copies_and_drops_oldest() -> None:
    release = asyncio.Event()
    seen: list[int | None] = []

    async def slow(book: Any, trades: list[Trade]) -> None:
        await release.wait()
        seen.append(book.best_bid()[0])

    hook = Hook(slow, policy="queue", maxsize=5)
    gate = asyncio.Event()
    feed = ListFeed("A", 40, gate=gate)
    task = asyncio.create_task(Updater(feed, hooks=[hook]).run())
    await feed.paused.wait()
    release.set()
    gate.set()
    await task
    # Frozen copies: each delivery shows the book as it was at its own update.
    assert seen == sorted(seen) and seen[-1] == 39 and len(seen) == len(set(seen))
    assert hook.stats.dropped > 0 and hook.stats.calls + hook.stats.dropped == 40


async def test_async_for_yields_until_finite_feeds_end() -> None:
    got: list[int | None] = []
    async for update in Updater(ListFeed("A", 25)):
        got.append(update.book.sequence)
        assert update.key == ("mem", "A")
    assert got[-1] == 24 and got == sorted(got)


async def test_async_for_slow_consumer_is_conflated_not_buffered() -> None:
    trades = 0
    updates = 0
    async for update in Updater(ListFeed("A", 300)):
        updates += 1
        trades += len(update.trades)
        await asyncio.sleep(0.001)
    assert trades == 300 and updates < 300


async def test_fatal_feed_error_stops_run() -> None:
    with pytest.raises(PermissionError):
        await Updater(FailingFeed(), ListFeed("A", 10**6)).run()
    with pytest.raises(PermissionError):
        async for _ in Updater(FailingFeed()):
            pass


def test_hook_arguments_are_checked() -> None:
    async def a(book: Any, trades: list[Trade]) -> None: ...

    with pytest.raises(ValueError):
        Hook(lambda b, t: None, policy="fifo")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Hook(a, thread=True)
    assert Hook(a).is_async and not Hook(lambda b, t: None).is_async


async def test_thread_hook_gets_copies_off_the_loop() -> None:
    import threading

    seen: list[tuple[bool, int | None]] = []

    def blocking(book: Any, trades: list[Trade]) -> None:
        seen.append((threading.current_thread() is threading.main_thread(), book.sequence))

    feed = ListFeed("A", 30)
    hook = Hook(blocking, thread=True)
    await Updater(feed, hooks=[hook]).run()
    assert seen and all(not on_main for on_main, _ in seen)
    assert seen[-1][1] == 29 and hook.stats.calls + hook.stats.conflated == 30


async def test_failing_hook_logs_first_traceback_then_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def always(book: Any, trades: list[Trade]) -> None:
        raise KeyError("missing")

    updater = Updater(ListFeed("A", 1000), hooks=[always])
    with caplog.at_level(logging.ERROR, logger="marketstreams.hooks"):
        await updater.run()
    assert updater.hooks[0].stats.errors == 1000
    records = [r for r in caplog.records if r.name == "marketstreams.hooks"]
    assert sum(r.exc_info is not None for r in records) == 1  # one traceback, not a thousand
    assert len(records) < 20 and "1000 times" in records[-1].getMessage()


async def test_drain_waits_without_spinning() -> None:
    import time

    async def slow(book: Any, trades: list[Trade]) -> None:
        await asyncio.sleep(0.3)

    updater = Updater(ListFeed("A", 3), hooks=[slow])
    cpu = time.process_time()
    await updater.run()  # ends by draining the slow hook's pending delivery
    assert updater.hooks[0].stats.calls >= 2
    assert time.process_time() - cpu < 0.2  # waited on an event, not a busy loop


async def test_stopping_does_not_wait_for_a_blocked_thread_hook() -> None:
    import threading

    release = threading.Event()
    entered = threading.Event()

    def blocked(book: Any, trades: list[Trade]) -> None:
        entered.set()
        release.wait(10)

    hook = Hook(blocked, thread=True)
    gate = asyncio.Event()
    task = asyncio.create_task(Updater(ListFeed("A", 10, gate=gate), hooks=[hook]).run())
    await asyncio.to_thread(entered.wait, 10)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)  # a hang guard: cancellation is immediate
    release.set()
    assert done and task.cancelled()


async def test_callable_objects_are_hooks_like_functions() -> None:
    class Collect:
        def __init__(self) -> None:
            self.seen: list[int | None] = []

        def __call__(self, book: Any, trades: list[Trade]) -> None:
            self.seen.append(book.sequence)

    class Fails:
        def __call__(self, book: Any, trades: list[Trade]) -> None:
            raise ValueError("no")

    class Later:
        def __init__(self) -> None:
            self.seen: list[int | None] = []

        async def __call__(self, book: Any, trades: list[Trade]) -> None:
            self.seen.append(book.sequence)

    collect, later = Collect(), Later()
    updater = Updater(ListFeed("A", 10), hooks=[Fails(), collect, later])
    await updater.run()
    assert collect.seen == list(range(10))
    assert updater.hooks[0].stats.errors == updater.hooks[0].stats.calls == 10
    assert updater.hooks[2].is_async and later.seen and later.seen[-1] == 9
    assert all(h.idle for h in updater.hooks)

"""Metrics: per book and venue counters, lag, rates, feed and hook counters, Prometheus text."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from marketstreams import FeedStats, Hook, OrderBook, Trade, Update, Updater
from marketstreams.metrics import LAG_BUCKETS, Metrics, render_prometheus


class ScriptedFeed:
    """A feed that plays a fixed script: valid updates with venue timestamps, one drop."""

    venue = "demo"

    def __init__(self, market: str, n: int, lag: float) -> None:
        self.stats = FeedStats()
        self.book = OrderBook("demo", market)
        self.pair = market
        self.n = n
        self.lag = lag

    async def updates(self) -> AsyncIterator[Update]:
        book = self.book
        book.mark_valid()
        for i in range(self.n):
            book.set_level("bid", 100 + i, 1)
            book.timestamp = 1_700_000_000_000 + i
            book.received = book.timestamp / 1000 + self.lag
            trades = [Trade("demo", book.market, "buy", 100 + i, 1)] if i % 10 == 0 else []
            yield Update(book, trades)
            if i == self.n // 2:
                self.stats.reconnects += 1
                self.stats.gaps += 1
                book.invalidate("gap")
                yield Update(book)
                book.mark_valid()
            await asyncio.sleep(0)


async def test_books_feeds_and_hooks_are_counted() -> None:
    feeds = [ScriptedFeed("AAA", 100, 0.004), ScriptedFeed("BBB", 40, 0.2)]
    release = asyncio.Event()

    async def slow(book: Any, trades: list[Trade]) -> None:
        await release.wait()

    everything = asyncio.Event()

    def count(book: Any, trades: list[Trade]) -> None:
        if updater.updates == 142:
            everything.set()

    updater = Updater(*feeds, hooks=[Hook(slow, name="slow"), count])
    metrics = Metrics.for_updater(updater)
    assert Metrics.for_updater(updater) is metrics  # attached once
    task = asyncio.create_task(updater.run())
    await everything.wait()  # the slow hook is still inside its first call
    release.set()
    await task

    snap = metrics.snapshot()
    a, b = snap["books"]["demo:AAA"], snap["books"]["demo:BBB"]
    assert (a["updates"], a["trades"], a["invalidations"], a["valid"]) == (101, 10, 1, True)
    assert (b["updates"], b["trades"], b["invalidations"]) == (41, 4, 1)
    # Lag: every distinct venue timestamp once, in the bucket of its lag.
    assert a["lag"]["count"] == 100 and a["lag"]["last"] == pytest.approx(0.004, abs=1e-6)
    assert dict(a["lag"]["buckets"])[0.005] == 100 and dict(a["lag"]["buckets"])[0.0025] == 0
    assert dict(b["lag"]["buckets"])[0.1] == 0 and dict(b["lag"]["buckets"])[0.25] == 40
    assert snap["venues"]["demo"]["updates"] == 142
    assert snap["venues"]["demo"]["reconnects"] == 2 and snap["venues"]["demo"]["gaps"] == 2
    assert [f["feed"] for f in snap["feeds"]] == ["AAA", "BBB"]
    hook = snap["hooks"][0]  # the metrics hook itself is not reported
    assert len(snap["hooks"]) == 2
    assert hook["hook"] == "slow" and hook["conflated"] > 0

    text = metrics.render_prometheus()
    assert 'marketstreams_book_updates_total{venue="demo",book="AAA"} 101' in text
    assert 'marketstreams_book_lag_seconds_bucket{venue="demo",book="BBB",le="0.25"} 40' in text
    assert 'marketstreams_book_lag_seconds_count{venue="demo",book="AAA"} 100' in text
    assert 'marketstreams_feed_reconnects_total{venue="demo",feed="AAA"} 1' in text
    assert re.search(r'marketstreams_hook_conflated_total\{hook="slow"\} [1-9]', text)
    assert_valid_exposition(text)


def assert_valid_exposition(text: str) -> None:
    """Every family declared once, before its samples; every sample line well formed."""
    declared: set[str] = set()
    sample = re.compile(
        r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? \S+$'
    )
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            assert name not in declared, name
            declared.add(name)
        elif not line.startswith("# HELP "):
            match = sample.match(line)
            assert match, line
            base = re.sub(r"_(bucket|sum|count)$", "", match.group(1))
            assert match.group(1) in declared or base in declared, line


def test_updates_per_second_over_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("marketstreams.metrics.time.monotonic", lambda: clock[0])
    metrics = Metrics(window=10)
    book = OrderBook("demo", "X")
    book.mark_valid()
    for _ in range(30):  # 50 updates a second for 30 seconds
        for _ in range(50):
            metrics.observe(book, [])
            clock[0] += 0.02
    rate = metrics.snapshot()["books"]["demo:X"]["updates_per_second"]
    assert rate == pytest.approx(50, rel=0.05)
    clock[0] += 20  # quiet since
    assert metrics.snapshot()["books"]["demo:X"]["updates_per_second"] < 20


def test_tracked_objects_and_betfair_style_books() -> None:
    class Sink:
        class stats:
            @staticmethod
            def as_dict() -> dict[str, int]:
                return {"published": 7, "dropped": 1}

    class MarketBook:  # what Betfair's books look like to metrics: publish_time, conflated
        venue, market, is_valid, publish_time, conflated = "betfair", "1.23", True, 1000, True

    metrics = Metrics()
    metrics.track("redis_sink", Sink())
    metrics.observe(MarketBook(), [])
    snap = metrics.snapshot()
    assert snap["books"]["betfair:1.23"]["venue_conflated"] == 1
    assert snap["books"]["betfair:1.23"]["lag"]["count"] == 1
    text = render_prometheus(snap)
    assert "marketstreams_redis_sink_published 7" in text
    assert_valid_exposition(text)
    with pytest.raises(ValueError):
        metrics.track("not a name", Sink())
    assert len(LAG_BUCKETS) > 5


class _Market:
    """A Betfair-style book as metrics sees it: a status, no venue timestamp."""

    venue = "betfair"
    is_valid = True
    timestamp = None
    publish_time = None
    received = None

    def __init__(self, market: str) -> None:
        self.market = market
        self.status = "OPEN"


def test_memory_is_flat_closed_and_idle_books_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("marketstreams.metrics.time.monotonic", lambda: clock[0])
    metrics = Metrics(window=10, expire_closed_after=600, expire_idle_after=3600)
    markets = [_Market(f"1.{i}") for i in range(200)]
    for _ in range(120):  # two minutes of updates, every market every second
        for market in markets:
            metrics.observe(market, [])
        clock[0] += 1.0
    assert len(metrics.books) == 200
    # rate samples are pruned as they are added, not only when read
    window_samples = max(len(m.samples) for m in metrics.books.values())
    assert window_samples <= 12
    for market in markets:  # settled
        market.status = "CLOSED"
        metrics.observe(market, [])
    clock[0] += 300
    assert len(metrics.snapshot()["books"]) == 200  # not yet past expire_closed_after
    clock[0] += 301
    assert metrics.snapshot()["books"] == {}
    assert len(metrics.books) == 0
    assert "betfair" not in metrics.render_prometheus()

    # a book that stops updating without closing goes after expire_idle_after; a live one stays
    idle, live = _Market("2.1"), _Market("2.2")
    metrics.observe(idle, [])
    for _ in range(3700):
        clock[0] += 1.0
        metrics.observe(live, [])
    assert list(metrics.books) == [("betfair", "2.2")]  # swept while updates arrive
    assert len(metrics.books["betfair", "2.2"].samples) <= 12

    assert metrics.forget("betfair", "2.2") is True
    assert metrics.forget("betfair", "2.2") is False
    assert metrics.books == {}

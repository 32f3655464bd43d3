"""The Redis sink against a real redis-server: books published and rebuilt in another process,
Redis killed and restarted mid-stream without loss after it returns, a paused Redis that does not
slow the feed."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from marketstreams import Backoff, Updater
from marketstreams.sinks.redis import RedisBooks, RedisSink, RemoteBook
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer

from .conftest import HANG_GUARD, Counter, RedisServer

PAIRS = ("XBTZAR", "ETHZAR")
DEPTH = 10


@asynccontextmanager
async def live_feeds(
    sink: RedisSink, counter: Counter, rate: float = 300.0
) -> AsyncIterator[tuple[LunoMockServer, list[luno.Feed]]]:
    """Two Luno pairs from a mock venue, the sink and a counting hook on one Updater."""
    async with LunoMockServer(pairs=PAIRS, seed=4, orders=600, rate=rate) as server:
        feeds = [
            luno.Feed(p, url=server.url, backoff=Backoff(initial=0.01, maximum=0.05)) for p in PAIRS
        ]
        task = asyncio.create_task(Updater(*feeds, hooks=[sink, counter]).run())
        try:
            await counter.until(lambda: all(f.book.is_valid for f in feeds))
            yield server, feeds
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def settle(server: LunoMockServer, feeds: list[luno.Feed], counter: Counter) -> None:
    """Stop the market and wait until every feed has applied its last update."""
    server.pause()
    targets = {f.pair: server.sequence(f.pair) for f in feeds}
    await counter.until(
        lambda: all(f.book.is_valid and f.book.sequence == targets[f.pair] for f in feeds)
    )


def top(book: Any) -> dict[str, Any]:
    return {"bids": book.top("bid", DEPTH), "asks": book.top("ask", DEPTH)}


async def consumer_process(url: str) -> dict[str, Any]:
    """The latest books as another process rebuilds them (python -m marketstreams.sinks.redis)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "marketstreams.sinks.redis",
        "--url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    async with asyncio.timeout(HANG_GUARD):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    books: dict[str, Any] = orjson.loads(out)
    return books


def as_text(levels: list[list[Any]]) -> list[list[str]]:
    return [[str(p), str(v)] for p, v in levels]


async def assert_consumer_sees_live_books(url: str, feeds: list[luno.Feed]) -> None:
    remote = await consumer_process(url)
    assert sorted(remote) == sorted(f"luno:{f.pair}" for f in feeds)
    for feed in feeds:
        got = remote[f"luno:{feed.pair}"]
        live = top(feed.book)
        assert got["valid"] and got["sequence"] == feed.book.sequence
        assert got["bids"] == as_text(live["bids"]) and got["asks"] == as_text(live["asks"])


async def test_books_published_and_rebuilt_in_another_process(redis_server: RedisServer) -> None:
    counter = Counter()
    followed: list[RemoteBook] = []
    more = asyncio.Event()

    async def follow() -> None:
        async with RedisBooks(redis_server.url) as reader:
            async for book in reader.follow(since="0", block_ms=100, refresh=0.05):
                followed.append(book)
                more.set()

    follower = asyncio.create_task(follow())
    try:
        async with (
            RedisSink(redis_server.url, depth=DEPTH) as sink,
            live_feeds(sink, counter) as (server, feeds),
        ):
            await counter.until(lambda: counter.calls >= 400 and counter.trades > 0)
            await settle(server, feeds, counter)
            await sink.drain()
            await assert_consumer_sees_live_books(redis_server.url, feeds)
            async with asyncio.timeout(HANG_GUARD), RedisBooks(redis_server.url) as reader:
                histories = {f.pair: await reader.history("luno", f.pair) for f in feeds}
                while len(followed) < counter.calls:
                    more.clear()
                    await more.wait()
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    stats = sink.stats
    assert stats.offered == stats.published == counter.calls
    assert stats.dropped == stats.duplicates == stats.errors == 0
    # Every update is an entry, numbered without a gap, trades included.
    for feed in feeds:
        ns = [b.n for b in histories[feed.pair]]
        assert ns == list(range(1, sink.entries("luno", feed.pair) + 1))
    assert sum(len(b.trades) for h in histories.values() for b in h) == counter.trades
    assert sorted((b.market, b.n) for b in followed) == sorted(
        (b.market, b.n) for h in histories.values() for b in h
    )


async def test_kill_and_restart_loses_nothing_after_it_returns(
    redis_server: RedisServer,
) -> None:
    counter = Counter()
    sink = RedisSink(
        redis_server.url, depth=DEPTH, timeout=0.5, backoff=Backoff(initial=0.01, maximum=0.1)
    )
    async with sink, live_feeds(sink, counter) as (server, feeds):
        await counter.until(lambda: counter.calls >= 200)
        redis_server.kill()
        at_kill = {f.pair: sink.entries("luno", f.pair) for f in feeds}
        calls_at_kill = counter.calls
        # The feed goes on while Redis is gone; the sink buffers and keeps trying.
        await counter.until(lambda: counter.calls >= calls_at_kill + 300 and sink.stats.errors > 0)
        buffered = sink.stats.pending
        await redis_server.start()  # same port, empty: what it held before died with it
        await counter.until(lambda: sink.stats.reconnects >= 1)
        await counter.until(lambda: counter.calls >= calls_at_kill + 600)
        await settle(server, feeds, counter)
        await sink.drain()
        await assert_consumer_sees_live_books(redis_server.url, feeds)
        async with RedisBooks(redis_server.url) as reader:
            histories = {f.pair: [b.n for b in await reader.history("luno", f.pair)] for f in feeds}
    assert buffered > 0 and sink.stats.dropped == 0
    for feed in feeds:
        ns = histories[feed.pair]
        last = sink.entries("luno", feed.pair)
        # From (at the latest) the first entry made after the kill to the last: all there,
        # in order, once.
        assert ns[0] <= at_kill[feed.pair] + 1
        assert ns == list(range(ns[0], last + 1))
    print(
        f"\nredis killed with {sum(at_kill.values())} entries made; {buffered} buffered while "
        f"down; after the restart {sum(len(h) for h in histories.values())} entries stored, "
        f"contiguous, none lost; {sink.stats.duplicates} resent entries refused as duplicates"
    )


async def test_paused_redis_does_not_slow_the_feed(redis_server: RedisServer) -> None:
    counter = Counter()
    sink = RedisSink(
        redis_server.url,
        depth=DEPTH,
        timeout=0.3,
        buffer=200,
        backoff=Backoff(initial=0.01, maximum=0.1),
    )
    async with sink, live_feeds(sink, counter, rate=400.0) as (server, feeds):
        await counter.until(lambda: counter.calls >= 100)
        await sink.drain()
        redis_server.pause()  # SIGSTOP: connections stay open, nothing answers
        try:
            before = {f.pair: f.book.sequence for f in feeds}
            calls, offered = counter.calls, sink.stats.offered
            await counter.until(lambda: counter.calls >= calls + 800)
            await settle(server, feeds, counter)  # still paused: every update arrived
            during = counter.calls - calls
            venue_updates = sum(f.book.sequence - before[f.pair] for f in feeds)
            sink_offers = sink.stats.offered - offered
            published_while_paused = sink.stats.published
            pending, dropped = sink.stats.pending, sink.stats.dropped
        finally:
            redis_server.resume()
        server.resume()
        await counter.until(lambda: sink.stats.reconnects >= 1 and counter.calls >= calls + 900)
        await settle(server, feeds, counter)
        await sink.drain()
        await assert_consumer_sees_live_books(redis_server.url, feeds)
    # Every venue update while Redis was paused reached the other hook, and the sink's hook.
    assert during == venue_updates == sink_offers >= 800
    # The sink held at most its buffer (and one batch in flight) and counted what it dropped.
    assert pending <= 200 + sink.batch and dropped >= during - 200 - sink.batch
    assert sink.stats.published > published_while_paused
    print(
        f"\nredis paused: {during} updates delivered to the other hooks meanwhile (the venue "
        f"sent {venue_updates}); sink buffered {pending}, dropped {dropped}"
    )

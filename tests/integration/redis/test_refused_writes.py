"""The Redis sink against a real redis-server that refuses writes for a while (out of memory, as
after ``CONFIG SET maxmemory`` or a read-only replica after a failover): the entries wait and are
sent in order once Redis accepts writes again; entries refused for good are counted as dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from sortedcontainers import SortedDict

from marketstreams import Backoff
from marketstreams.sinks.redis import RedisSink

from .conftest import HANG_GUARD, RedisServer


class Book:
    """The least a sink publishes: a price-level book."""

    venue = "luno"
    market = "XBTZAR"
    is_valid = True
    status = "ACTIVE"
    sequence = 1
    timestamp = 1
    received = 1.0

    def __init__(self) -> None:
        self.bids = SortedDict({1.0: 1.0})
        self.asks = SortedDict({2.0: 1.0})

    def top(self, side: str, n: int) -> list[Any]:
        return []


async def until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


def sink_for(redis_server: RedisServer) -> RedisSink:
    return RedisSink(redis_server.url, batch=10, backoff=Backoff(initial=0.01, maximum=0.05))


async def test_out_of_memory_redis_keeps_the_entries_and_sends_them_in_order(
    redis_server: RedisServer,
) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    sink = sink_for(redis_server)
    await sink.start()
    try:
        book = Book()
        for _ in range(5):
            sink(book, [])
        async with asyncio.timeout(HANG_GUARD):
            await sink.drain()
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", 1)  # every write now refused: OOM
        for _ in range(50):
            sink(book, [])
        await until(lambda: sink.stats.errors >= 2)  # refused, and retried
        assert sink.stats.dropped == 0
        assert sink.stats.pending == 50
        await client.config_set("maxmemory", 0)
        for _ in range(5):
            sink(book, [])
        async with asyncio.timeout(HANG_GUARD):
            await sink.drain()
        stored = await client.xrange(sink.stream("luno", "XBTZAR"))
        assert [int(values[b"n"]) for _, values in stored] == list(range(1, 61))
        assert sink.stats.dropped == 0
        assert sink.stats.published == 60
        assert sink.stats.reconnects >= 1
    finally:
        await sink.stop()
        await client.aclose()


async def test_entries_refused_for_good_are_counted_as_dropped(redis_server: RedisServer) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    sink = sink_for(redis_server)
    await sink.start()
    try:
        await client.set(sink.stream("luno", "XBTZAR"), "not a stream")  # XADD: WRONGTYPE
        book = Book()
        for _ in range(7):
            sink(book, [])
        async with asyncio.timeout(HANG_GUARD):
            await sink.drain()
        assert sink.stats.published == 0
        assert sink.stats.dropped == 7
        assert sink.stats.errors >= 1
    finally:
        await sink.stop()
        await client.aclose()

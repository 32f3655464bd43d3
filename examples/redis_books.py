"""Books from one process to others through Redis Streams.

    python examples/redis_books.py [REDIS_URL]

Publishes the books of two Luno pairs (from the built-in mock server) with ``RedisSink``, while a
``RedisBooks`` reader follows the streams, then prints the latest books as another process would
rebuild them. Without a URL it starts a throwaway ``redis-server`` on a free local port (if one is
installed; ``./dev setup`` installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
import tempfile
from collections.abc import AsyncIterator

from redis.exceptions import RedisError

from marketstreams import Updater
from marketstreams.sinks.redis import RedisBooks, RedisSink
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


@contextlib.asynccontextmanager
async def throwaway_redis() -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", folder]  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            "redis-server", *args, stdout=asyncio.subprocess.DEVNULL
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            async with RedisBooks(url) as probe, asyncio.timeout(10):
                while True:  # until it answers PING
                    try:
                        await probe.client.ping()
                        break
                    except (RedisError, OSError):
                        await asyncio.sleep(0.01)
            yield url
        finally:
            proc.kill()
            await proc.wait()


async def follow(url: str, seen: dict[str, int]) -> None:
    async with RedisBooks(url) as reader:
        async for book in reader.follow(since="0", block_ms=200, refresh=0.2):
            seen[book.market] = seen.get(book.market, 0) + 1


async def main(url: str) -> None:
    seen: dict[str, int] = {}
    follower = asyncio.create_task(follow(url, seen))
    async with LunoMockServer(pairs=("XBTZAR", "ETHZAR"), orders=300, rate=100) as server:
        feeds = [luno.Feed(pair, url=server.url) for pair in ("XBTZAR", "ETHZAR")]
        async with RedisSink(url, depth=5) as sink:
            task = asyncio.create_task(Updater(*feeds, hooks=[sink]).run())
            await asyncio.sleep(2)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        print(f"published: {sink.stats.as_dict()}")
    async with RedisBooks(url) as reader:
        for (venue, market), book in (await reader.latest()).items():
            print(f"{venue}:{market} entry {book.n} valid={book.valid} seq={book.sequence}")
            print("   best bid", book.bids[0], "best ask", book.asks[0])
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    print(f"a reader following the streams saw: {seen}")


async def run() -> None:
    if len(sys.argv) > 1:
        await main(sys.argv[1])
    elif shutil.which("redis-server") is None:
        print("redis-server is not installed: give a REDIS_URL (or run ./dev setup)")
    else:
        async with throwaway_redis() as url:
            await main(url)


if __name__ == "__main__":
    asyncio.run(run())

"""luno_streams' first README example, for marketstreams: print every update of one pair.

    python examples/luno_print_updates.py [WS_URL]

Without a URL it starts the built-in mock Luno server; with LUNO_API_KEY / LUNO_API_SECRET set and
URL wss://ws.luno.com it talks to Luno.
"""

from __future__ import annotations

import asyncio
import os
import sys

from marketstreams import Updater
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


def print_it(consolidated_order_book, trades):
    print(consolidated_order_book.depth(3), trades)


async def main(url: str | None, seconds: float = 5.0) -> None:
    key, secret = os.environ.get("LUNO_API_KEY"), os.environ.get("LUNO_API_SECRET")
    if url is None:
        async with LunoMockServer(pairs=("XBTZAR",)) as server:
            await run(luno.Feed("XBTZAR", url=server.url), seconds)
    else:
        await run(luno.Feed("XBTZAR", key, secret, url=url), seconds)


async def run(feed: luno.Feed, seconds: float) -> None:
    updater = Updater(feed, hooks=[print_it])
    try:
        await asyncio.wait_for(updater.run(), seconds)
    except TimeoutError:
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))

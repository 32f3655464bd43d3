"""luno_streams' "retrieving multiple pairs" example: one hook per pair, all pairs in one Updater.

python examples/luno_multiple_pairs.py
"""

from __future__ import annotations

import asyncio

from marketstreams import Updater
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer

seen = {"XBTZAR": 0, "ETHZAR": 0}


def xbt_hook(order_book, trades):
    seen["XBTZAR"] += 1


def eth_hook(order_book, trades):
    seen["ETHZAR"] += 1


hooks = {"XBTZAR": xbt_hook, "ETHZAR": eth_hook}


def route(order_book, trades):
    """luno_streams ran one Updater per pair; here one Updater routes by ``book.market``."""
    hooks[order_book.market](order_book, trades)


async def main() -> None:
    async with LunoMockServer(pairs=tuple(hooks)) as server:
        feeds = [luno.Feed(pair, url=server.url) for pair in hooks]
        try:
            await asyncio.wait_for(Updater(*feeds, hooks=[route]).run(), 5)
        except TimeoutError:
            pass
    print("updates per pair:", seen)


if __name__ == "__main__":
    asyncio.run(main())

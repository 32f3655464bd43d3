"""Pull updates with ``async for`` instead of hooks, and stop after the first 20 valid ones.

python examples/luno_async_for.py
"""

from __future__ import annotations

import asyncio

from marketstreams import Updater
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


async def main() -> None:
    async with LunoMockServer(pairs=("XBTZAR",)) as server:
        count = 0
        async for update in Updater(luno.Feed("XBTZAR", url=server.url)):
            if update.book.is_valid:
                count += 1
                print(update.book.sequence, update.book.best_bid(), update.book.best_ask())
            if count == 20:
                break


if __name__ == "__main__":
    asyncio.run(main())

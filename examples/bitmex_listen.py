"""bitmex-trio-websocket's README example on asyncio: print rows of a table as they come.

    python examples/bitmex_listen.py [WS_URL]

``listen()`` subscribes on first use and unsubscribes when the last listener leaves. Without a
URL it starts the built-in mock BitMEX server in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer


async def print_rows(url: str, rows_wanted: int = 15) -> None:
    async with bitmex.connect(url) as ws:
        async with contextlib.aclosing(ws.listen("instrument")) as rows:
            async for row in rows:
                print(f"instrument {row['symbol']}: last price {row.get('lastPrice')}")
                break
        async with contextlib.aclosing(ws.listen("trade", "XBTUSD")) as trades:
            count = 0
            async for row in trades:
                print(f"trade {row['symbol']} {row['side']} {row['size']} @ {row['price']}")
                count += 1
                if count == rows_wanted:
                    break
        # Every table received stays inspectable.
        print("tables kept:", sorted(ws.storage.tables))


async def main(url: str | None) -> None:
    if url is not None:
        await print_rows(url)
        return
    async with BitmexMockServer(["XBTUSD", "ETHUSD"], interval=0.02) as server:
        await print_rows(server.url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))

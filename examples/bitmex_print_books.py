"""Print the top of BitMEX books and every trade, through an Updater and a hook.

    python examples/bitmex_print_books.py [WS_URL]

Without a URL it starts the built-in mock BitMEX server in process; with
``wss://ws.bitmex.com/realtime`` (or the testnet URL) it talks to BitMEX (public data needs no
credentials).
"""

from __future__ import annotations

import asyncio
import sys

from marketstreams import OrderBook, Trade, Updater
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer

TOPICS = ["orderBookL2_25:XBTUSD", "trade:XBTUSD", "orderBookL2:ETHUSD"]


def show(book: OrderBook, trades: list[Trade]) -> None:
    if book.is_valid:
        print(f"{book.market:8} bid {book.best_bid()} ask {book.best_ask()} levels {len(book)}")
    else:
        print(f"{book.market:8} out of sync: {book.invalid_reason}")
    for trade in trades:
        print(f"{book.market:8} trade {trade.type} {trade.base} @ {trade.price}")


async def run(url: str, seconds: float) -> None:
    updater = Updater(bitmex.Feed(TOPICS, url=url), hooks=[show])
    try:
        await asyncio.wait_for(updater.run(), seconds)
    except TimeoutError:
        pass


async def main(url: str | None, seconds: float = 3.0) -> None:
    if url is not None:
        await run(url, seconds)
        return
    async with BitmexMockServer(["XBTUSD", "ETHUSD"], interval=0.1) as server:
        await run(server.url, seconds)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))

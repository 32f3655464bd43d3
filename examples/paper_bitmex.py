"""Paper trading on BitMEX: the same quoting strategy on XBTUSD's orderBookL2, live.

    python examples/paper_bitmex.py [WS_URL]

Without a URL it starts the built-in mock BitMEX server. An order's queue ahead is estimated
from the level size when placed, reduced by trades at its price and by size cuts
(docs/paper-trading.md).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from marketstreams import Updater
from marketstreams.simulation import Fees, PaperMarket, PaperTrading, Strategy
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer


class JoinTheBest(Strategy):
    """Keep one buy at the best bid and one sell at the best ask (100 contracts each)."""

    def on_market_book(self, market: PaperMarket, book: Any) -> None:
        bid, ask = book.best_bid(), book.best_ask()
        working = {o.side for o in market.orders if o.is_open}
        if bid and "buy" not in working:
            market.place_order("buy", bid[0], 100)
        if ask and "sell" not in working:
            market.place_order("sell", ask[0], 100)


async def main(url: str | None, seconds: float = 3.0) -> None:
    paper = PaperTrading(JoinTheBest(), fees={"bitmex": Fees(maker=0.0002, taker=0.00075)})
    topics = ["orderBookL2:XBTUSD", "trade:XBTUSD"]
    if url is None:
        async with BitmexMockServer(["XBTUSD"], interval=0.005) as server:
            await run(Updater(bitmex.Feed(topics, url=server.url), hooks=[paper]), seconds)
    else:
        await run(Updater(bitmex.Feed(topics, url=url), hooks=[paper]), seconds)
    result = paper.result()
    for order in result.crypto_orders[:10]:
        print(order)
    print(result.positions)
    print(f"paper_orders={paper.paper_orders} profit={paper.profit()}")


async def run(updater: Updater, seconds: float) -> None:
    try:
        await asyncio.wait_for(updater.run(), seconds)
    except TimeoutError:
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))

"""Paper trading on Luno: quote the best bid and ask of XBTZAR with paper orders, live.

    python examples/paper_luno.py [WS_URL]

Without a URL it starts the built-in mock Luno server. Orders wait behind the exact orders
resting at their price and fill only as trades take the queue ahead of them
(docs/paper-trading.md).
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from typing import Any

from marketstreams import Updater
from marketstreams.simulation import PaperMarket, PaperTrading, Strategy
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


class JoinTheBest(Strategy):
    """Keep one buy at the best bid and one sell at the best ask; move a buy left behind."""

    size = Decimal("0.05")

    def on_market_book(self, market: PaperMarket, book: Any) -> None:
        bid, ask = book.best_bid(), book.best_ask()
        working = {o.side: o for o in market.orders if o.is_open}
        if bid and "buy" not in working:
            market.place_order("buy", bid[0], self.size)
        elif bid and working["buy"].price < bid[0] - 200:
            market.replace_order(working["buy"], bid[0])
        if ask and "sell" not in working:
            market.place_order("sell", ask[0], self.size)


async def main(url: str | None, seconds: float = 3.0) -> None:
    paper = PaperTrading(JoinTheBest())
    key, secret = os.environ.get("LUNO_API_KEY"), os.environ.get("LUNO_API_SECRET")
    if url is None:
        async with LunoMockServer(pairs=("XBTZAR",), rate=200.0) as server:
            await run(Updater(luno.Feed("XBTZAR", url=server.url), hooks=[paper]), seconds)
    else:
        await run(Updater(luno.Feed("XBTZAR", key, secret, url=url), hooks=[paper]), seconds)
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

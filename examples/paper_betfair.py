"""Paper trading on Betfair: a backtest strategy run on the live stream (the mock by default).

    python examples/paper_betfair.py

The orders are matched by the same core as ``simulate`` (flumine's rules by default); while a
market's book is invalid (a reconnect) nothing is matched and the strategy is not called.
"""

from __future__ import annotations

import asyncio
from typing import Any

from marketstreams import Updater
from marketstreams.simulation import PaperTrading, SimulatedMarket, Strategy
from marketstreams.venues import betfair
from mock_servers.betfair import demo_server


class BackTheFavourite(Strategy):
    """Back the favourite at the best price offered, once per market, 2.00 stake."""

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if market.orders or not book.runners:
            return
        runners = [r for r in book.runners if r.available_to_back]
        if runners:
            favourite = min(runners, key=lambda r: r.available_to_back[0][0])
            price = favourite.available_to_back[0][0]
            market.place_order(favourite.selection_id, "BACK", price, 2.0)


async def main(seconds: float = 3.0) -> None:
    paper = PaperTrading(BackTheFavourite())
    async with demo_server(rate=200.0) as mock:
        feed = betfair.Feed(
            mock.app_key,
            mock.session,
            [betfair.MarketSubscription()],
            host=mock.host,
            port=mock.port,
            ssl_context=mock.ssl_context,
        )
        try:
            await asyncio.wait_for(Updater(feed, hooks=[paper]).run(), seconds)
        except TimeoutError:
            pass
    result = paper.result()
    for order in result.orders:
        print(order)
    print(f"paper_orders={paper.paper_orders} matched={result.betfair.matched_volume}")


if __name__ == "__main__":
    asyncio.run(main())

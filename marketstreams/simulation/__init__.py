"""Backtesting on replayed Betfair markets: strategies place simulated orders, matched as
flumine 3.3 matches them (or with the stricter ``matching="queue"``), settled with commission.

::

    from marketstreams.simulation import Strategy, simulate

    class BackFavourite(Strategy):
        def on_market_book(self, market, book):
            if market.orders or book.inplay:
                return
            fav = min((r for r in book.runners if r.status == "ACTIVE" and r.last_price_traded),
                      key=lambda r: r.last_price_traded, default=None)
            if fav is not None:
                market.place_order(fav.selection_id, "BACK", fav.last_price_traded, 5.0)

    result = simulate("data/", [BackFavourite()], market_filter={"market_types": ["WIN"],
                      "seconds_to_start": 60}, commission=0.07)
    print(result.summary()); result.to_csv("orders.csv"); result.report("report.html")

The core (:mod:`.core`) is sans-I/O: it reads books and returns orders, and its module
docstring writes the matching rules out.
"""

from __future__ import annotations

from .core import MarketSimulator, settle_profit
from .ladder import PRICES, is_valid_price, ticks_away
from .order import SimulatedOrder
from .result import CSV_COLUMNS, MarketResult, SimulationResult
from .run import simulate
from .strategy import SimulatedMarket, Strategy

__all__ = [
    "CSV_COLUMNS",
    "PRICES",
    "MarketResult",
    "MarketSimulator",
    "SimulatedMarket",
    "SimulatedOrder",
    "SimulationResult",
    "Strategy",
    "is_valid_price",
    "settle_profit",
    "simulate",
    "ticks_away",
]

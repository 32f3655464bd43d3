"""Backtesting on replayed Betfair markets: strategies place simulated orders, matched as
flumine 3.3 matches them (or with the stricter ``matching="queue"``), settled with commission.

``simulate(sources, [MyStrategy()], market_filter={"seconds_to_start": 60})`` returns a
:class:`SimulationResult` (orders, settled markets, ``summary()``, ``to_csv()``, ``report()``);
strategies subclass :class:`Strategy` and place orders through the :class:`SimulatedMarket`
they are handed. The matching rules are written out in :class:`MarketSimulator`'s docstring;
docs/simulation.md walks through the whole workflow.
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

"""Strategies the paper-trading tests run live and on recordings (importable by workers)."""

from __future__ import annotations

from typing import Any

from marketstreams.simulation import PaperMarket, SimulatedMarket, Strategy


class Quote(Strategy):
    """Crypto: keep one buy at the best bid and one sell at the best ask, ``max_orders`` in all."""

    def __init__(self, size: Any = 100, max_orders: int = 40) -> None:
        super().__init__()
        self.size = size
        self.max_orders = max_orders

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        if len(market.orders) >= self.max_orders:
            return
        working = {o.side for o in market.orders if o.is_open}
        bid, ask = book.best_bid(), book.best_ask()
        if "buy" not in working and bid is not None:
            market.place_order("buy", bid[0], self.size)
        if "sell" not in working and ask is not None:
            market.place_order("sell", ask[0], self.size)


class BackAndLay(Strategy):
    """Betfair: every 20th book of a market, back the first runner at its best lay price
    (crossing) and lay it one tick above its best back (resting), 10 orders a market at most."""

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        n = market.context["n"] = market.context.get("n", 0) + 1
        if n % 20 or len(market.orders) >= 10 or not book.runners:
            return
        runner = book.runners[0]
        lay = runner.available_to_lay
        back = runner.available_to_back
        if lay:
            market.place_order(runner.selection_id, "BACK", lay[0][0], 2.0)
        if back:
            market.place_order(runner.selection_id, "LAY", back[0][0], 2.0)

"""The demo's paper strategies: one per venue, on the mock venues (``marketstreams demo``)."""

from __future__ import annotations

from typing import Any

from .strategy import Strategy

__all__ = ["DemoPaper", "demo_strategies"]


class DemoPaper(Strategy):
    """On its venue only: crypto books get a buy at the best bid and a sell at the best ask
    (``size``, at most ``max_orders``); Betfair markets a 2.00 back of the favourite, once."""

    def __init__(self, venue: str, size: Any = 1, max_orders: int = 50) -> None:
        super().__init__(f"paper-{venue}")
        self.venue = venue
        self.size = size
        self.max_orders = max_orders

    def on_market_book(self, market: Any, book: Any) -> None:
        if book.venue != self.venue or len(market.orders) >= self.max_orders:
            return
        if self.venue == "betfair":
            if market.orders or not book.runners:
                return
            offered = [r for r in book.runners if r.available_to_back]
            if offered:
                fav = min(offered, key=lambda r: r.available_to_back[0][0])
                market.place_order(fav.selection_id, "BACK", fav.available_to_back[0][0], 2.0)
            return
        working = {o.side for o in market.orders if o.is_open}
        bid, ask = book.best_bid(), book.best_ask()
        if bid is not None and "buy" not in working:
            market.place_order("buy", bid[0], self.size)
        if ask is not None and "sell" not in working:
            market.place_order("sell", ask[0], self.size)


def demo_strategies(venues: list[str]) -> list[Strategy]:
    """One :class:`DemoPaper` per venue (sizes that suit the mocks)."""
    sizes = {"luno": "0.01", "bitmex": 100}
    out: list[Strategy] = []
    for venue in venues:
        size: Any = sizes.get(venue, 1)
        out.append(DemoPaper(venue, size))
    return out

"""Strategies the simulation's integration tests (and their command lines) run."""

from __future__ import annotations

from typing import Any

from marketstreams.simulation import SimulatedMarket, SimulatedOrder, Strategy
from marketstreams.venues.betfair.models import MarketBook


def _favourite(book: MarketBook) -> Any:
    priced = [r for r in book.runners if r.status == "ACTIVE" and r.last_price_traded]
    return min(priced, key=lambda r: (r.last_price_traded, r.selection_id), default=None)


class BackFavourite(Strategy):
    """The tutorial's: back the favourite at its last traded price, once, in the last 60 s."""

    seconds = 60.0
    side = "BACK"

    def __init__(self, name: str | None = None, stake: float = 5.0) -> None:
        super().__init__(
            name,
            max_order_exposure=1000,
            max_selection_exposure=1000,
            max_trade_count=1,
            max_live_trade_count=1,
        )
        self.stake = stake
        self.updates: list[str] = []

    def on_market_book(self, market: SimulatedMarket, book: MarketBook) -> None:
        if market.orders or book.inplay or book.status != "OPEN":
            return
        secs = market.seconds_to_start
        if secs is None or secs >= self.seconds:
            return
        fav = _favourite(book)
        if fav is not None:
            order = market.place_order(
                fav.selection_id, self.side, fav.last_price_traded, self.stake
            )
            order.notes["seconds_to_start"] = round(secs, 1)

    def on_order_update(self, market: SimulatedMarket, order: SimulatedOrder) -> None:
        self.updates.append(order.status)

    def result(self) -> Any:
        return len(self.updates)  # (numbers are summed across files)


class LayFavourite30(BackFavourite):
    """Lay the favourite at its last traded price in the last 30 s."""

    seconds = 30.0
    side = "LAY"


class Raises(Strategy):
    """Raises on every book it sees."""

    def on_market_book(self, market: SimulatedMarket, book: MarketBook) -> None:
        raise RuntimeError("a strategy bug")


class BackFirstRunner(Strategy):
    """Backs runner 1 at the best price offered, 30 s before the off (the tiny file's test)."""

    def on_market_book(self, market: SimulatedMarket, book: MarketBook) -> None:
        secs = market.seconds_to_start
        if market.orders or secs is None or secs > 30:
            return
        best = book.runner(1).available_to_back
        if best:
            market.place_order(1, "BACK", best[0][0], 10.0)
        market.place_order(1, "BACK", 3.33, 10.0)  # off the ladder: refused

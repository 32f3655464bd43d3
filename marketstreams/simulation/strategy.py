"""What strategies subclass (:class:`Strategy`) and are handed (:class:`SimulatedMarket`)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .order import LIMIT, SimulatedOrder

if TYPE_CHECKING:
    from ..venues.betfair.models import MarketBook
    from .core import MarketSimulator

__all__ = ["SimulatedMarket", "Strategy"]


class Strategy:
    """Subclass and override :meth:`on_market_book`; the others are optional.

    ``name`` defaults to the class name (set it to run two variants of one class in one pass).
    Controls, with flumine's names and meaning (None: no limit): ``max_order_exposure`` (a
    back's stake, a lay's liability, an SP order's liability), ``max_selection_exposure`` (the
    worst loss on one runner with the new order), ``max_trade_count`` (orders a runner may get
    in a market), ``max_live_trade_count`` (of them at once still live). A strategy object is
    copied for each file (like replay hook objects): keep state on it freely, return what you
    want kept from :meth:`result`.
    """

    max_order_exposure: float | None = None
    max_selection_exposure: float | None = None
    max_trade_count: int | None = None
    max_live_trade_count: int | None = None

    def __init__(
        self,
        name: str | None = None,
        *,
        max_order_exposure: float | None = None,
        max_selection_exposure: float | None = None,
        max_trade_count: int | None = None,
        max_live_trade_count: int | None = None,
    ) -> None:
        if name is not None:
            self.name = name
        self.max_order_exposure = max_order_exposure
        self.max_selection_exposure = max_selection_exposure
        self.max_trade_count = max_trade_count
        self.max_live_trade_count = max_live_trade_count

    @property
    def name(self) -> str:
        """The strategy's name in orders and results (default: the class name)."""
        return self.__dict__.get("_name") or type(self).__name__

    @name.setter
    def name(self, value: str) -> None:
        self.__dict__["_name"] = str(value)

    def on_start(self) -> None:
        """Called once per file, before its first book."""

    # ``market`` and ``book`` are typed Any so that a subclass names the venue's own: on
    # Betfair a SimulatedMarket and a betfair MarketBook, on Luno and BitMEX a PaperMarket and
    # the venue's book (docs/paper-trading.md, one strategy file per venue).

    def on_market_book(self, market: Any, book: Any) -> None:
        """Called on every update of a market inside the filter's window."""

    def on_market_closed(self, market: Any, book: Any) -> None:
        """Called once when the market closes, after its orders are settled."""

    def on_order_update(self, market: Any, order: Any) -> None:
        """Called when one of this strategy's orders changed (executed, matched, lapsed,
        cancelled, voided, settled), after the book that changed it."""

    def result(self) -> Any:
        """What to keep of this file (merged across files like replay hook results)."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SimulatedMarket:
    """One market as one strategy sees it: the book, its own orders, and the order calls.

    ``context`` is a dict the strategy may use for its own per-market state."""

    __slots__ = ("_limits", "_sim", "book", "context", "market_id", "orders")

    def __init__(self, sim: MarketSimulator, limits: Strategy, book: MarketBook) -> None:
        self._sim = sim
        self._limits = limits
        self.market_id: str = sim.market_id
        self.book = book
        self.orders: list[SimulatedOrder] = []
        self.context: dict[str, Any] = {}

    @property
    def seconds_to_start(self) -> float | None:
        """Seconds from the book's publish time to the market's scheduled start (negative
        after it); None without a marketTime."""
        book = self.book
        md = book.market_definition
        now = book.publish_time
        if not md or now is None:
            return None
        start = md.get("_marketstreams_start_ms")
        if start is None:
            value = md.get("marketTime")
            if not value:
                return None
            try:
                start = datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
            start = md["_marketstreams_start_ms"] = int(start * 1000)
        return (start - now) / 1000.0

    @property
    def market_type(self) -> str | None:
        md = self.book.market_definition
        return md.get("marketType") if md else None

    def place_order(
        self,
        selection_id: int,
        side: str,
        price: float,
        size: float,
        handicap: float = 0.0,
        persistence: str = "LAPSE",
        order_type: str = LIMIT,
    ) -> SimulatedOrder:
        """Place an order: PENDING on its way to the exchange, or VIOLATION with the reason in
        ``order.violation`` (off the tick ladder, below the minimum, unknown or removed runner,
        market not open, a control exceeded). For LIMIT_ON_CLOSE / MARKET_ON_CLOSE ``size`` is
        the liability; MARKET_ON_CLOSE ignores ``price``. Never raises."""
        if isinstance(price, float) and math.isnan(price):
            price = 0.0
        order = self._sim.place(
            self._limits,
            self.book,
            selection_id,
            side,
            price,
            size,
            handicap,
            persistence,
            order_type,
        )
        self.orders.append(order)
        return order

    def cancel_order(self, order: SimulatedOrder, size_reduction: float | None = None) -> bool:
        """Cancel ``size_reduction`` (default: all that is unmatched) of an EXECUTABLE order;
        False when it cannot be cancelled (not yet on the exchange, complete, SP)."""
        return self._sim.cancel(order, self.book, size_reduction)

    def replace_order(self, order: SimulatedOrder, new_price: float) -> SimulatedOrder:
        """Move the unmatched part of an EXECUTABLE LIMIT order to ``new_price``: returns the
        new order (VIOLATION with the reason when refused)."""
        new = self._sim.replace(self._limits, order, self.book, new_price)
        self.orders.append(new)
        return new

    def __repr__(self) -> str:
        return f"<SimulatedMarket {self.market_id} orders={len(self.orders)}>"

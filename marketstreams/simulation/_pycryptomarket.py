"""Crypto markets in a simulation or a paper session: a :class:`CryptoMatcher` per market and
the view each strategy gets (:class:`PaperMarket`, the crypto words of Betfair's
:class:`~marketstreams.simulation.SimulatedMarket`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from itertools import count
from typing import TYPE_CHECKING, Any

# through the selector: the compiled matcher when it is built (crypto.py)
from .crypto import LIMIT, CryptoMatcher, CryptoOrder, Fees, Position

if TYPE_CHECKING:
    from .strategy import Strategy

__all__ = ["CryptoPaper", "PaperMarket"]

logger = logging.getLogger("marketstreams.simulation.paper")


class PaperMarket:
    """One crypto market as one strategy sees it: the book, its own orders, the order calls
    (the same names as Betfair's :class:`~marketstreams.simulation.SimulatedMarket`, with the
    crypto words: sides "buy" / "sell"), its position and profit. ``context`` is a dict for the
    strategy's own per-market state."""

    __slots__ = (
        "_matcher",
        "_name",
        "best_prices",
        "book",
        "context",
        "market_id",
        "orders",
        "venue",
    )

    def __init__(self, matcher: CryptoMatcher, strategy: str, book: Any) -> None:
        self._matcher = matcher
        self._name = strategy
        self.venue: str = matcher.venue
        self.market_id: str = matcher.market
        self.book = book
        #: ``best_prices()``: ``(best bid price, best ask price)``, None for an empty side. It
        #: is the book's own cheap top read (:meth:`OrderBook.best_prices
        #: <marketstreams.OrderBook.best_prices>`), bound to the book: no call of the view first
        self.best_prices: Callable[[], tuple[Any, Any]] = book.best_prices
        self.orders: list[CryptoOrder] = []
        self.context: dict[str, Any] = {}

    def place_order(self, side: str, price: Any, size: Any, order_type: str = LIMIT) -> CryptoOrder:
        """A limit (or, with ``order_type="market"``, a market: ``price`` ignored) order of
        ``size`` (base currency, or contracts on BitMEX). Never raises: a refused order comes
        back with ``status == "rejected"`` and the reason in ``order.reason``."""
        order = self._matcher.place(self._name, self.book, side, size, price, order_type)
        self.orders.append(order)
        return order

    def cancel_order(self, order: CryptoOrder) -> bool:
        """Cancel what is left of an open order; False when it is not open."""
        return self._matcher.cancel(order)

    def replace_order(self, order: CryptoOrder, new_price: Any) -> CryptoOrder:
        """Move the unfilled part of an open order to ``new_price`` (the back of that queue)."""
        new = self._matcher.replace(order, self.book, new_price)
        self.orders.append(new)
        return new

    def best_bid_price(self) -> Any:
        """The best bid's price, None on an empty side."""
        return self.book.best_prices()[0]

    def best_ask_price(self) -> Any:
        """The best ask's price, None on an empty side."""
        return self.book.best_prices()[1]

    @property
    def position(self) -> Position:
        return self._matcher.position(self._name)

    @property
    def profit(self) -> Any:
        """Net profit in the quote currency: realised plus unrealised at the mid, less fees."""
        return self.position.net(self._matcher.mark(self.book))

    def __repr__(self) -> str:
        return f"<PaperMarket {self.venue} {self.market_id} orders={len(self.orders)}>"


class CryptoPaper:
    """The crypto half of paper trading and of :func:`simulate` on recordings: a
    :class:`CryptoMatcher` per ``(venue, market)``, the strategies called on each valid book."""

    def __init__(self, strategies: list[Strategy], fees: Mapping[str, Fees] | None = None) -> None:
        self.strategies = strategies
        self.fees = dict(fees or {})
        self.matchers: dict[tuple[str, str], CryptoMatcher] = {}
        self.views: dict[tuple[str, str], list[PaperMarket]] = {}
        self._handlers: dict[tuple[str, str], _CryptoMarket] = {}
        self.errors = 0
        self.invalid = 0  # updates of an invalid book: not matched, no strategy called
        self.waiting = 0  # those of them in a market with orders
        self._seq = count(1)  # order ids P1, P2... shared by every market of the session

    def _fail(self, strategy: Strategy, what: str, market: str) -> None:
        self.errors += 1
        n = self.errors
        if n == 1:
            logger.exception("strategy %s raised in %s on %s", strategy.name, what, market)
        elif n & (n - 1) == 0:
            logger.error("paper strategies have raised %d times (first logged above)", n)

    def market(self, book: Any) -> _CryptoMarket:
        """The handler of ``book``'s market (made on first use)."""
        key = (book.venue, book.market)
        handler = self._handlers.get(key)
        if handler is None:
            matcher = self.matchers[key] = CryptoMatcher(
                book.venue, book.market, self.fees.get(book.venue), ids=self._seq
            )
            self.views[key] = [PaperMarket(matcher, s.name, book) for s in self.strategies]
            handler = self._handlers[key] = _CryptoMarket(self, matcher, self.views[key])
        return handler

    def __call__(self, book: Any, trades: Any) -> None:
        self.market(book).update(book, trades)

    def orders(self) -> list[CryptoOrder]:
        """Every crypto order, in placement order."""
        out = [o for m in self.matchers.values() for o in m.orders]
        out.sort(key=lambda o: int(o.order_id[1:]))
        return out

    def positions(self) -> list[dict[str, Any]]:
        """A row per strategy and market that has orders: position, fees and profit at the
        last mid."""
        rows = []
        for (venue, market), matcher in self.matchers.items():
            views = self.views[(venue, market)]
            mark = matcher.mark(views[0].book) if views else matcher.last_price
            for name, pos in matcher.positions.items():
                row: dict[str, Any] = {"strategy": name, "venue": venue, "market": market}
                row.update(pos.as_dict(mark))
                rows.append(row)
        return rows


class _CryptoMarket:
    """One crypto market of a :class:`CryptoPaper`: its matcher, the strategies' views, and the
    per-update call :meth:`update` (the simulation hook calls it directly, as a bound method:
    one call per update)."""

    __slots__ = ("calls", "matcher", "owner", "views")

    def __init__(self, owner: CryptoPaper, matcher: CryptoMatcher, views: list[PaperMarket]):
        self.owner = owner
        self.matcher = matcher
        self.views = views
        self.calls: list[tuple[Strategy, PaperMarket, Any]] = [
            (s, v, s.on_market_book) for s, v in zip(owner.strategies, views, strict=True)
        ]

    def update(self, book: Any, trades: Any) -> None:
        """One update of this market's book: matched (when valid), then the strategies."""
        matcher = self.matcher
        if not book.is_valid:
            owner = self.owner
            owner.invalid += 1
            if matcher.orders:
                owner.waiting += 1
            matcher.update(book, trades)
            return
        # matching work only when it can change something: trades, or open orders whose queue
        # follows the level sizes (BitMEX); Luno's exact queues and an empty order list need
        # nothing on a book-only update
        if trades:
            changed = matcher.update(book, trades)
            if changed:
                for order in changed:
                    self._order_update(book, order)
        elif matcher.follows_levels:
            matcher.follow_levels(book)
        for strategy, view, call in self.calls:
            if view.book is not book:  # another book object (a copy): the view follows it
                view.book = book
                view.best_prices = book.best_prices
            try:
                call(view, book)
            except Exception:
                self.owner._fail(strategy, "on_market_book", book.market)

    def _order_update(self, book: Any, order: CryptoOrder) -> None:
        for strategy, view, _ in self.calls:
            if order.strategy == strategy.name:
                if view.book is not book:
                    view.book = book
                    view.best_prices = book.best_prices
                try:
                    strategy.on_order_update(view, order)
                except Exception:
                    self.owner._fail(strategy, "on_order_update", book.market)

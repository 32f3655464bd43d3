"""Paper trading: the backtest's :class:`Strategy` classes on live feeds (or any replay), their
orders matched by the same cores as :func:`simulate`: ``Updater(feeds,
hooks=[PaperTrading(MyStrategy())])``. Betfair markets go through
:class:`~marketstreams.simulation.core.MarketSimulator`, crypto books (Luno, BitMEX) through
:class:`~marketstreams.simulation.crypto.CryptoMatcher`. A book that is invalid is never matched
against and no strategy is called on it: orders on that market wait until it is valid again.
docs/paper-trading.md shows one strategy per venue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from .crypto import LIMIT, CryptoMatcher, CryptoOrder, Fees, Position
from .order import SimulatedOrder
from .result import MarketResult, SimulationResult
from .run import _SimulationHook, _strategy_list
from .strategy import Strategy

__all__ = ["CryptoPaper", "PaperMarket", "PaperResult", "PaperTrading"]

logger = logging.getLogger("marketstreams.simulation.paper")


class PaperMarket:
    """One crypto market as one strategy sees it: the book, its own orders, the order calls
    (the same names as Betfair's :class:`~marketstreams.simulation.SimulatedMarket`, with the
    crypto words: sides "buy" / "sell"), its position and profit. ``context`` is a dict for the
    strategy's own per-market state."""

    __slots__ = ("_matcher", "_name", "book", "context", "market_id", "orders", "venue")

    def __init__(self, matcher: CryptoMatcher, strategy: str, book: Any) -> None:
        self._matcher = matcher
        self._name = strategy
        self.venue: str = matcher.venue
        self.market_id: str = matcher.market
        self.book = book
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
        self.errors = 0
        self.waiting = 0  # updates of an invalid book in a market with orders: not matched
        self._seq = _Counter()

    def _fail(self, strategy: Strategy, what: str, market: str) -> None:
        self.errors += 1
        n = self.errors
        if n == 1:
            logger.exception("strategy %s raised in %s on %s", strategy.name, what, market)
        elif n & (n - 1) == 0:
            logger.error("paper strategies have raised %d times (first logged above)", n)

    def __call__(self, book: Any, trades: Any) -> None:
        key = (book.venue, book.market)
        matcher = self.matchers.get(key)
        if matcher is None:
            matcher = self.matchers[key] = CryptoMatcher(
                book.venue, book.market, self.fees.get(book.venue), ids=self._seq
            )
            self.views[key] = [PaperMarket(matcher, s.name, book) for s in self.strategies]
        views = self.views[key]
        if not book.is_valid:
            if matcher.orders:
                self.waiting += 1
            matcher.update(book, trades)
            return
        changed = matcher.update(book, trades) if (matcher.open or trades) else ()
        for order in changed:
            for strategy, view in zip(self.strategies, views, strict=True):
                if order.strategy == strategy.name:
                    view.book = book
                    try:
                        strategy.on_order_update(view, order)  # type: ignore[arg-type]
                    except Exception:
                        self._fail(strategy, "on_order_update", book.market)
        for strategy, view in zip(self.strategies, views, strict=True):
            view.book = book
            try:
                strategy.on_market_book(view, book)  # type: ignore[arg-type]
            except Exception:
                self._fail(strategy, "on_market_book", book.market)

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


class _Counter:
    """Order ids P1, P2... shared by every market of one paper session."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> int:
        self.n += 1
        return self.n


@dataclass
class PaperResult:
    """What a paper-trading session gave: Betfair orders and settled markets (as in
    :class:`SimulationResult`), crypto orders and positions, and the counts."""

    betfair: SimulationResult
    crypto_orders: list[CryptoOrder] = field(default_factory=list)
    positions: list[dict[str, Any]] = field(default_factory=list)
    strategy_errors: int = 0
    waiting: int = 0

    @property
    def orders(self) -> list[SimulatedOrder | CryptoOrder]:
        """Every order: Betfair's (placement order), then the crypto ones (placement order)."""
        return [*self.betfair.orders, *self.crypto_orders]

    @property
    def markets(self) -> list[MarketResult]:
        return self.betfair.markets

    def summary(self) -> dict[str, Any]:
        """Orders in all; Betfair's summary; crypto orders, fills, filled volume and net profit
        per strategy (quote currency, at the last mid)."""
        crypto: dict[str, dict[str, Any]] = {}
        for o in self.crypto_orders:
            s = crypto.setdefault(o.strategy, {"orders": 0, "fills": 0, "filled": 0.0})
            s["orders"] += 1
            s["fills"] += len(o.fills)
            s["filled"] += float(o.filled)
        for row in self.positions:
            s = crypto.setdefault(row["strategy"], {"orders": 0, "fills": 0, "filled": 0.0})
            s.setdefault("net_profit", {})[f"{row['venue']}:{row['market']}"] = row["net"]
        return {
            "orders": len(self.betfair.orders) + len(self.crypto_orders),
            "betfair": self.betfair.summary(),
            "crypto": crypto,
            "strategy_errors": self.strategy_errors,
            "waiting_updates": self.waiting,
        }

    def report(self, path: str | Path) -> None:
        """One self-contained HTML file: the Betfair report (when there are Betfair orders)
        with the crypto orders and positions as tables."""
        path = Path(path)
        if self.betfair.orders:
            self.betfair.report(path, title="Paper trading report")
            html = path.read_text(encoding="utf-8")
        else:
            html = (
                "<!doctype html><html><head><meta charset='utf-8'>"
                "<title>Paper trading report</title></head><body><h1>Paper trading report</h1>"
                "</body></html>"
            )
        tables = _table(
            "Crypto positions",
            [
                "strategy",
                "venue",
                "market",
                "quantity",
                "average_entry",
                "realised",
                "unrealised",
                "fees",
                "net",
            ],
            self.positions,
        ) + _table(
            "Crypto orders",
            [
                "order_id",
                "strategy",
                "venue",
                "market",
                "side",
                "order_type",
                "price",
                "size",
                "filled",
                "average_price",
                "fees",
                "status",
                "reason",
            ],
            [o.as_dict() for o in self.crypto_orders],
        )
        path.write_text(html.replace("</body>", tables + "</body>", 1), encoding="utf-8")


def _table(title: str, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


class PaperTrading:
    """A hook that runs strategies on live books: ``Updater(feeds, hooks=[PaperTrading(
    MyStrategy())])``. Betfair books are matched as :func:`simulate` matches them (``commission``
    and ``matching`` as there); Luno and BitMEX books by :class:`CryptoMatcher` (``fees`` per
    venue, default :data:`~marketstreams.simulation.crypto.DEFAULT_FEES`). A book that is
    invalid (reconnecting, after a gap) is not matched and no strategy sees it; its orders wait
    (counted in ``waiting``). Use it as a plain (sync) hook so that it sees every update.
    ``result()`` gives a :class:`PaperResult`."""

    def __init__(
        self,
        *strategies: Strategy | Iterable[Strategy],
        fees: Mapping[str, Fees] | None = None,
        commission: float | None = None,
        matching: str = "flumine",
    ) -> None:
        items: list[Strategy] = []
        for s in strategies:
            items.extend(_strategy_list(s))
        self.strategies = items
        self._betfair = _SimulationHook(items, None, commission, matching)
        self.crypto = CryptoPaper(items, fees)
        self.betfair_waiting = 0
        self.__qualname__ = "paper"

    def __call__(self, book: Any, trades: Any) -> None:
        if not self._betfair.started:
            self._betfair._start()  # on_start once, before the first book of any venue
        if book.venue == "betfair":
            if not book.is_valid:
                self.betfair_waiting += 1
                return
            self._betfair(book, trades)
        else:
            self.crypto(book, trades)

    @property
    def paper_orders(self) -> int:
        """Orders placed so far, every venue."""
        sims = self._betfair.markets.values()
        return sum(len(m.sim.orders) for m in sims) + sum(
            len(m.orders) for m in self.crypto.matchers.values()
        )

    def result(self) -> PaperResult:
        """The session's result: call it once the feeds have stopped (Betfair markets not yet
        closed are finished there: their orders stay unsettled)."""
        payload = self._betfair.result()
        betfair = SimulationResult(
            orders=payload["orders"],
            markets=payload["markets"],
            files=[],
            errors=[],
            results=payload["results"],
            strategy_errors=payload["errors"],
            strategies=[s.name for s in self.strategies],
        )
        return PaperResult(
            betfair=betfair,
            crypto_orders=self.crypto.orders(),
            positions=self.crypto.positions(),
            strategy_errors=payload["errors"] + self.crypto.errors,
            waiting=self.betfair_waiting + self.crypto.waiting,
        )

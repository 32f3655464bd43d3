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

from .crypto import CryptoOrder, Fees
from .order import SimulatedOrder
from .result import MarketResult, SimulationResult
from .run import _SimulationHook, _strategy_list
from .strategy import Strategy

__all__ = ["PaperResult", "PaperTrading"]

logger = logging.getLogger("marketstreams.simulation.paper")


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


def _order_view(strategy: str, side: str, price: Any, size: Any, filled: Any) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "side": side,
        "price": float(price),
        "size": float(size),
        "filled": float(filled),
    }


def _table(title: str, columns: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<h2>{escape(title)}</h2><table><tr>{head}</tr>{body}</table>"


class PaperTrading(_SimulationHook):
    """A hook that runs strategies on live books: ``Updater(feeds, hooks=[PaperTrading(
    MyStrategy())])``. It is :func:`simulate`'s own hook: Betfair books are matched as
    ``simulate`` matches them (``commission`` and ``matching`` as there), Luno and BitMEX books
    by :class:`~marketstreams.simulation.crypto.CryptoMatcher` (``fees`` per venue, default
    :data:`~marketstreams.simulation.crypto.DEFAULT_FEES`). A book that is invalid
    (reconnecting, after a gap) is not matched and no strategy sees it; its orders wait
    (counted in ``waiting``) until the book is valid again. Use it as a plain (sync) hook so
    that it sees every update. ``result()`` gives a :class:`PaperResult`."""

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
        # simulate's own hook, called directly by the Updater (no wrapper call per update)
        super().__init__(items, None, commission, matching, fees)
        self.__qualname__ = "paper"

    @property
    def waiting(self) -> int:
        """Updates of an invalid book that were not matched (none of them reached a
        strategy)."""
        return self.invalid

    @property
    def paper_orders(self) -> int:
        """Orders placed so far, every venue."""
        crypto = self.crypto
        return sum(len(m.sim.orders) for m in self.markets.values()) + (
            sum(len(m.orders) for m in crypto.matchers.values()) if crypto else 0
        )

    def profit(self) -> dict[str, float]:
        """Running net profit per strategy: settled Betfair markets plus crypto positions at
        the last mid (quote currency), for displays."""
        out = {s.name: 0.0 for s in self.strategies}
        for m in self.results:
            out[m.strategy] = out.get(m.strategy, 0.0) + m.net_profit
        crypto = self.crypto
        for row in crypto.positions() if crypto else ():
            out[row["strategy"]] = out.get(row["strategy"], 0.0) + float(row["net"])
        return out

    def overlay(self, venue: str, market: str) -> dict[str, Any] | None:
        """What a display shows beside one book: the working paper orders (``strategy``,
        ``side``, ``price``, ``size``, ``filled``, plus ``selection_id`` on Betfair), the latest
        fills, and each strategy's running net profit. ``Proxy.hub.overlay = paper.overlay``
        puts it in the proxy's book messages (``"paper"``), which the viewer draws."""
        orders: list[dict[str, Any]] = []
        fills: list[dict[str, Any]] = []
        crypto = self.crypto
        if venue != "betfair":
            matcher = crypto.matchers.get((venue, market)) if crypto else None
            if matcher is None:
                return None
            for o in matcher.open:
                orders.append(_order_view(o.strategy, o.side, o.price, o.size, o.filled))
            for o in matcher.orders[-20:]:
                for f in o.fills[-5:]:
                    fills.append(
                        {
                            "strategy": o.strategy,
                            "side": o.side,
                            "price": float(f.price),
                            "size": float(f.size),
                            "ts": f.at,
                        }
                    )
        else:
            m = self.markets.get(market)
            if m is None:
                return None
            for so in m.sim.orders:
                if so.status in ("PENDING", "EXECUTABLE"):
                    view = _order_view(so.strategy, so.side, so.price, so.size, so.size_matched)
                    view["selection_id"] = so.selection_id
                    orders.append(view)
        return {"orders": orders, "fills": fills[-20:], "profit": self.profit()}

    def result(self) -> PaperResult:  # type: ignore[override]  # the session's, not a file's
        """The session's result: call it once the feeds have stopped (Betfair markets not yet
        closed are finished there: their orders stay unsettled)."""
        payload = super().result()
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
            crypto_orders=payload["crypto_orders"],
            positions=payload["positions"],
            strategy_errors=payload["errors"],
            waiting=self.waiting,
        )

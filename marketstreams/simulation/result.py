"""What a simulation gives back: orders, settled markets, summaries, CSV, DataFrame, report."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .order import MARKET_ON_CLOSE, VIOLATION, SimulatedOrder

if TYPE_CHECKING:
    from ..exceptions import ReplayError
    from ..replay import FileResult

__all__ = ["CSV_COLUMNS", "MarketResult", "SimulationResult"]

# The columns of the flumine tutorial's BacktestLoggingControl CSV, in its order.
CSV_COLUMNS = (
    "bet_id",
    "strategy_name",
    "market_id",
    "selection_id",
    "trade_id",
    "date_time_placed",
    "price",
    "price_matched",
    "size",
    "size_matched",
    "profit",
    "side",
    "elapsed_seconds_executable",
    "order_status",
    "market_note",
    "trade_notes",
    "order_notes",
)


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000.0, UTC).isoformat()


@dataclass(slots=True)
class MarketResult:
    """One strategy in one settled market: profit before and after commission.

    Commission is charged as Betfair charges it: on the strategy's *net* winnings in the market
    (``max(gross_profit, 0) x rate``), nothing on a net loss."""

    strategy: str
    market_id: str
    gross_profit: float
    commission: float
    net_profit: float
    rate: float
    orders: int = 0
    matched: float = 0.0
    settled_at: int | None = None  # publish time (ms) of the closing book
    market_time: str | None = None
    market_type: str | None = None
    event_name: str | None = None

    @classmethod
    def of(
        cls,
        strategy: str,
        book: Any,
        orders: list[SimulatedOrder],
        rate: float,
        settled_at: int | None,
    ) -> MarketResult:
        gross = round(sum(o.profit or 0.0 for o in orders), 2)
        commission = round(max(gross * rate, 0.0), 2)
        md = book.market_definition or {}
        return cls(
            strategy,
            book.market_id,
            gross,
            commission,
            round(gross - commission, 2),
            rate,
            orders=sum(1 for o in orders if o.status != VIOLATION),
            matched=round(sum(o.size_matched for o in orders), 2),
            settled_at=settled_at,
            market_time=md.get("marketTime"),
            market_type=md.get("marketType"),
            event_name=md.get("eventName"),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "market_id": self.market_id,
            "market_type": self.market_type,
            "event_name": self.event_name,
            "market_time": self.market_time,
            "settled_at": _iso(self.settled_at),
            "orders": self.orders,
            "matched": self.matched,
            "gross_profit": self.gross_profit,
            "commission": self.commission,
            "net_profit": self.net_profit,
            "rate": self.rate,
        }


def _stats(orders: list[SimulatedOrder], markets: list[MarketResult]) -> dict[str, Any]:
    placed = [o for o in orders if o.status != VIOLATION]
    matched = [o for o in placed if o.size_matched > 0]
    settled = [o for o in matched if o.profit is not None]
    won = sum(1 for o in settled if (o.profit or 0.0) > 0)
    gross = round(sum(m.gross_profit for m in markets), 2)
    commission = round(sum(m.commission for m in markets), 2)
    peak = level = drawdown = 0.0
    for m in sorted(markets, key=lambda m: (m.settled_at or 0, m.market_id)):
        level += m.net_profit
        peak = max(peak, level)
        drawdown = max(drawdown, peak - level)
    return {
        "orders": len(placed),
        "violations": len(orders) - len(placed),
        "matched_orders": len(matched),
        "matched_volume": round(sum(o.size_matched for o in placed), 2),
        "markets": len({m.market_id for m in markets}),
        "gross_profit": gross,
        "commission": commission,
        "net_profit": round(gross - commission, 2),
        "strike_rate": round(won / len(settled), 4) if settled else None,
        "max_drawdown": round(drawdown, 2),
    }


@dataclass(slots=True)
class SimulationResult:
    """Every order (placement order: files in source order, orders in the order placed), the
    settled markets per strategy, the replay's files and errors, the strategies' merged
    ``result()`` values by name, and counts."""

    orders: list[SimulatedOrder]
    markets: list[MarketResult]
    files: list[FileResult]
    errors: list[ReplayError]
    results: dict[str, Any]
    strategy_errors: int = 0
    lines: int = 0
    seconds: float = 0.0
    strategies: list[str] = field(default_factory=list)

    @property
    def net_profit(self) -> float:
        return round(sum(m.net_profit for m in self.markets), 2)

    @property
    def matched_volume(self) -> float:
        return round(sum(o.size_matched for o in self.orders), 2)

    def summary(self) -> dict[str, Any]:
        """Orders, matched volume, gross and net profit, commission, strike rate (settled
        matched orders that won) and max drawdown (of cumulative net profit by settlement
        time), in total and per strategy; plus files, lines, errors, seconds."""
        out = _stats(self.orders, self.markets)
        out["files"] = len(self.files)
        out["lines"] = self.lines
        out["errors"] = [str(e) for e in self.errors]
        out["strategy_errors"] = self.strategy_errors
        out["seconds"] = round(self.seconds, 3)
        out["lines_per_second"] = round(self.lines / self.seconds) if self.seconds else None
        names = list(self.strategies) or sorted({o.strategy for o in self.orders})
        out["strategies"] = {
            name: _stats(
                [o for o in self.orders if o.strategy == name],
                [m for m in self.markets if m.strategy == name],
            )
            for name in names
        }
        return out

    def cumulative(self) -> dict[str, list[tuple[int, float]]]:
        """Per strategy, (settlement time ms, cumulative net profit) after each settled market,
        in settlement order: what the report draws."""
        out: dict[str, list[tuple[int, float]]] = {name: [] for name in self.strategies}
        level: dict[str, float] = {}
        for m in sorted(self.markets, key=lambda m: (m.settled_at or 0, m.market_id)):
            value = round(level.get(m.strategy, 0.0) + m.net_profit, 2)
            level[m.strategy] = value
            out.setdefault(m.strategy, []).append((m.settled_at or 0, value))
        return out

    def rows(self) -> list[dict[str, Any]]:
        """The CSV rows (one per order, :data:`CSV_COLUMNS`)."""
        out = []
        for o in self.orders:
            out.append(
                {
                    "bet_id": o.bet_id,
                    "strategy_name": o.strategy,
                    "market_id": o.market_id,
                    "selection_id": o.selection_id,
                    "trade_id": o.trade_id,
                    "date_time_placed": _iso(o.placed_at),
                    "price": None if o.order_type == MARKET_ON_CLOSE else o.price,
                    "price_matched": o.average_price_matched,
                    "size": o.size,
                    "size_matched": o.size_matched,
                    "profit": o.profit,
                    "side": o.side,
                    "elapsed_seconds_executable": o.elapsed_seconds_executable,
                    "order_status": o.status,
                    "market_note": o.market_note,
                    "trade_notes": o.trade_notes,
                    "order_notes": ",".join(str(v) for v in o.notes.values()),
                }
            )
        return out

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write every order as the tutorial's CSV (columns :data:`CSV_COLUMNS`)."""
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            for row in self.rows():
                writer.writerow(row)

    def to_dataframe(self) -> Any:
        """The orders as a pandas DataFrame (the CSV's columns); needs the ``pandas`` extra."""
        try:
            import pandas as pd  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "to_dataframe needs pandas: pip install 'marketstreams[pandas]'"
            ) from exc
        return pd.DataFrame(self.rows(), columns=list(CSV_COLUMNS))

    def report(self, path: str | os.PathLike[str], title: str = "Simulation report") -> None:
        """Write one self-contained HTML file: cumulative net profit per strategy over time, the
        summary and the per-market table (nothing is loaded from the network)."""
        from .report import render

        with open(path, "w", encoding="utf-8") as f:
            f.write(render(self, title))

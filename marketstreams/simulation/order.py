"""Simulated orders: what a strategy placed and what the simulated exchange did with it."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BACK",
    "LAY",
    "LIMIT",
    "LIMIT_ON_CLOSE",
    "LIVE",
    "MARKET_ON_CLOSE",
    "SimulatedOrder",
]

BACK, LAY = "BACK", "LAY"
LIMIT, LIMIT_ON_CLOSE, MARKET_ON_CLOSE = "LIMIT", "LIMIT_ON_CLOSE", "MARKET_ON_CLOSE"
PENDING, EXECUTABLE, EXECUTION_COMPLETE = "PENDING", "EXECUTABLE", "EXECUTION_COMPLETE"
VIOLATION, LAPSED, CANCELLED, VOIDED = "VIOLATION", "LAPSED", "CANCELLED", "VOIDED"
LIVE = frozenset((PENDING, EXECUTABLE))


class SimulatedOrder:
    """One order of a strategy in a simulated market.

    ``size`` is the stake of a LIMIT order and the liability of LIMIT_ON_CLOSE / MARKET_ON_CLOSE
    orders (flumine's ``liability``). ``status``: PENDING until the exchange has it (latency,
    in-play bet delay), EXECUTABLE while part of it waits, then EXECUTION_COMPLETE when
    anything matched, else LAPSED / CANCELLED / VOIDED (what took the rest); VIOLATION when it
    was refused (``violation`` says by which rule or control). Times are publish times in ms.
    """

    __slots__ = (
        "_cancel_pending",
        "_matched",
        "_piq",
        "_sp_done",
        "_version",
        "average_price_matched",
        "bet_delay",
        "bet_id",
        "completed_at",
        "created_at",
        "handicap",
        "market_id",
        "market_note",
        "matched_at",
        "notes",
        "order_type",
        "persistence",
        "placed_at",
        "price",
        "profit",
        "runner_status",
        "selection_id",
        "side",
        "size",
        "size_cancelled",
        "size_lapsed",
        "size_matched",
        "size_voided",
        "status",
        "strategy",
        "trade_id",
        "trade_notes",
        "violation",
    )

    def __init__(
        self,
        bet_id: str,
        strategy: str,
        market_id: str,
        selection_id: int,
        handicap: float,
        side: str,
        price: float,
        size: float,
        order_type: str = LIMIT,
        persistence: str = "LAPSE",
        created_at: int | None = None,
    ) -> None:
        self.bet_id = bet_id
        self.strategy = strategy
        self.market_id = market_id
        self.selection_id = selection_id
        self.handicap = handicap
        self.side = side
        self.price = price
        self.size = size
        self.order_type = order_type
        self.persistence = persistence
        self.size_matched = 0.0
        self.average_price_matched = 0.0
        self.size_cancelled = 0.0
        self.size_lapsed = 0.0
        self.size_voided = 0.0
        self.status = PENDING
        self.violation: str | None = None
        self.created_at = created_at
        self.placed_at: int | None = None
        self.matched_at: int | None = None
        self.completed_at: int | None = None
        self.profit: float | None = None
        self.runner_status: str | None = None
        self.notes: dict[str, Any] = {}
        self.trade_id = bet_id
        self.market_note = ""
        self.trade_notes = ""
        self.bet_delay = 0
        self._matched: list[list[Any]] = []  # [publish time, price, size] per fill
        self._piq = 0.0  # volume ahead in the queue at the order's price
        self._version: int | None = None  # market version last seen (lapse on a new one)
        self._sp_done = False
        self._cancel_pending = False

    # -- reads --------------------------------------------------------------------------------

    @property
    def size_remaining(self) -> float:
        """The stake still waiting to match (0 once complete)."""
        if self.status not in LIVE:
            return 0.0
        if self.order_type != LIMIT:
            return self.size
        left = round(
            self.size
            - self.size_matched
            - self.size_cancelled
            - self.size_lapsed
            - self.size_voided,
            2,
        )
        return left if left > 0 else 0.0

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def elapsed_seconds_executable(self) -> float | None:
        """Seconds from placement on the exchange to completion (None while live)."""
        if self.placed_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.placed_at) / 1000.0

    @property
    def matches(self) -> list[tuple[int, float, float]]:
        """Each fill as (publish time, price, size), prices after any reduction factor."""
        return [(int(t), float(p), float(s)) for t, p, s in self._matched]

    @property
    def exposure(self) -> float:
        """What the order risks (flumine's order exposure): a back's stake, a lay's
        (price - 1) x stake, an SP order's liability."""
        if self.order_type == LIMIT and self.side == LAY:
            return (self.price - 1.0) * self.size
        return self.size

    def as_dict(self) -> dict[str, Any]:
        """Plain data (the CSV row's values and a few more)."""
        return {
            "bet_id": self.bet_id,
            "strategy": self.strategy,
            "market_id": self.market_id,
            "selection_id": self.selection_id,
            "handicap": self.handicap,
            "side": self.side,
            "order_type": self.order_type,
            "persistence": self.persistence,
            "price": self.price,
            "size": self.size,
            "size_matched": self.size_matched,
            "average_price_matched": self.average_price_matched,
            "size_cancelled": self.size_cancelled,
            "size_lapsed": self.size_lapsed,
            "size_voided": self.size_voided,
            "status": self.status,
            "violation": self.violation,
            "created_at": self.created_at,
            "placed_at": self.placed_at,
            "matched_at": self.matched_at,
            "completed_at": self.completed_at,
            "elapsed_seconds_executable": self.elapsed_seconds_executable,
            "runner_status": self.runner_status,
            "profit": self.profit,
            "notes": dict(self.notes),
        }

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SimulatedOrder.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return (
            f"<SimulatedOrder {self.bet_id} {self.strategy} {self.market_id} {self.selection_id} "
            f"{self.side} {self.order_type} {self.size}@{self.price} {self.status} "
            f"matched={self.size_matched}@{self.average_price_matched}>"
        )

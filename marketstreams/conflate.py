"""One pending delivery per key: the conflation that hooks and proxy clients share.

While a consumer is busy, each new state of a key (a book) merges into that key's pending
delivery: the latest value wins, trades are concatenated in order and capped (oldest dropped).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

__all__ = ["ConflationCounters", "Conflator", "Pending"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class ConflationCounters(Protocol):
    """The counters a :class:`Conflator` adds to (a hook's or a client's stats)."""

    conflated: int
    dropped_trades: int


@dataclass(slots=True)
class Pending(Generic[V, T]):
    """One key's pending delivery."""

    value: V
    trades: list[T] = field(default_factory=list)
    merged: int = 0  # later offers merged into this one
    dropped: int = 0  # trades dropped beyond the cap since the delivery was opened
    snapshot: bool = False  # any merged offer was a snapshot


class Conflator(Generic[K, V, T]):
    """Pending deliveries by key, in the order the keys first became pending. Never blocks."""

    __slots__ = ("counters", "max_trades", "pending")

    def __init__(self, max_trades: int, counters: ConflationCounters) -> None:
        self.max_trades = max_trades
        self.counters = counters
        self.pending: dict[K, Pending[V, T]] = {}

    def __bool__(self) -> bool:
        return bool(self.pending)

    def __len__(self) -> int:
        return len(self.pending)

    def offer(
        self, key: K, value: V, trades: list[T] | None = None, snapshot: bool = False
    ) -> Pending[V, T]:
        """Open ``key``'s pending delivery or merge into it; returns the pending delivery."""
        pending = self.pending.get(key)
        if pending is None:
            pending = self.pending[key] = Pending(value, list(trades) if trades else [])
            pending.snapshot = snapshot
            return pending
        pending.value = value
        pending.merged += 1
        self.counters.conflated += 1
        if snapshot:
            pending.snapshot = True
        if trades:
            kept = pending.trades
            kept.extend(trades)
            excess = len(kept) - self.max_trades
            if excess > 0:
                del kept[:excess]
                pending.dropped += excess
                self.counters.dropped_trades += excess
        return pending

    def pop_first(self) -> tuple[K, Pending[V, T]]:
        """The oldest pending delivery, removed (KeyError when none is pending)."""
        key = next(iter(self.pending))
        return key, self.pending.pop(key)

    def discard(self, key: K) -> None:
        self.pending.pop(key, None)

    def clear(self) -> None:
        self.pending.clear()

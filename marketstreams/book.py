"""The consolidated price-level order book shared by every venue.

Each side is a :class:`sortedcontainers.SortedDict` from price to volume, kept in ascending price
order: the best bid is the *last* key of ``bids``, the best ask the *first* key of ``asks``. Every
change is O(log n); reading the top N levels walks N keys and never copies or sorts the book.

Prices and volumes are whatever exact type the venue adapter chooses: :class:`decimal.Decimal` for
Luno (so a level's volume is the exact sum of its orders), ``float`` for Betfair's tick ladders and
BitMEX's contract sizes (replace-only, so no arithmetic drift is possible).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from sortedcontainers import SortedDict

from .models import BookKind

__all__ = ["Level", "OrderBook", "Side"]

Side = Literal["bid", "ask"]
Level = tuple[Any, Any]


class OrderBook:
    """A price-level order book for one market of one venue.

    ``venue`` and ``market`` name it (``"luno"``, ``"XBTZAR"``). ``is_valid`` is False from the
    moment a gap, drop or silence is detected until the next snapshot arrives; hooks may still be
    handed an invalid book (so they can pull quotes), never an invalid book marked valid.
    """

    __slots__ = (
        "asks",
        "bids",
        "conflated",
        "crossed_updates",
        "invalid_reason",
        "is_valid",
        "market",
        "received",
        "sequence",
        "stale",
        "status",
        "timestamp",
        "venue",
    )

    kind: ClassVar[BookKind] = "orderbook"

    def __init__(self, venue: str, market: str) -> None:
        self.venue = venue
        self.market = market
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.is_valid = False
        self.invalid_reason: str | None = "no snapshot yet"
        self.sequence: int | None = None
        self.timestamp: int | None = None  # venue time, epoch milliseconds
        self.received: float | None = None  # local wall-clock time of receipt, epoch seconds
        self.status: str | None = None
        self.stale = False
        self.conflated = False
        self.crossed_updates = 0  # venue messages that left this book crossed

    # -- changes ------------------------------------------------------------------------------

    def _side(self, side: Side) -> SortedDict:
        if side == "bid":
            return self.bids
        if side == "ask":
            return self.asks
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def set_level(self, side: Side, price: Any, volume: Any) -> None:
        """Replace the volume at ``price``; a volume of zero or less removes the level."""
        levels = self._side(side)
        if volume > 0:
            levels[price] = volume
        else:
            levels.pop(price, None)

    def add_volume(self, side: Side, price: Any, delta: Any) -> Any:
        """Add ``delta`` (may be negative) to the level at ``price`` and return the new volume.

        The level is removed when it reaches zero. A result below zero is returned as is and the
        level removed: the caller decides whether that is a protocol error.
        """
        levels = self._side(side)
        volume = levels.get(price)
        volume = delta if volume is None else volume + delta
        if volume > 0:
            levels[price] = volume
        else:
            levels.pop(price, None)
        return volume

    def clear(self) -> None:
        """Remove every level (a snapshot follows)."""
        self.bids.clear()
        self.asks.clear()

    def invalidate(self, reason: str) -> None:
        """Mark the book out of sync until the next snapshot."""
        self.is_valid = False
        self.invalid_reason = reason

    def mark_valid(self) -> None:
        """Mark the book in sync (after a snapshot was applied)."""
        self.is_valid = True
        self.invalid_reason = None

    # -- reads --------------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        """``(price, volume)`` of the highest bid, or None on an empty side."""
        if not self.bids:
            return None
        return self.bids.peekitem(-1)  # type: ignore[no-any-return]

    def best_ask(self) -> Level | None:
        """``(price, volume)`` of the lowest ask, or None on an empty side."""
        if not self.asks:
            return None
        return self.asks.peekitem(0)  # type: ignore[no-any-return]

    def spread(self) -> Any | None:
        """Best ask minus best bid, or None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks.peekitem(0)[0] - self.bids.peekitem(-1)[0]

    @property
    def is_crossed(self) -> bool:
        """True when the best bid is at or above the best ask."""
        bids, asks = self.bids, self.asks
        return bool(bids and asks and bids.peekitem(-1)[0] >= asks.peekitem(0)[0])

    def iter_bids(self, n: int | None = None) -> Iterator[Level]:
        """Bid levels, highest price first, at most ``n`` of them."""
        bids = self.bids
        start = None if n is None else max(0, len(bids) - n)  # islice slices, then reverses
        for price in bids.islice(start, None, reverse=True):
            yield price, bids[price]

    def iter_asks(self, n: int | None = None) -> Iterator[Level]:
        """Ask levels, lowest price first, at most ``n`` of them."""
        asks = self.asks
        for price in asks.islice(0, n):
            yield price, asks[price]

    def top(self, side: Side, n: int | None = None) -> list[list[Any]]:
        """The best ``n`` levels of one side as ``[[price, volume], ...]``, best first."""
        levels = self.iter_bids(n) if side == "bid" else self.iter_asks(n)
        return [[p, v] for p, v in levels]

    def depth(self, n: int | None = None) -> dict[str, list[list[Any]]]:
        """``{"bids": [[price, volume], ...], "asks": [...]}``, bids highest first, asks lowest
        first, at most ``n`` levels a side (all of them when ``n`` is None)."""
        return {"bids": self.top("bid", n), "asks": self.top("ask", n)}

    def to_numpy(self, n: int, dtype: Any = np.float64) -> np.ndarray:
        """The top ``n`` levels as an array shaped ``[side (bids, asks), level, (price, volume)]``.

        Missing levels are NaN. Reads only ``n`` levels a side.
        """
        out = np.full((2, n, 2), np.nan, dtype=dtype)
        for i, (p, v) in enumerate(self.iter_bids(n)):
            out[0, i, 0] = p
            out[0, i, 1] = v
        for i, (p, v) in enumerate(self.iter_asks(n)):
            out[1, i, 0] = p
            out[1, i, 1] = v
        return out

    def copy(self) -> OrderBook:
        """An independent copy (for hooks that keep a book across awaits or threads)."""
        other = OrderBook(self.venue, self.market)
        other.bids = self.bids.copy()
        other.asks = self.asks.copy()
        for name in (
            "is_valid",
            "invalid_reason",
            "sequence",
            "timestamp",
            "received",
            "status",
            "stale",
            "conflated",
            "crossed_updates",
        ):
            setattr(other, name, getattr(self, name))
        return other

    def __len__(self) -> int:
        return len(self.bids) + len(self.asks)

    def __repr__(self) -> str:
        state = "valid" if self.is_valid else f"invalid ({self.invalid_reason})"
        return (
            f"<OrderBook {self.venue}:{self.market} seq={self.sequence} {state} "
            f"bid={self.best_bid()} ask={self.best_ask()} levels={len(self)}>"
        )

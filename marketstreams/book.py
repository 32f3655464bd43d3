"""The consolidated price-level order book shared by every venue.

Each side is a :class:`sortedcontainers.SortedDict` from price to volume, kept in ascending price
order: the best bid is the *last* key of ``bids``, the best ask the *first* key of ``asks``. Every
change is O(log n); reading the top N levels walks N keys and never copies or sorts the book.

Prices and volumes are whatever exact type the venue adapter chooses: :class:`decimal.Decimal` for
Luno (so a level's volume is the exact sum of its orders), ``float`` for Betfair's tick ladders and
BitMEX's contract sizes (replace-only, so no arithmetic drift is possible).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import numpy as np
from sortedcontainers import SortedDict

from .models import BookKind

__all__ = ["Level", "LevelWatch", "OrderBook", "Side"]

Side = Literal["bid", "ask"]
Level = tuple[Any, Any]


def _ends_readable() -> bool:
    """Does a SortedDict keep its keys as sortedcontainers 2.x does (``_list._lists``: sorted
    sublists, none empty)? Then the top of a side is two list indexings away, about five times
    cheaper than ``peekitem``'s two Python calls: the book's top reads use that. Checked once,
    here, on a tiny probe (import stays cheap); any other layout falls back to ``peekitem``.
    tests/unit/test_book.py pins both ways to the same answers on books of many sublists."""
    try:
        probe = SortedDict({3.0: 1, 1.0: 1, 4.0: 1, 2.0: 1})
        del probe[4.0]
        lists = probe._list._lists
        return bool(lists[0][0] == probe.peekitem(0)[0] and lists[-1][-1] == probe.peekitem(-1)[0])
    except Exception:  # any other layout: the public way
        return False


#: True when the book reads its top through sortedcontainers' sublists (see _ends_readable).
FAST_ENDS = _ends_readable()


# The top reads of OrderBook, two ways with the same answers: "fast" reads the sublists, "public"
# uses peekitem. OrderBook takes one set (FAST_ENDS); tests check both against a reference.


def _fast_best_prices(book: OrderBook) -> tuple[Any, Any]:
    """``(best bid price, best ask price)``, None for an empty side: the cheapest read of the
    top, for code that looks at it on every update."""
    bids, asks = book.bids, book.asks
    return (bids._list._lists[-1][-1] if bids else None, asks._list._lists[0][0] if asks else None)


def _public_best_prices(book: OrderBook) -> tuple[Any, Any]:
    """``(best bid price, best ask price)``, None for an empty side: the cheapest read of the
    top, for code that looks at it on every update."""
    bids, asks = book.bids, book.asks
    return (bids.peekitem(-1)[0] if bids else None, asks.peekitem(0)[0] if asks else None)


def _fast_best_bid(book: OrderBook) -> Level | None:
    """``(price, volume)`` of the highest bid, or None on an empty side."""
    bids = book.bids
    if not bids:
        return None
    price = bids._list._lists[-1][-1]
    return price, bids[price]


def _public_best_bid(book: OrderBook) -> Level | None:
    """``(price, volume)`` of the highest bid, or None on an empty side."""
    return book.bids.peekitem(-1) if book.bids else None


def _fast_best_ask(book: OrderBook) -> Level | None:
    """``(price, volume)`` of the lowest ask, or None on an empty side."""
    asks = book.asks
    if not asks:
        return None
    price = asks._list._lists[0][0]
    return price, asks[price]


def _public_best_ask(book: OrderBook) -> Level | None:
    """``(price, volume)`` of the lowest ask, or None on an empty side."""
    return book.asks.peekitem(0) if book.asks else None


def _fast_lowest_key(levels: SortedDict) -> Any:
    """The lowest key of a non-empty SortedDict (the best ask of an ``asks`` side)."""
    return levels._list._lists[0][0]


def _public_lowest_key(levels: SortedDict) -> Any:
    """The lowest key of a non-empty SortedDict (the best ask of an ``asks`` side)."""
    return levels.peekitem(0)[0]


def _fast_highest_key(levels: SortedDict) -> Any:
    """The highest key of a non-empty SortedDict (the best bid of a ``bids`` side)."""
    return levels._list._lists[-1][-1]


def _public_highest_key(levels: SortedDict) -> Any:
    """The highest key of a non-empty SortedDict (the best bid of a ``bids`` side)."""
    return levels.peekitem(-1)[0]


#: The lowest / highest key of a non-empty side, the cheap way when FAST_ENDS.
lowest_key = _fast_lowest_key if FAST_ENDS else _public_lowest_key
highest_key = _fast_highest_key if FAST_ENDS else _public_highest_key


def _fast_is_crossed(book: OrderBook) -> bool:
    """True when the best bid is at or above the best ask."""
    bids, asks = book.bids, book.asks
    return bool(bids and asks and bids._list._lists[-1][-1] >= asks._list._lists[0][0])


def _public_is_crossed(book: OrderBook) -> bool:
    """True when the best bid is at or above the best ask."""
    bids, asks = book.bids, book.asks
    return bool(bids and asks and bids.peekitem(-1)[0] >= asks.peekitem(0)[0])


class LevelWatch:
    """Prices one reader of a book watches (a paper matcher's resting orders), on a book whose
    venue code reports changes at them: ``changes`` goes up on every change of a level at one of
    ``prices`` (either side) and every time the book is made valid (a snapshot), so the reader
    can pass over the updates that did not touch them. OrderBook's own changes (``set_level``,
    ``add_volume``, ``clear``, ``mark_valid``) report themselves; venue code that writes into the
    sides directly sets :attr:`OrderBook.level_watch` only when it reports every change it makes
    (BitMEX's ``orderBookL2`` tables do). A copy of a book has none. ``owner`` is a weak
    reference to the reader that set ``prices`` (one at a time; a reader that is gone leaves the
    watch to the next one)."""

    __slots__ = ("changes", "owner", "prices")

    def __init__(self) -> None:
        self.prices: set[Any] = set()
        self.changes = 0
        self.owner: Callable[[], object] | None = None

    def __repr__(self) -> str:
        return f"<LevelWatch prices={len(self.prices)} changes={self.changes}>"


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
        "level_watch",
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
        # set by venue code that reports changes at watched prices (see LevelWatch)
        self.level_watch: LevelWatch | None = None

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
        if self.level_watch is not None and price in self.level_watch.prices:
            self.level_watch.changes += 1

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
        if self.level_watch is not None and price in self.level_watch.prices:
            self.level_watch.changes += 1
        return volume

    def clear(self) -> None:
        """Remove every level (a snapshot follows)."""
        self.bids.clear()
        self.asks.clear()
        if self.level_watch is not None:
            self.level_watch.changes += 1

    def invalidate(self, reason: str) -> None:
        """Mark the book out of sync until the next snapshot."""
        self.is_valid = False
        self.invalid_reason = reason

    def mark_valid(self) -> None:
        """Mark the book in sync (after a snapshot was applied)."""
        self.is_valid = True
        self.invalid_reason = None
        if self.level_watch is not None:  # a snapshot may have changed any level
            self.level_watch.changes += 1

    # -- reads --------------------------------------------------------------------------------

    # Top reads: sortedcontainers' sublists when FAST_ENDS, else peekitem (same answers).
    best_prices = _fast_best_prices if FAST_ENDS else _public_best_prices
    best_bid = _fast_best_bid if FAST_ENDS else _public_best_bid
    best_ask = _fast_best_ask if FAST_ENDS else _public_best_ask
    is_crossed = property(_fast_is_crossed if FAST_ENDS else _public_is_crossed)

    def spread(self) -> Any | None:
        """Best ask minus best bid, or None when a side is empty."""
        bid, ask = self.best_prices()
        return None if bid is None or ask is None else ask - bid

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

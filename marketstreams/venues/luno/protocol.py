"""Sans-I/O core of the Luno market stream: frames in, book changes and events out.

More in docs/modules.md (``marketstreams.venues.luno.protocol``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from ...book import OrderBook
from ...exceptions import (
    AuthenticationError,
    ConfigurationError,
    MalformedFrameError,
    ProtocolError,
    SequenceGapError,
    VenueError,
)
from ...models import Trade

__all__ = [
    "Keepalive",
    "LunoBook",
    "LunoProtocol",
    "OutOfSyncError",
    "Snapshot",
    "Updated",
]

logger = logging.getLogger("marketstreams.luno")

# Luno error codes that no retry can fix.
FATAL_CREDENTIALS = {"invalid_credentials", "unauthorised", "unauthorized"}
FATAL_CONFIGURATION = {"invalid_market"}


class OutOfSyncError(ProtocolError):
    """An update cannot be applied to the book we hold (unknown maker, negative volume)."""


@dataclass(slots=True)
class Snapshot:
    """A snapshot replaced the whole book."""

    sequence: int


@dataclass(slots=True)
class Updated:
    """An update was applied; ``trades`` are the trades it carried (maybe none)."""

    sequence: int
    trades: list[Trade] = field(default_factory=list)


@dataclass(slots=True)
class Keepalive:
    """The server's ``""`` keepalive frame (or an empty frame, taken the same way)."""


Event = Snapshot | Updated | Keepalive

_KEEPALIVE = Keepalive()
# Luno sends ``""``; an empty frame carries nothing either, so it is no malformed frame.
_KEEPALIVE_FRAMES = frozenset({'""', b'""', "", b""})
_SIDES = {"BID": "bid", "ASK": "ask"}


def _decimal(value: Any, what: str, frame: object) -> Decimal:
    try:
        d = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise MalformedFrameError(f"bad {what} {value!r}", frame) from None
    # Bounded magnitude: arithmetic on absurd exponents would overflow mid-update.
    if not d.is_finite() or not -40 <= d.adjusted() <= 40:
        raise MalformedFrameError(f"bad {what} {value!r}", frame)
    return d


class LunoBook(OrderBook):
    """Luno's consolidated book plus ``orders``: the resting orders by id, ``[side, price,
    volume]``, in arrival order (time priority within a price; a snapshot's order within a
    level is taken as its time priority). Paper trading reads it to know the exact queue. The
    protocol owns it: read it, never change it."""

    __slots__ = ("orders",)

    def __init__(self, venue: str, market: str) -> None:
        super().__init__(venue, market)
        self.orders: dict[str, list[Any]] = {}


class LunoProtocol:
    """The state of one Luno pair's market stream.

    ``receive(frame)`` returns an event, or raises:

    * :class:`~marketstreams.exceptions.MalformedFrameError`: the frame is not JSON or not of a
      known shape; nothing was applied and the book stays as it was (skip it and go on: a lost
      update shows up as a gap on the next frame);
    * :class:`~marketstreams.exceptions.SequenceGapError` or :class:`OutOfSyncError`: the book
      is now invalid (``book.is_valid`` is False) and only a new snapshot can fix it;
    * :class:`~marketstreams.exceptions.AuthenticationError`,
      :class:`~marketstreams.exceptions.ConfigurationError` (``invalid_market``) or
      :class:`~marketstreams.exceptions.VenueError`: the server sent an error frame.
    """

    __slots__ = ("book", "orders", "pair")

    def __init__(self, pair: str, book: OrderBook | None = None) -> None:
        self.pair = pair.upper()
        self.book = book if book is not None else LunoBook("luno", self.pair)
        # order id -> [side, price, volume]
        self.orders: dict[str, list[Any]] = {}
        if isinstance(self.book, LunoBook):
            self.book.orders = self.orders

    def credentials_frame(self, api_key: str | None, api_secret: str | None) -> str:
        """The first frame a client sends."""
        if api_key is None:
            return "{}"
        return orjson.dumps({"api_key_id": api_key, "api_key_secret": api_secret or ""}).decode()

    def connection_lost(self, reason: str) -> None:
        """The transport went away: the book is invalid until the next snapshot."""
        self.book.invalidate(reason)

    def receive(self, frame: str | bytes) -> Event:
        """Apply one frame (see the class docstring)."""
        if len(frame) <= 2 and frame in _KEEPALIVE_FRAMES:  # len first: no hash of big frames
            return _KEEPALIVE
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError:
            raise MalformedFrameError("frame is not JSON", frame) from None
        if not isinstance(msg, dict):
            if msg == "":
                return _KEEPALIVE
            raise MalformedFrameError("frame is not a JSON object", frame)
        if "error_code" in msg or "error" in msg:
            self._error(msg)
        if "asks" in msg or "bids" in msg:
            return self._snapshot(msg, frame)
        if "sequence" in msg:
            return self._update(msg, frame)
        raise MalformedFrameError("unknown frame", frame)

    # -- frames -------------------------------------------------------------------------------

    def _error(self, msg: dict[str, Any]) -> None:
        code = str(msg.get("error_code") or "error")
        text = str(msg.get("error") or "")
        self.book.invalidate(f"venue error {code}")
        if code in FATAL_CREDENTIALS:
            raise AuthenticationError(code, text)
        if code in FATAL_CONFIGURATION:
            raise ConfigurationError(f"luno {code}: {text}")
        raise VenueError(code, text)

    def _snapshot(self, msg: dict[str, Any], frame: object) -> Snapshot:
        try:
            sequence = int(msg["sequence"])
            entries = [(side, entry) for side in ("bids", "asks") for entry in msg.get(side) or ()]
            orders: dict[str, list[Any]] = {}
            levels: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "ask": {}}
            for side_name, entry in entries:
                side = "bid" if side_name == "bids" else "ask"
                price = _decimal(entry["price"], "price", frame)
                volume = _decimal(entry["volume"], "volume", frame)
                if volume <= 0:
                    continue
                orders[entry["id"]] = [side, price, volume]
                side_levels = levels[side]
                side_levels[price] = side_levels.get(price, 0) + volume
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrameError(f"bad snapshot ({exc!r})", frame) from None
        book = self.book
        self.orders = orders
        if isinstance(book, LunoBook):
            book.orders = orders
        book.clear()
        book.bids.update(levels["bid"])
        book.asks.update(levels["ask"])
        book.sequence = sequence
        book.timestamp = msg.get("timestamp")
        book.status = msg.get("status") or book.status
        book.mark_valid()
        return Snapshot(sequence)

    def _update(self, msg: dict[str, Any], frame: object) -> Updated:
        book = self.book
        try:
            sequence = int(msg["sequence"])
        except (TypeError, ValueError):
            raise MalformedFrameError("bad sequence", frame) from None
        if not book.is_valid or book.sequence is None:
            raise OutOfSyncError(f"update {sequence} without a valid snapshot", frame)
        expected = book.sequence + 1
        if sequence != expected:
            book.invalidate(f"sequence gap: expected {expected}, got {sequence}")
            raise SequenceGapError(expected, sequence, frame)

        trades_in = msg.get("trade_updates") or ()
        create = msg.get("create_update")
        delete = msg.get("delete_update")
        status = msg.get("status_update")
        orders = self.orders

        # Check everything before changing anything, so a bad message leaves the book intact.
        fills: list[tuple[list[Any], Decimal, dict[str, Any]]] = []
        try:
            pending: dict[str, Decimal] = {}
            for t in trades_in:
                maker_id = t["maker_order_id"]
                if not isinstance(maker_id, str):
                    raise MalformedFrameError(f"bad maker_order_id {maker_id!r}", frame)
                maker = orders.get(maker_id)
                base = _decimal(t["base"], "base", frame)
                counter = t.get("counter")
                t["counter"] = None if counter is None else _decimal(counter, "counter", frame)
                if maker is None:
                    book.invalidate(f"trade for unknown maker order {maker_id}")
                    raise OutOfSyncError(f"trade for unknown maker order {maker_id}", frame)
                left = pending.get(maker_id, maker[2]) - base
                if left < 0 or base <= 0:
                    book.invalidate(f"trade leaves order {maker_id} at {left}")
                    raise OutOfSyncError(f"trade leaves order {maker_id} at {left}", frame)
                pending[maker_id] = left
                fills.append((maker, base, t))
            if create is not None:
                create_side = _SIDES.get(create["type"])
                if create_side is None:
                    raise MalformedFrameError(f"bad order type {create['type']!r}", frame)
                create_price = _decimal(create["price"], "price", frame)
                create_volume = _decimal(create["volume"], "volume", frame)
                create_id = create["order_id"]
                if not isinstance(create_id, str):
                    raise MalformedFrameError(f"bad order_id {create_id!r}", frame)
            delete_id = delete["order_id"] if delete is not None else None
            if delete_id is not None and not isinstance(delete_id, str):
                raise MalformedFrameError(f"bad order_id {delete_id!r}", frame)
            if status is not None and not (
                isinstance(status, dict) and isinstance(status.get("status", ""), str)
            ):
                raise MalformedFrameError("bad status_update", frame)
            if trades_in.__class__ is not list and trades_in != ():
                raise MalformedFrameError("bad trade_updates", frame)
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedFrameError(f"bad update ({exc!r})", frame) from None

        trades: list[Trade] = []
        timestamp = msg.get("timestamp")
        pair = self.pair
        for maker, base, t in fills:
            side, price = maker[0], maker[1]
            maker[2] -= base
            book.add_volume(side, price, -base)
            maker_id = t["maker_order_id"]
            if maker[2] == 0:
                del orders[maker_id]
            counter = t["counter"]  # validated above
            trades.append(
                Trade(
                    venue="luno",
                    market=pair,
                    type="buy" if side == "ask" else "sell",
                    price=price,
                    base=base,
                    counter=counter if counter is not None else base * price,
                    maker_order_id=maker_id,
                    taker_order_id=t.get("taker_order_id"),
                    sequence=t.get("sequence"),
                    timestamp=timestamp,
                )
            )
        if create is not None and create_volume > 0:
            old = orders.get(create_id)
            if old is not None:  # a re-create replaces: keep the levels exact
                book.add_volume(old[0], old[1], -old[2])
            orders[create_id] = [create_side, create_price, create_volume]
            book.add_volume(create_side, create_price, create_volume)  # type: ignore[arg-type]
        if delete_id is not None:
            gone = orders.pop(delete_id, None)
            if gone is not None:
                book.add_volume(gone[0], gone[1], -gone[2])
            elif logger.isEnabledFor(logging.DEBUG):
                # Deletes of orders already filled away are harmless: nothing to remove.
                logger.debug("%s: delete for unknown order %s", pair, delete_id)
        if status is not None:
            book.status = status.get("status", book.status)
        book.sequence = sequence
        book.timestamp = timestamp
        if book.is_crossed:
            book.crossed_updates += 1
            logger.warning("%s: book crossed after sequence %d", pair, sequence)
        return Updated(sequence, trades)

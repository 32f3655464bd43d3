"""Pure functions for BitMEX realtime frames: topics, commands, authentication, rows.

Nothing here keeps state or does I/O; :mod:`.protocol` calls these and :mod:`.feed` never
touches a row itself.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...exceptions import MalformedFrameError
from ...models import Trade

__all__ = [
    "BOOK_TABLES",
    "PRIVATE_TABLES",
    "SIDES",
    "SNAPSHOT_BOOK_TABLES",
    "auth_args",
    "command",
    "decode",
    "make_topic",
    "signature",
    "split_topic",
    "timestamp_ms",
    "trade_from_row",
    "url_path",
]

#: Incremental level-2 tables: rows keyed by (symbol, id, side), one row per price level.
BOOK_TABLES = frozenset({"orderBookL2", "orderBookL2_25"})
#: Tables whose every row is a whole top-of-book (``bids`` / ``asks`` lists).
SNAPSHOT_BOOK_TABLES = frozenset({"orderBook10"})
#: Tables BitMEX serves only on an authenticated connection.
PRIVATE_TABLES = frozenset(
    {
        "privateNotifications",
        "account",
        "wallet",
        "affiliate",
        "margin",
        "position",
        "transact",
        "order",
        "execution",
    }
)
#: BitMEX's side names to the book's.
SIDES: dict[str, str] = {"Buy": "bid", "Sell": "ask"}
_TRADE_TYPES = {"Buy": "buy", "Sell": "sell"}


def make_topic(table: str, symbol: str | None = None) -> str:
    """``"orderBookL2:XBTUSD"`` from ``("orderBookL2", "XBTUSD")``; the bare table without one."""
    return table if not symbol else f"{table}:{symbol}"


def split_topic(topic: str) -> tuple[str, str | None]:
    """``("orderBookL2", "XBTUSD")`` from ``"orderBookL2:XBTUSD"``; ``(table, None)`` if bare."""
    table, sep, symbol = topic.partition(":")
    if not table:
        raise ValueError(f"not a BitMEX topic: {topic!r}")
    return table, (symbol if sep and symbol else None)


def command(op: str, args: list[Any] | None = None) -> str:
    """A command frame: ``{"op": op, "args": [...]}`` as text."""
    body: dict[str, Any] = {"op": op} if args is None else {"op": op, "args": args}
    return orjson.dumps(body).decode()


def signature(secret: str, verb: str, path: str, expires: int, body: str = "") -> str:
    """BitMEX's signature: ``hex(HMAC_SHA256(secret, verb + path + str(expires) + body))``."""
    message = f"{verb}{path}{expires}{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def auth_args(key: str, secret: str, expires: int, path: str = "/realtime") -> list[Any]:
    """The ``args`` of an ``authKeyExpires`` command for a connection to ``path``."""
    return [key, expires, signature(secret, "GET", path, expires)]


def url_path(url: str) -> str:
    """The path signed by ``authKeyExpires``: ``"/realtime"`` for ``wss://ws.bitmex.com/realtime``."""
    return urlsplit(url).path or "/realtime"


def decode(frame: str | bytes) -> Any:
    """JSON text to Python objects; :class:`MalformedFrameError` (frame attached) if it is not."""
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        raise MalformedFrameError("frame is not JSON", frame) from None


_day_start: dict[str, int] = {}


def timestamp_ms(text: str | None) -> int | None:
    """Epoch milliseconds of a BitMEX timestamp (``"2024-11-24T08:26:22.356Z"``), or None."""
    if not text:
        return None
    try:
        day = text[:10]
        start = _day_start.get(day)
        if start is None:
            start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp()) * 1000
            if len(_day_start) > 64:
                _day_start.clear()
            _day_start[day] = start
        frac = text[20:23] if len(text) > 20 and text[19] == "." else "0"
        return (
            start
            + int(text[11:13]) * 3_600_000
            + int(text[14:16]) * 60_000
            + int(text[17:19]) * 1000
            + int(frac.ljust(3, "0"))
        )
    except (ValueError, IndexError):
        return None


def trade_from_row(row: dict[str, Any]) -> Trade:
    """A ``trade`` table row as a normalised :class:`~marketstreams.models.Trade`.

    ``type`` is the taker's side (``"buy"`` / ``"sell"``), ``base`` the size in contracts,
    ``counter`` BitMEX's ``foreignNotional`` when given, ``id`` the ``trdMatchID``.
    """
    side = row.get("side")
    return Trade(
        venue="bitmex",
        market=row["symbol"],
        type=_TRADE_TYPES.get(side, str(side).lower()) if side is not None else "",
        price=row["price"],
        base=row["size"],
        counter=row.get("foreignNotional"),
        timestamp=timestamp_ms(row.get("timestamp")),
        id=row.get("trdMatchID"),
    )

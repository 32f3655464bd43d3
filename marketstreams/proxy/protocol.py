"""The proxy's websocket protocol, sans-I/O: requests in, JSON messages out.

More in docs/modules.md (``marketstreams.proxy.protocol``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import orjson

from ..exceptions import MarketStreamsError
from ..models import BookKind, Trade, describe

__all__ = [
    "OPS",
    "PROTOCOL_VERSION",
    "BookKind",
    "Request",
    "RequestError",
    "book_id",
    "book_kind",
    "encode",
    "encode_trade",
    "error_message",
    "market_label",
    "parse_request",
    "serialise_book",
    "split_book_id",
]

PROTOCOL_VERSION: Final = 1
OPS: Final = ("list", "subscribe", "unsubscribe", "ping")
MAX_BOOK_ID: Final = 200  # characters
MAX_REQUEST_ID: Final = 100  # characters of a string ``id``


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if value.is_finite():
            return orjson.Fragment(format(value, "f").encode())
        return None
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode(message: Any) -> bytes:
    """One message (or a list of them) as compact JSON bytes."""
    return orjson.dumps(message, default=_default)


# -- book ids ----------------------------------------------------------------------------------


def book_id(venue: str, market: str) -> str:
    """The protocol's name of a book: ``"venue:market"`` (``"luno:XBTZAR"``)."""
    return f"{venue}:{market}"


def split_book_id(name: str) -> tuple[str, str]:
    """``"luno:XBTZAR"`` -> ``("luno", "XBTZAR")``; ValueError without a colon."""
    venue, sep, market = name.partition(":")
    if not sep or not venue or not market:
        raise ValueError(f"a book id is 'venue:market', not {name!r}")
    return venue, market


# -- requests ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed client request. ``id`` is echoed in the reply when the client gave one."""

    op: str
    books: tuple[str, ...] = ()
    id: str | int | None = None


class RequestError(MarketStreamsError, ValueError):
    """A client message the proxy cannot act on; the client gets an ``error`` message."""

    def __init__(
        self, code: str, message: str, *, op: str | None = None, request_id: Any = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.op = op
        self.request_id = request_id


def _request_id(value: Any) -> str | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RequestError("bad_request", "'id' must be a string or an integer")
    if isinstance(value, str) and len(value) > MAX_REQUEST_ID:
        raise RequestError("bad_request", f"'id' is longer than {MAX_REQUEST_ID} characters")
    return value


def parse_request(data: str | bytes, max_books: int = 1000) -> Request:
    """Parse one client frame. Raises :class:`RequestError` (code ``bad_json``,
    ``bad_request`` or ``unknown_op``) with the request's ``op`` and ``id`` when it got that
    far."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RequestError("bad_json", "the message is not valid JSON") from None
    if not isinstance(obj, dict):
        raise RequestError("bad_request", "a request is a JSON object with an 'op'")
    rid = _request_id(obj.get("id"))
    op = obj.get("op")
    if not isinstance(op, str):
        raise RequestError("bad_request", "a request needs an 'op' string", request_id=rid)
    if op not in OPS:
        raise RequestError(
            "unknown_op",
            f"unknown op {op[:40]!r}; the ops are {', '.join(OPS)}",
            op=op[:40],
            request_id=rid,
        )
    if op in ("list", "ping"):
        return Request(op, id=rid)
    books = obj.get("books")
    if isinstance(books, str):
        books = [books]
    if not isinstance(books, list) or not books:
        raise RequestError(
            "bad_request", "'books' must be a non-empty list of book ids", op=op, request_id=rid
        )
    if len(books) > max_books:
        raise RequestError(
            "bad_request", f"at most {max_books} books per request", op=op, request_id=rid
        )
    for name in books:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_BOOK_ID:
            raise RequestError(
                "bad_request",
                "every entry of 'books' must be a book id string ('venue:market')",
                op=op,
                request_id=rid,
            )
    return Request(op, tuple(dict.fromkeys(books)), rid)


def error_message(
    code: str, message: str, *, op: str | None = None, request_id: Any = None, **extra: Any
) -> dict[str, Any]:
    """An ``error`` message; ``op`` and ``id`` say which request it answers."""
    out: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if op is not None:
        out["op"] = op
    if request_id is not None:
        out["id"] = request_id
    out.update(extra)
    return out


# -- books -------------------------------------------------------------------------------------


def market_label(definition: Any) -> str | None:
    """A human name for a Betfair market from its definition (the stream carries no catalogue
    names: event and market names only when the definition has them)."""
    if not isinstance(definition, dict):
        return None
    parts = [definition.get("eventName"), definition.get("name") or definition.get("marketName")]
    label = " / ".join(p for p in parts if p)
    if not label:
        label = " ".join(
            str(p) for p in (definition.get("venue"), definition.get("marketType")) if p
        )
    return label or None


def book_kind(book: Any) -> BookKind:
    """``"orderbook"`` (price levels: Luno, BitMEX), ``"betfair_market"`` (runners with back and
    lay ladders) or ``"book"`` (anything else: validity and status only); see
    :func:`marketstreams.models.describe`."""
    kind: BookKind = describe(book)["kind"]
    return kind


def serialise_book(book: Any, depth: int) -> dict[str, Any]:
    """The state of ``book`` as the body of a ``snapshot`` / ``update`` message (no ``type``)."""
    view = describe(book, depth)
    kind = view["kind"]
    body = {
        "book": book_id(book.venue, book.market),
        "kind": kind,
        "venue": view["venue"],
        "market": view["market"],
        "valid": view["valid"],
        "reason": view["reason"],
        "stale": view["stale"],
    }
    if kind == "orderbook":
        body["seq"] = view["sequence"]
    body["ts"] = view["timestamp"]
    body["recv"] = view["received"]
    body["status"] = view["status"]
    if kind == "orderbook":
        body["bids"] = view["bids"]
        body["asks"] = view["asks"]
    elif kind == "betfair_market":
        definition = view["definition"] or {}
        body["inplay"] = view["inplay"]
        body["name"] = market_label(definition)
        body["market_type"] = definition.get("marketType")
        body["country"] = definition.get("countryCode")
        body["start"] = definition.get("marketTime")
        body["matched"] = view["matched"]
        body["runners"] = view["runners"]
    return body


def encode_trade(trade: Trade) -> bytes:
    """One trade as it appears in a ``trades`` message (``side`` is the taker's side)."""
    return encode(
        {
            "side": trade.type,
            "price": trade.price,
            "size": trade.base,
            "counter": trade.counter,
            "ts": trade.timestamp,
            "seq": trade.sequence,
            "id": trade.id,
        }
    )

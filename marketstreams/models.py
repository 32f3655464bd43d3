"""Values that flow from feeds to the Updater and on to hooks, and :func:`describe`, the one
view of any venue's book (what the proxy, the Redis sink, the metrics and the demo show)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["Book", "BookKind", "Trade", "Update", "describe"]

BookKind = Literal["orderbook", "betfair_market", "book"]


class Book(Protocol):
    """What every venue's book has in common: ``OrderBook`` (Luno, BitMEX) and Betfair's
    ``MarketBook`` and ``OrderMarket`` alike.

    ``kind`` says what else it has: ``"orderbook"`` price levels (``bids``, ``asks``, ``top()``,
    ``best_bid()``...), ``"betfair_market"`` runners with back and lay ladders, ``"book"``
    nothing more (Betfair's orders). ``timestamp`` is the venue's time of the last change (epoch
    milliseconds: Betfair's publish time ``pt``), ``received`` the local wall-clock time it
    arrived (epoch seconds; None where the feed does not stamp it), ``stale`` True while the
    venue says its data lags, ``conflated`` True when the venue merged changes into the last
    one. ``copy()`` is an independent copy (what ``policy="queue"`` hooks get).
    """

    venue: str
    market: str
    is_valid: bool

    @property
    def invalid_reason(self) -> str | None: ...
    @property
    def kind(self) -> BookKind: ...
    @property
    def timestamp(self) -> int | None: ...
    @property
    def received(self) -> float | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def stale(self) -> bool: ...
    @property
    def conflated(self) -> bool: ...
    def copy(self) -> Book: ...


def describe(book: Book, depth: int | None = None) -> dict[str, Any]:
    """One view of any venue's book, as plain values: what a hook for every venue reads.

    Always: ``kind``, ``venue``, ``market``, ``valid``, ``reason`` (why it is invalid),
    ``stale``, ``conflated``, ``status``, ``timestamp`` (venue time, epoch ms), ``received``
    (epoch seconds). With a ``depth``, the book's content too: an ``"orderbook"`` adds
    ``sequence``, ``bids`` and ``asks`` (``[(price, volume), ...]``, best first, at most
    ``depth`` a side, prices and volumes of the venue's own type); a ``"betfair_market"`` adds
    ``inplay``, ``definition`` (the market definition), ``matched`` and ``runners`` (per runner
    ``id``, ``handicap``, ``name``, ``status``, ``ltp``, ``matched``, ``back`` and ``lay``: the
    best ``depth`` ``(price, size)`` of each side).

    Books of a user's own feed that have only ``venue``, ``market`` and ``is_valid`` are
    described too: what they lack reads as None / False (a book naming its venue time
    ``publish_time`` is read as such), and their kind as ``"orderbook"`` when they have price
    levels (``top`` and ``bids``), ``"betfair_market"`` when they have runners and ``inplay``.
    """
    get = getattr
    kind = get(book, "kind", None) or _kind_by_shape(book)
    timestamp = get(book, "timestamp", None)
    if timestamp is None:
        timestamp = get(book, "publish_time", None)
    view: dict[str, Any] = {
        "kind": kind,
        "venue": book.venue,
        "market": book.market,
        "valid": bool(book.is_valid),
        "reason": get(book, "invalid_reason", None),
        "stale": bool(get(book, "stale", False)),
        "conflated": bool(get(book, "conflated", False)),
        "status": get(book, "status", None),
        "timestamp": timestamp,
        "received": get(book, "received", None),
    }
    if depth is None:
        return view
    if kind == "orderbook":
        view["sequence"] = get(book, "sequence", None)
        bids, asks = get(book, "bids", None), get(book, "asks", None)
        if hasattr(bids, "islice") and hasattr(asks, "islice"):  # SortedDicts: a few bulk reads
            view["bids"], view["asks"] = _top(bids, depth, True), _top(asks, depth, False)
        else:
            view["bids"] = [tuple(level) for level in book.top("bid", depth)]  # type: ignore[attr-defined]
            view["asks"] = [tuple(level) for level in book.top("ask", depth)]  # type: ignore[attr-defined]
    elif kind == "betfair_market":
        market: Any = book
        view["inplay"] = market.inplay
        view["definition"] = market.market_definition
        view["matched"] = market.total_matched
        view["runners"] = [
            {
                "id": r.selection_id,
                "handicap": r.handicap,
                "name": _runner_name(r.definition),
                "status": r.status,
                "ltp": r.last_price_traded,
                "matched": r.total_matched,
                "back": r.best_back(depth),
                "lay": r.best_lay(depth),
            }
            for r in market.runners
        ]
    return view


def _kind_by_shape(book: Any) -> BookKind:
    if hasattr(book, "top") and hasattr(book, "bids"):
        return "orderbook"
    if hasattr(book, "runners") and hasattr(book, "inplay"):
        return "betfair_market"
    return "book"


def _top(levels: Any, n: int, descending: bool) -> list[tuple[Any, Any]]:
    """The best ``n`` levels of a SortedDict side, in a few bulk operations (this runs for every
    update a proxy or a sink publishes)."""
    if n <= 0:
        return []
    keys = levels.keys()[-n:][::-1] if descending else levels.keys()[:n]
    return list(zip(keys, map(levels.__getitem__, keys), strict=True))


def _runner_name(definition: dict[str, Any] | None) -> str | None:
    if not definition:
        return None
    return definition.get("name") or definition.get("runnerName")


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade, normalised across venues.

    ``type`` is ``"buy"`` or ``"sell"`` from the taker's side. ``base`` is the traded quantity,
    ``counter`` the counter-currency amount where the venue gives it. Item access
    (``trade["price"]``) works too, for code written against luno_streams' dict trades.
    """

    venue: str
    market: str
    type: str
    price: Any
    base: Any
    counter: Any = None
    maker_order_id: str | None = None
    taker_order_id: str | None = None
    sequence: int | None = None
    timestamp: int | None = None  # venue time, epoch milliseconds
    id: str | None = None

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class Update:
    """One change of one book, as a feed emits it and hooks receive it.

    ``book`` is the live book object (its state at delivery time); ``trades`` are the trades the
    venue message carried (accumulated across conflated deliveries). ``snapshot`` is True when
    the change replaced the whole book (a new snapshot / image / partial).
    """

    book: Book
    trades: list[Trade] = field(default_factory=list)
    snapshot: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.book.venue, self.book.market)

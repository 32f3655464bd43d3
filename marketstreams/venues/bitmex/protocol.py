"""The BitMEX realtime protocol, sans I/O: frames in, events and frames to send out.

More in docs/modules.md (``marketstreams.venues.bitmex.protocol``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ...book import OrderBook
from ...exceptions import MalformedFrameError
from ...models import Trade, Update
from ...secret import Secret
from .books import Book10Table, BookTable, L2Book, UnknownRow
from .parse import (
    BOOK_TABLES,
    SNAPSHOT_BOOK_TABLES,
    auth_args,
    command,
    split_topic,
    trade_from_row,
)
from .tables import Table

__all__ = [
    "Authenticated",
    "AuthenticationFailed",
    "BitmexProtocol",
    "Counters",
    "Info",
    "Pong",
    "Rows",
    "Storage",
    "Subscribed",
    "SubscriptionFailed",
    "Unsubscribed",
    "VenueMessage",
    "Welcome",
]

logger = logging.getLogger("marketstreams.bitmex")

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


def _bad_row(name: str, action: str, exc: Exception, frame: str | bytes) -> MalformedFrameError:
    return MalformedFrameError(f"{name} {action}: bad row ({type(exc).__name__}: {exc})", frame)


VENUE = "bitmex"
_ACTIONS = frozenset({"partial", "insert", "update", "delete"})
_AUTH_OPS = frozenset({"authKeyExpires", "authKey"})


# -- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome:
    """The greeting BitMEX sends on connect. ``limit_remaining``: connection opens left."""

    info: str
    version: str | None = None
    limit_remaining: int | None = None


@dataclass(frozen=True, slots=True)
class Subscribed:
    """``topic`` was acknowledged by a ``subscribe``."""

    topic: str


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    """``topic`` was acknowledged by an ``unsubscribe``; its table state is dropped."""

    topic: str


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    """The venue refused ``op`` (``subscribe`` / ``unsubscribe``) of ``topic``."""

    topic: str
    op: str
    status: int | None
    error: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """``authKeyExpires`` was accepted."""


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    """``authKeyExpires`` was refused. ``error`` never contains the key or the signature."""

    status: int | None
    error: str


@dataclass(frozen=True, slots=True)
class Pong:
    """The text ``pong`` answering our text ``ping``."""


@dataclass(frozen=True, slots=True)
class VenueMessage:
    """An error frame not tied to any topic or command of ours."""

    status: int | None
    error: str


@dataclass(frozen=True, slots=True)
class Info:
    """Any other non-table frame (the ``help`` reply, a ``cancelAllAfter`` answer)."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rows:
    """Rows of one table message after it was applied (only for tables in ``row_tables``).

    ``rows`` are the stored rows after an update (merged), the rows as received otherwise; book
    rows always carry their ``price``. ``symbol`` is the partial's symbol filter, if any.
    """

    table: str
    action: str
    rows: list[dict[str, Any]]
    symbol: str | None = None


PONG = Pong()
AUTHENTICATED = Authenticated()


@dataclass(slots=True)
class Counters:
    """BitMEX-specific counters of one protocol instance (all connections)."""

    discarded_rows: int = 0  # rows of a table/symbol before its partial
    unknown_keys: int = 0  # update/delete rows for a key the table did not hold
    partials: int = 0  # partial frames applied (each replaces state)
    errors: int = 0  # error frames received
    crossed: int = 0  # book messages that left a book crossed


class Storage:
    """Every table the connection has received, for inspection.

    ``tables[name]`` is a :class:`~.tables.Table` (generic), or for books a
    :class:`~.books.BookTable` / :class:`~.books.Book10Table`; ``books[symbol]`` is the
    :class:`~marketstreams.book.OrderBook`; ``rows(table, symbol)`` lists current rows.
    """

    __slots__ = ("books", "maxlen", "tables")

    def __init__(self, maxlen: int = 1000) -> None:
        self.maxlen = maxlen
        self.tables: dict[str, Table | BookTable | Book10Table] = {}
        self.books: dict[str, OrderBook] = {}

    def book(self, symbol: str) -> OrderBook:
        """The book of ``symbol``, created (invalid, empty) on first use."""
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = OrderBook(VENUE, symbol)
        return book

    def table(self, name: str) -> Table | BookTable | Book10Table:
        """The state of table ``name``, created empty on first use."""
        table = self.tables.get(name)
        if table is None:
            if name in BOOK_TABLES:
                table = BookTable(name, self.book)
            elif name in SNAPSHOT_BOOK_TABLES:
                table = Book10Table(name, self.book)
            else:
                table = Table(name, self.maxlen)
            self.tables[name] = table
        return table

    def rows(self, table: str, symbol: str | None = None) -> list[dict[str, Any]]:
        """Current rows of ``table`` (of ``symbol`` only, when given)."""
        state = self.tables.get(table)
        return [] if state is None else state.rows(symbol)

    @property
    def keys(self) -> dict[str, tuple[str, ...]]:
        """Each generic table's key fields, from its partial."""
        return {n: t.keys for n, t in self.tables.items() if isinstance(t, Table)}


class BitmexProtocol:
    """State of one logical BitMEX connection across reconnects (see the module docstring).

    ``topics`` are ``"table"`` or ``"table:SYMBOL"``. ``row_tables`` names the tables whose
    applied rows are also returned as :class:`Rows` events (``{"*"}`` for all). Raises
    :class:`~marketstreams.exceptions.MalformedFrameError` from :meth:`receive` for a frame that
    is not JSON or not of a documented shape; the state may then be out of sync (the feed
    reconnects).
    """

    def __init__(
        self,
        topics: Iterable[str] = (),
        *,
        api_key: str | None = None,
        api_secret: str | Secret | None = None,
        auth_path: str = "/realtime",
        auth_expiry: float = 60.0,
        table_maxlen: int = 1000,
        row_tables: Iterable[str] = (),
    ) -> None:
        if (api_key is None) != (api_secret is None):
            raise ValueError("give both api_key and api_secret, or neither")
        self._api_key = api_key
        self._api_secret = (
            api_secret
            if isinstance(api_secret, Secret) or api_secret is None
            else Secret(api_secret)
        )
        self.auth_path = auth_path
        self.auth_expiry = auth_expiry
        self.storage = Storage(table_maxlen)
        self._tables = self.storage.tables
        self.counters = Counters()
        self.row_tables: set[str] = set(row_tables)
        self.topics: dict[str, str] = {}  # topic -> "pending" | "sent" | "subscribed"
        self._book_sources: dict[str | None, str] = {}  # symbol (None: all) -> book table
        self._out: list[str] = []
        self.connected = False
        self.authenticated = False
        for topic in topics:
            self._add_topic(topic)

    def __repr__(self) -> str:
        auth = "authenticated" if self._api_key is not None else "public"
        return f"<BitmexProtocol {auth} topics={len(self.topics)} connected={self.connected}>"

    @property
    def has_credentials(self) -> bool:
        return self._api_key is not None

    def credentials(self) -> list[str]:
        """The key and secret in clear, for a recorder to scrub (empty without credentials)."""
        if self._api_key is None or self._api_secret is None:
            return []
        return [self._api_key, self._api_secret.value]

    @property
    def books(self) -> dict[str, OrderBook]:
        """Books by symbol (the same objects as ``storage.books``)."""
        return self.storage.books

    # -- outgoing ----------------------------------------------------------------------------

    def data_to_send(self) -> list[str]:
        """Frames queued for sending, oldest first; the queue is emptied."""
        out, self._out = self._out, []
        return out

    @property
    def has_data_to_send(self) -> bool:
        """True when :meth:`data_to_send` would return frames."""
        return bool(self._out)

    @property
    def ready_to_subscribe(self) -> bool:
        return self.connected and (self.authenticated or self._api_key is None)

    def _add_topic(self, topic: str) -> bool:
        table, symbol = split_topic(topic)
        if table in BOOK_TABLES or table in SNAPSHOT_BOOK_TABLES:
            for key in (symbol, None) if symbol is not None else list(self._book_sources):
                other = self._book_sources.get(key)
                if other is not None and other != table:
                    raise ValueError(
                        f"{topic}: the book of {symbol or 'every symbol'} already comes from "
                        f"{other}"
                    )
            self._book_sources[symbol] = table
        if topic in self.topics:
            return False
        self.topics[topic] = "pending"
        self.storage.table(table)
        return True

    def subscribe(self, *topics: str) -> None:
        """Add topics; their ``subscribe`` frames are queued now if connected (and
        authenticated when there are credentials), else on the next connection."""
        for topic in topics:
            if self._add_topic(topic) and self.ready_to_subscribe:
                self._send_subscribe(topic)

    def unsubscribe(self, *topics: str) -> None:
        """Remove topics; ``unsubscribe`` frames are queued for those the venue holds."""
        for topic in topics:
            state = self.topics.pop(topic, None)
            if state is None:
                continue
            table, symbol = split_topic(topic)
            if self._book_sources.get(symbol) == table:
                del self._book_sources[symbol]
            if self.connected and state in ("sent", "subscribed"):
                self._out.append(command("unsubscribe", [topic]))
            else:
                self._drop(topic)

    def _send_subscribe(self, topic: str) -> None:
        self.topics[topic] = "sent"
        self._out.append(command("subscribe", [topic]))

    def connection_made(self, now: float) -> None:
        """A new connection is open: authenticate first if there are credentials, else
        subscribe to every topic. ``now`` is the wall-clock time (epoch seconds)."""
        self.connected = True
        self.authenticated = False
        if self._api_key is not None and self._api_secret is not None:
            expires = int(now + self.auth_expiry)
            args = auth_args(self._api_key, self._api_secret.value, expires, self.auth_path)
            self._out.append(command("authKeyExpires", args))
        else:
            self._subscribe_all()

    def _subscribe_all(self) -> None:
        for topic in self.topics:
            self._send_subscribe(topic)

    def connection_lost(self, reason: str) -> list[Update]:
        """The connection is gone: every book becomes invalid until its new partial, every
        table discards rows until its new partial. Returns an update per book that was valid."""
        self.connected = False
        self.authenticated = False
        self._out.clear()
        for topic in self.topics:
            self.topics[topic] = "pending"
        return self._reset_tables(None, f"connection lost: {reason}")

    def _reset_tables(
        self, only: str | None, reason: str, symbol: str | None = None
    ) -> list[Update]:
        updates: list[Update] = []
        for name, table in self.storage.tables.items():
            if only is not None and name != only:
                continue
            if isinstance(table, Table):
                table.reset(symbol)
                continue
            if isinstance(table, BookTable):
                books = [
                    s.book
                    for s in table.states.values()
                    if symbol is None or s.book.market == symbol
                ]
                was_valid = [b for b in books if b.is_valid]
                table.reset(reason, symbol)
            else:
                was_valid = [
                    b for b in table.books.values() if b.is_valid and symbol in (None, b.market)
                ]
                table.reset(reason, symbol)
            updates.extend(Update(b) for b in was_valid)
        return updates

    def _drop(self, topic: str) -> list[Update]:
        table, symbol = split_topic(topic)
        return self._reset_tables(table, "unsubscribed", symbol)

    # -- incoming ----------------------------------------------------------------------------

    def receive(self, frame: str | bytes, received: float | None = None) -> list[Any]:
        """Apply one frame; returns its events in order.

        Book changes come as :class:`~marketstreams.models.Update` (one per changed symbol,
        ``snapshot=True`` for a partial), trades as updates of their symbol's book carrying
        :class:`~marketstreams.models.Trade` objects. ``received`` (epoch seconds) is stamped
        on changed books.
        """
        try:
            msg = _loads(frame)
        except _JSONDecodeError:
            if frame == "pong" or frame == b"pong":
                return [PONG]
            raise MalformedFrameError("frame is not JSON", frame) from None
        try:
            name = msg["table"]
            rows = msg["data"]
            action = msg["action"]
            table = self._tables.get(name)
        except (KeyError, TypeError):
            return self._not_table(msg, frame)
        if type(table) is not BookTable or self.row_tables:
            return self._table_message(name, action, rows, msg, frame, received)
        # The hot path: an orderBookL2 insert / update / delete, mostly of one row.
        try:
            if len(rows) == 1:
                if action == "update":
                    state = table.update_one(rows[0])
                    # Sizes changed at prices already in the book: it cannot have crossed.
                    check = table.repriced
                elif action == "insert":
                    state = table.insert_one(rows[0])
                    check = True
                elif action == "delete":
                    state = table.delete_one(rows[0])
                    check = False
                else:
                    return self._table_message(name, action, rows, msg, frame, received)
                changed: Iterable[L2Book] = () if state is None else (state,)
                if state is not None and "timestamp" in rows[0]:
                    table._stamp(changed, rows)
            elif action == "update":
                changed = table.update(rows)
                check = table.repriced
            elif action == "insert":
                changed = table.insert(rows)
                check = True
            elif action == "delete":
                changed = table.delete(rows)
                check = False
            else:
                return self._table_message(name, action, rows, msg, frame, received)
        except (KeyError, TypeError, AttributeError) as exc:
            raise _bad_row(name, str(action), exc, frame) from None
        if table.discarded or table.unknown:
            self._book_table_counts(table)
        events: list[Any] = []
        for state in changed:
            book = state.book
            book.received = received
            if check:
                table.repriced = False
                if book.is_crossed:
                    self._crossed(book)
            events.append(Update(book, [], False))
        return events

    def _not_table(self, msg: Any, frame: str | bytes) -> list[Any]:
        if type(msg) is not dict:
            raise MalformedFrameError("expected a JSON object", frame)
        if "table" in msg:
            raise MalformedFrameError("table frame without a valid table, action and data", frame)
        return self._control(msg, frame)

    def _crossed(self, book: OrderBook) -> None:
        book.crossed_updates += 1
        self.counters.crossed += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: book crossed: %s", book.market, book)

    def _book_table_counts(self, table: BookTable) -> None:
        if table.discarded:
            self.counters.discarded_rows += table.discarded
            table.discarded = 0
        if table.unknown:
            self._unknown(table.unknown)
            table.unknown = []

    def _table_message(
        self,
        name: str,
        action: Any,
        rows: Any,
        msg: dict[str, Any],
        frame: str | bytes,
        received: float | None,
    ) -> list[Any]:
        if type(rows) is not list or action not in _ACTIONS or type(name) is not str:
            raise MalformedFrameError("table frame without a valid action and data", frame)
        counters = self.counters
        table = self.storage.table(name)
        symbol = None
        if action == "partial":
            counters.partials += 1
            filt = msg.get("filter")
            symbol = filt.get("symbol") if type(filt) is dict else None
        events: list[Any] = []
        try:
            if type(table) is BookTable:
                if action == "partial":
                    changed = table.partial(rows, symbol)
                    snapshot = True
                else:
                    changed = table.apply(action, rows)
                    snapshot = False
                    self._book_table_counts(table)
                for state in changed:
                    book = state.book
                    book.received = received
                    if book.is_crossed:
                        self._crossed(book)
                    events.append(Update(book, [], snapshot))
            elif type(table) is Book10Table:
                books, discarded = table.apply(action, rows, symbol)
                counters.discarded_rows += discarded
                for book in books:
                    book.received = received
                    events.append(Update(book, [], action == "partial"))
            elif isinstance(table, Table):
                if action == "partial":
                    table.partial(rows, msg.get("keys") or (), msg.get("types"), symbol)
                else:
                    rows, discarded = table.apply(action, rows)
                    counters.discarded_rows += discarded
                    if table.unknown:
                        self._unknown(table.unknown)
                    if name == "trade" and action == "insert" and rows:
                        events.extend(self._trades(rows, received))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise _bad_row(name, str(action), exc, frame) from None
        if self.row_tables and (name in self.row_tables or "*" in self.row_tables):
            events.append(Rows(name, action, rows, symbol))
        return events

    def _trades(self, rows: list[dict[str, Any]], received: float | None) -> list[Update]:
        by_symbol: dict[str, list[Trade]] = {}
        for row in rows:
            trade = trade_from_row(row)
            by_symbol.setdefault(trade.market, []).append(trade)
        updates = []
        for symbol, trades in by_symbol.items():
            book = self.storage.book(symbol)
            updates.append(Update(book, trades))
        return updates

    def _unknown(self, unknown: list[UnknownRow]) -> None:
        """Count and log rows whose key the table did not hold (the rest of the message applied)."""
        self.counters.unknown_keys += len(unknown)
        name, symbol, action, key = unknown[0]
        logger.warning(
            "%s: %d %s row(s) with unknown keys skipped (first: %s %r); the rest applied",
            name,
            len(unknown),
            action,
            symbol,
            key,
        )

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        if self._api_secret:
            text = text.replace(self._api_secret.value, "***")
        return text

    def _control(self, msg: dict[str, Any], frame: str | bytes) -> list[Any]:
        if "error" in msg:
            return self._error(msg)
        if "success" in msg:
            if "subscribe" in msg:
                topic = str(msg["subscribe"])
                if topic in self.topics:
                    self.topics[topic] = "subscribed"
                return [Subscribed(topic)]
            if "unsubscribe" in msg:
                topic = str(msg["unsubscribe"])
                events: list[Any] = []
                if topic not in self.topics:  # not re-subscribed meanwhile
                    events.extend(self._drop(topic))
                events.append(Unsubscribed(topic))
                return events
            request = msg.get("request")
            op = request.get("op") if type(request) is dict else None
            if type(op) is str and op in _AUTH_OPS:
                if msg.get("success") is True:
                    self.authenticated = True
                    if self.connected:
                        self._subscribe_all()
                    return [AUTHENTICATED]
                return [AuthenticationFailed(None, "authentication not acknowledged")]
        if "info" in msg and ("version" in msg or "limit" in msg):
            limit = msg.get("limit")
            remaining = limit.get("remaining") if type(limit) is dict else None
            return [Welcome(str(msg["info"]), msg.get("version"), remaining)]
        return [Info(msg)]

    def _error(self, msg: dict[str, Any]) -> list[Any]:
        self.counters.errors += 1
        status = msg.get("status")
        status = status if type(status) is int else None
        error = self._redact(str(msg.get("error")))
        request = msg.get("request")
        op = request.get("op") if type(request) is dict else None
        if type(op) is not str:  # a venue echo we cannot route: report it, route nothing
            op = None
        if op in _AUTH_OPS:
            return [AuthenticationFailed(status, error)]
        if op in ("subscribe", "unsubscribe") and type(request) is dict:
            args = request.get("args")
            topics = [str(a) for a in args] if isinstance(args, list) else [str(args)]
            events: list[Any] = []
            for topic in topics:
                if op == "subscribe":
                    self.topics.pop(topic, None)
                    table, _, symbol = topic.partition(":")
                    if self._book_sources.get(symbol or None) == table:
                        del self._book_sources[symbol or None]
                events.append(SubscriptionFailed(topic, op, status, error))
            return events
        return [VenueMessage(status, error)]

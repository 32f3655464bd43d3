"""BitMEX book tables kept as price-sorted :class:`~marketstreams.book.OrderBook` objects.

``orderBookL2`` and ``orderBookL2_25`` rows are price levels keyed by ``(symbol, id, side)``.
Books are sorted by *price*, never by id (ids are arbitrary since BitMEX's 2023 change). Each row's
own ``price`` is used; when a row carries only its id (captures before 2023), the price comes from
an id-to-price map kept per side, and is written back into the row so that listeners see whole
rows. ``orderBook10`` rows are whole top-10 books and replace the book each time.

These classes are pure state: no I/O, no logging of their own; they return what changed and count
what they could not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sortedcontainers import SortedDict

from ...book import LevelWatch, OrderBook
from .parse import timestamp_ms

__all__ = ["Book10Table", "BookTable", "L2Book", "UnknownRow"]

BookFactory = Callable[[str], OrderBook]
_dict_set = dict.__setitem__
#: ``(table, symbol, action, id)`` of a row whose key the table did not know.
UnknownRow = tuple[str, str, str, Any]


class L2Book:
    """One symbol of an ``orderBookL2`` / ``orderBookL2_25`` table."""

    __slots__ = ("ask_ids", "asks", "bid_ids", "bids", "book", "ready", "watch", "watched")

    def __init__(self, book: OrderBook) -> None:
        self.book = book
        # every level change goes through BookTable's *_one and replace: changes at the prices
        # a reader watches are reported (OrderBook.level_watch); ``watched`` is its price set
        watch = book.level_watch
        if watch is None:
            watch = book.level_watch = LevelWatch()
        self.watch: LevelWatch = watch
        self.watched: set[Any] = watch.prices
        self.bids: SortedDict = book.bids
        self.asks: SortedDict = book.asks
        self.bid_ids: dict[Any, Any] = {}  # id -> price
        self.ask_ids: dict[Any, Any] = {}
        self.ready = False  # a partial arrived since the last reset

    def replace(
        self,
        bids: dict[Any, Any],
        asks: dict[Any, Any],
        bid_ids: dict[Any, Any],
        ask_ids: dict[Any, Any],
    ) -> None:
        """Replace the whole state (a partial): never merged into the old one."""
        book = self.book
        # The book may have been given fresh SortedDicts (e.g. by a copy); follow it.
        self.bids = book.bids
        self.asks = book.asks
        self.bids.clear()
        self.asks.clear()
        # Bulk update sorts once: much faster than one insertion per level.
        self.bids.update(bids)
        self.asks.update(asks)
        self.bid_ids = bid_ids
        self.ask_ids = ask_ids
        self.ready = True
        book.mark_valid()

    def reset(self, reason: str) -> None:
        """Forget the partial: rows are discarded and the book is invalid until the next one."""
        self.ready = False
        self.bid_ids = {}
        self.ask_ids = {}
        self.book.invalidate(reason)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The table rows this state stands for (for inspection), sells then buys, by price."""
        symbol = self.book.market
        out: list[dict[str, Any]] = []
        for side, ids, levels in (
            ("Sell", self.ask_ids, self.asks),
            ("Buy", self.bid_ids, self.bids),
        ):
            for rid, price in ids.items():
                size = levels.get(price)
                if size is not None:
                    out.append(
                        {"symbol": symbol, "id": rid, "side": side, "size": size, "price": price}
                    )
        out.sort(key=lambda r: -r["price"])
        return out


def _fill(
    rows: list[dict[str, Any]],
    bids: dict[Any, Any],
    asks: dict[Any, Any],
    bid_ids: dict[Any, Any],
    ask_ids: dict[Any, Any],
) -> None:
    """Levels and id maps of one symbol's partial rows."""
    for row in rows:
        price = row["price"]
        size = row["size"]
        if row["side"] == "Buy":
            bid_ids[row["id"]] = price
            if size > 0:
                bids[price] = size
        else:
            ask_ids[row["id"]] = price
            if size > 0:
                asks[price] = size


Group = tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]


def _fill_grouped(rows: list[dict[str, Any]], grouped: dict[str, Group]) -> None:
    """Levels and id maps of partial rows of any symbols, grouped by symbol."""
    last_symbol = None
    bids: dict[Any, Any] = {}
    asks: dict[Any, Any] = {}
    bid_ids: dict[Any, Any] = {}
    ask_ids: dict[Any, Any] = {}
    for row in rows:
        sym = row["symbol"]
        if sym != last_symbol:
            last_symbol = sym
            group = grouped.get(sym)
            if group is None:
                group = grouped[sym] = ({}, {}, {}, {})
            bids, asks, bid_ids, ask_ids = group
        price = row["price"]
        size = row["size"]
        if row["side"] == "Buy":
            bid_ids[row["id"]] = price
            if size > 0:
                bids[price] = size
        else:
            ask_ids[row["id"]] = price
            if size > 0:
                asks[price] = size


class BookTable:
    """``orderBookL2`` or ``orderBookL2_25``: partial / insert / update / delete into books."""

    __slots__ = ("_book_for", "all_symbols", "discarded", "name", "repriced", "states", "unknown")

    def __init__(self, name: str, book_for: BookFactory) -> None:
        self.name = name
        self._book_for = book_for
        self.states: dict[str, L2Book] = {}
        self.all_symbols = False  # a partial without a symbol filter arrived
        # Left for the caller to read and reset (the hot path does not pay for clearing them):
        self.unknown: list[UnknownRow] = []  # rows skipped because their key was unknown
        self.discarded = 0  # rows discarded because their symbol had no partial
        self.repriced = False  # an update moved a level to another price (it may cross)

    def _state(self, symbol: str) -> L2Book:
        state = self.states.get(symbol)
        if state is None:
            state = self.states[symbol] = L2Book(self._book_for(symbol))
        return state

    def partial(self, rows: list[dict[str, Any]], symbol: str | None) -> list[L2Book]:
        """Apply a partial: it replaces the state of ``symbol`` (every symbol when None), even
        when it has no rows. Returns the replaced states."""
        grouped: dict[str, Group] = {}
        if symbol is not None:
            grouped[symbol] = ({}, {}, {}, {})
        else:
            self.all_symbols = True
            for name in self.states:
                grouped[name] = ({}, {}, {}, {})
        if symbol is not None and rows and rows[0]["symbol"] == rows[-1]["symbol"] == symbol:
            # A filtered partial, its rows grouped by symbol ("parted"): first and last name the
            # filter's symbol, so all of them do. One tight pass, no per-row symbol check.
            _fill(rows, *grouped[symbol])
        else:
            _fill_grouped(rows, grouped)
        replaced = []
        timestamp = timestamp_ms(rows[-1].get("timestamp")) if rows else None
        for sym, group in grouped.items():
            state = self._state(sym)
            state.replace(*group)
            if timestamp is not None:
                state.book.timestamp = timestamp
            replaced.append(state)
        return replaced

    def apply(self, action: str, rows: list[dict[str, Any]]) -> list[L2Book]:
        """Apply an ``insert``, ``update`` or ``delete``; returns the states that changed, in
        order of first appearance.

        Rows of a symbol that has had no partial are counted in :attr:`discarded`; rows whose
        key is unknown are skipped and listed in :attr:`unknown`; the rest still applies.
        """
        if action == "update":
            return self.update(rows)
        if action == "insert":
            return self.insert(rows)
        if action == "delete":
            return self.delete(rows)
        raise ValueError(f"unknown action {action!r}")

    def _ready(self, symbol: str) -> L2Book | None:
        state = self.states.get(symbol)
        if state is None:
            if not self.all_symbols:
                return None
            state = self._state(symbol)  # listed after the whole-table partial
            state.ready = True
            state.book.mark_valid()
        return state if state.ready else None

    # The hot path: one row at a time, locals only, OrderBook.set_level's semantics (a size of
    # zero or less removes the level) inlined. Each returns the state it changed, or None when
    # the row was discarded (no partial yet) or skipped (unknown key).

    def update_one(self, row: dict[str, Any]) -> L2Book | None:
        """Apply one ``update`` row: a new size for a known level."""
        symbol = row["symbol"]
        state = self.states.get(symbol)
        if state is None or not state.ready:
            state = self._ready(symbol)
            if state is None:
                self.discarded += 1
                return None
        if row["side"] == "Buy":
            ids = state.bid_ids
            levels = state.bids
        else:
            ids = state.ask_ids
            levels = state.asks
        rid = row["id"]
        old = ids.get(rid)
        if old is None:
            self.unknown.append((self.name, symbol, "update", rid))
            return None
        price = row.get("price")
        if price is None:
            price = row["price"] = old
        elif price != old:
            levels.pop(old, None)
            ids[rid] = price
            self.repriced = True
        size = row.get("size")
        if size is not None:
            if size <= 0:
                levels.pop(price, None)
            elif price in levels:
                # The key is already in the sorted key list: only the value changes.
                _dict_set(levels, price, size)
            else:
                levels[price] = size
        watched = state.watched
        if watched and (price in watched or old in watched):
            state.watch.changes += 1
        return state

    def insert_one(self, row: dict[str, Any]) -> L2Book | None:
        """Apply one ``insert`` row: a new level."""
        symbol = row["symbol"]
        state = self.states.get(symbol)
        if state is None or not state.ready:
            state = self._ready(symbol)
            if state is None:
                self.discarded += 1
                return None
        if row["side"] == "Buy":
            ids = state.bid_ids
            levels = state.bids
        else:
            ids = state.ask_ids
            levels = state.asks
        rid = row["id"]
        price = row["price"]
        old = ids.get(rid)
        if old is not None and old != price:
            levels.pop(old, None)
        ids[rid] = price
        size = row["size"]
        if size > 0:
            levels[price] = size
        else:
            levels.pop(price, None)
        watched = state.watched
        if watched and (price in watched or old in watched):
            state.watch.changes += 1
        return state

    def delete_one(self, row: dict[str, Any]) -> L2Book | None:
        """Apply one ``delete`` row: a level gone."""
        symbol = row["symbol"]
        state = self.states.get(symbol)
        if state is None or not state.ready:
            state = self._ready(symbol)
            if state is None:
                self.discarded += 1
                return None
        rid = row["id"]
        if row["side"] == "Buy":
            old = state.bid_ids.pop(rid, None)
            levels = state.bids
        else:
            old = state.ask_ids.pop(rid, None)
            levels = state.asks
        if old is None:
            self.unknown.append((self.name, symbol, "delete", rid))
            return None
        if "price" not in row:
            row["price"] = old
        levels.pop(old, None)
        watched = state.watched
        if watched and old in watched:
            state.watch.changes += 1
        return state

    def update(self, rows: list[dict[str, Any]]) -> list[L2Book]:
        """Apply an ``update`` message (see :meth:`apply`)."""
        return self._each(self.update_one, rows)

    def insert(self, rows: list[dict[str, Any]]) -> list[L2Book]:
        """Apply an ``insert`` message (see :meth:`apply`)."""
        return self._each(self.insert_one, rows)

    def delete(self, rows: list[dict[str, Any]]) -> list[L2Book]:
        """Apply a ``delete`` message (see :meth:`apply`)."""
        return self._each(self.delete_one, rows)

    def _each(
        self, apply_one: Callable[[dict[str, Any]], L2Book | None], rows: list[dict[str, Any]]
    ) -> list[L2Book]:
        changed: list[L2Book] = []
        for row in rows:
            state = apply_one(row)
            if state is not None and state not in changed:
                changed.append(state)
        if changed and "timestamp" in rows[-1]:
            self._stamp(changed, rows)
        return changed

    @staticmethod
    def _stamp(changed: Iterable[L2Book], rows: list[dict[str, Any]]) -> None:
        """Venue time of the message (its last row's ``timestamp``) on the changed books."""
        ts = rows[-1].get("timestamp")
        if ts is not None:
            timestamp = timestamp_ms(ts)
            for state in changed:
                state.book.timestamp = timestamp

    def reset(self, reason: str, symbol: str | None = None) -> list[L2Book]:
        """Forget partials (of ``symbol``, or all): books invalid until the next partial."""
        if symbol is None:
            self.all_symbols = False
            targets: Iterable[L2Book] = list(self.states.values())
        else:
            state = self.states.get(symbol)
            targets = [] if state is None else [state]
        for state in targets:
            state.reset(reason)
        return list(targets)

    def rows(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Current rows (of one symbol, or all), rebuilt from the books and id maps."""
        names = list(self.states) if symbol is None else [symbol]
        out: list[dict[str, Any]] = []
        for name in names:
            state = self.states.get(name)
            if state is not None and state.ready:
                out.extend(state.rows(self.name))
        return out


class Book10Table:
    """``orderBook10``: every row is the whole top 10 of one symbol and replaces its book."""

    __slots__ = ("_book_for", "all_symbols", "books", "name", "ready")

    def __init__(self, name: str, book_for: BookFactory) -> None:
        self.name = name
        self._book_for = book_for
        self.books: dict[str, OrderBook] = {}
        self.ready: set[str] = set()
        self.all_symbols = False

    def apply(
        self, action: str, rows: list[dict[str, Any]], symbol: str | None = None
    ) -> tuple[list[OrderBook], int]:
        """Apply any action; returns the books replaced and the rows discarded (no partial)."""
        changed: list[OrderBook] = []
        discarded = 0
        if action == "partial":
            if symbol is None:
                self.all_symbols = True
            else:
                self.ready.add(symbol)
                book = self._book(symbol)
                book.clear()
                book.mark_valid()
                changed.append(book)
        for row in rows:
            sym = row["symbol"]
            if action == "partial":
                self.ready.add(sym)
            elif sym not in self.ready and not self.all_symbols:
                discarded += 1
                continue
            book = self._book(sym)
            if action == "delete":
                book.clear()
            else:
                book.clear()
                book.bids.update({p: s for p, s in row.get("bids") or () if s > 0})
                book.asks.update({p: s for p, s in row.get("asks") or () if s > 0})
            book.timestamp = timestamp_ms(row.get("timestamp"))
            book.mark_valid()
            if book not in changed:
                changed.append(book)
        return changed, discarded

    def _book(self, symbol: str) -> OrderBook:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = self._book_for(symbol)
        return book

    def reset(self, reason: str, symbol: str | None = None) -> list[OrderBook]:
        """Forget partials (of ``symbol``, or all): books invalid until the next partial."""
        if symbol is None:
            self.ready.clear()
            self.all_symbols = False
            targets = list(self.books.values())
        else:
            self.ready.discard(symbol)
            targets = [self.books[symbol]] if symbol in self.books else []
        for book in targets:
            book.invalidate(reason)
        return targets

    def rows(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Current rows: ``{symbol, bids, asks, timestamp}`` per ready symbol."""
        out = []
        for sym, book in self.books.items():
            if (symbol is None or sym == symbol) and book.is_valid:
                out.append(
                    {
                        "symbol": sym,
                        "bids": book.top("bid", 10),
                        "asks": book.top("ask", 10),
                        "timestamp": book.timestamp,
                    }
                )
        return out

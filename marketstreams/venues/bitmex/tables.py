"""The generic BitMEX table engine: partial / insert / update / delete for any table.

Rows are keyed by the ``keys`` of the table's partial. A table with no keys (``trade``,
``quote``) is a log: inserts append, and only the newest ``maxlen`` rows per symbol are kept.
State is scoped per symbol: a partial with a symbol filter replaces that symbol's rows, one
without replaces the whole table. Rows of a symbol that has had no partial are discarded and
counted; updates and deletes of unknown keys are skipped, listed, and the rest of the message
still applies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from .books import UnknownRow

__all__ = ["Table"]

ALL = "*"  # the scope of a partial without a symbol filter


class Table:
    """The state of one BitMEX table, for any table name."""

    __slots__ = ("_logs", "_rows", "keys", "maxlen", "name", "scopes", "types", "unknown")

    def __init__(self, name: str, maxlen: int = 1000) -> None:
        self.name = name
        self.maxlen = maxlen
        self.keys: tuple[str, ...] = ()
        self.types: dict[str, str] = {}
        self.scopes: set[str] = set()  # symbols (or ALL) whose partial has arrived
        self._rows: dict[str | None, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self._logs: dict[str | None, deque[dict[str, Any]]] = {}
        self.unknown: list[UnknownRow] = []

    def ready(self, symbol: str | None) -> bool:
        """True once rows of ``symbol`` are accepted (its partial, or a whole-table one, came)."""
        return ALL in self.scopes or symbol in self.scopes

    def partial(
        self,
        rows: list[dict[str, Any]],
        keys: Iterable[str] = (),
        types: dict[str, str] | None = None,
        symbol: str | None = None,
    ) -> None:
        """Replace the rows of ``symbol`` (the whole table when None), even with no rows."""
        self.keys = tuple(keys)
        if types:
            self.types = dict(types)
        if symbol is None:
            self.scopes = {ALL}
            self._rows.clear()
            self._logs.clear()
        else:
            self.scopes.add(symbol)
            self._rows.pop(symbol, None)
            self._logs.pop(symbol, None)
        self._insert(rows)

    def apply(self, action: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """Apply ``insert`` / ``update`` / ``delete``.

        Returns the rows as stored after the change (merged rows for updates, the deleted rows
        for deletes) and the number of rows discarded because their symbol had no partial.
        """
        if self.unknown:
            self.unknown = []
        accepted: list[dict[str, Any]] = []
        discarded = 0
        for row in rows:
            if self.ready(row.get("symbol")):
                accepted.append(row)
            else:
                discarded += 1
        if action == "insert":
            return self._insert(accepted), discarded
        if action == "update":
            return self._update(accepted), discarded
        if action == "delete":
            return self._delete(accepted), discarded
        raise ValueError(f"unknown action {action!r}")

    def _key(self, row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(k) for k in self.keys)

    def _insert(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.keys:
            for row in rows:
                symbol = row.get("symbol")
                log = self._logs.get(symbol)
                if log is None:
                    log = self._logs[symbol] = deque(maxlen=self.maxlen)
                log.append(row)
            return rows
        for row in rows:
            symbol = row.get("symbol")
            store = self._rows.get(symbol)
            if store is None:
                store = self._rows[symbol] = {}
            store[self._key(row)] = row
        return rows

    def _update(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            symbol = row.get("symbol")
            stored = self._find(symbol, row)
            if stored is None:
                self.unknown.append((self.name, str(symbol), "update", self._key(row)))
                continue
            stored.update(row)
            out.append(stored)
        return out

    def _delete(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            symbol = row.get("symbol")
            store = self._rows.get(symbol)
            stored = None if store is None else store.pop(self._key(row), None)
            if stored is None:
                self.unknown.append((self.name, str(symbol), "delete", self._key(row)))
                continue
            out.append(stored)
        return out

    def _find(self, symbol: str | None, row: dict[str, Any]) -> dict[str, Any] | None:
        if not self.keys:
            return None  # a log has no keys to update by
        store = self._rows.get(symbol)
        return None if store is None else store.get(self._key(row))

    def reset(self, symbol: str | None = None) -> None:
        """Forget the partial (of ``symbol``, or all): rows are discarded until the next one.

        The rows already stored stay readable until that partial replaces them.
        """
        if symbol is None:
            self.scopes.clear()
        else:
            self.scopes.discard(symbol)

    def rows(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """The stored rows, of one symbol or all of them (logs oldest first)."""
        out: list[dict[str, Any]] = []
        for sym, store in self._rows.items():
            if symbol is None or sym == symbol:
                out.extend(store.values())
        for sym, log in self._logs.items():
            if symbol is None or sym == symbol:
                out.extend(log)
        return out

    def find(self, **match: Any) -> list[dict[str, Any]]:
        """Rows whose fields equal every ``match`` item: ``table.find(symbol="XBTUSD")``."""
        return [
            r
            for r in self.rows(match.get("symbol"))
            if all(r.get(k) == v for k, v in match.items())
        ]

    def __len__(self) -> int:
        return sum(len(s) for s in self._rows.values()) + sum(len(q) for q in self._logs.values())

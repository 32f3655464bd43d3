"""orderBookL2 / orderBookL2_25 / orderBook10 into price-sorted books, from literal frames."""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest

from marketstreams.models import Update
from marketstreams.venues import bitmex
from marketstreams.venues.bitmex import BitmexProtocol, Rows

PARTIAL_KEYS = {"keys": ["symbol", "id", "side"], "types": {}, "foreignKeys": {}, "attributes": {}}


def frame(table: str, action: str, data: list[dict[str, Any]], **extra: Any) -> str:
    return orjson.dumps({"table": table, "action": action, "data": data, **extra}).decode()


def partial(symbol: str, rows: list[dict[str, Any]], table: str = "orderBookL2") -> str:
    return frame(table, "partial", rows, filter={"symbol": symbol}, **PARTIAL_KEYS)


def level(
    symbol: str, rid: int, side: str, size: int | None, price: float | None
) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": symbol, "id": rid, "side": side}
    if size is not None:
        row["size"] = size
    if price is not None:
        row["price"] = price
    return row


def updates(events: list[Any]) -> list[Update]:
    return [e for e in events if isinstance(e, Update)]


XBT_PARTIAL = partial(
    "XBTUSD",
    [
        # Ids deliberately *not* in price order: books must sort by price.
        level("XBTUSD", 7, "Sell", 30, 101.0),
        level("XBTUSD", 3, "Sell", 10, 100.5),
        level("XBTUSD", 9, "Buy", 20, 100.0),
        level("XBTUSD", 1, "Buy", 40, 99.5),
    ],
)


@pytest.fixture
def proto() -> BitmexProtocol:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.receive(XBT_PARTIAL)
    return p


def test_partial_builds_price_sorted_valid_book(proto: BitmexProtocol) -> None:
    book = proto.books["XBTUSD"]
    assert book.is_valid
    assert book.venue == "bitmex" and book.market == "XBTUSD"
    assert book.depth() == {
        "bids": [[100.0, 20], [99.5, 40]],
        "asks": [[100.5, 10], [101.0, 30]],
    }


def test_partial_event_is_snapshot_update() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    events = p.receive(XBT_PARTIAL, received=123.5)
    [update] = updates(events)
    assert update.snapshot is True
    assert update.trades == []
    assert update.book is p.books["XBTUSD"]
    assert update.book.received == 123.5


def test_2024_rows_carry_price_and_timestamp(proto: BitmexProtocol) -> None:
    [update] = proto.receive(
        frame(
            "orderBookL2",
            "update",
            [
                {
                    "symbol": "XBTUSD",
                    "id": 9,
                    "side": "Buy",
                    "size": 25,
                    "price": 100.0,
                    "timestamp": "2024-11-24T08:26:22.356Z",
                    "transactTime": "2024-11-24T08:26:22.275Z",
                }
            ],
        )
    )
    assert update.snapshot is False
    assert update.book.best_bid() == (100.0, 25)
    assert update.book.timestamp == 1732436782356


def test_id_only_update_and_delete_use_the_id_to_price_map(proto: BitmexProtocol) -> None:
    proto.receive(frame("orderBookL2", "update", [level("XBTUSD", 3, "Sell", 11, None)]))
    proto.receive(frame("orderBookL2", "delete", [level("XBTUSD", 1, "Buy", None, None)]))
    book = proto.books["XBTUSD"]
    assert book.depth() == {"bids": [[100.0, 20]], "asks": [[100.5, 11], [101.0, 30]]}


def test_insert_between_levels_keeps_price_order(proto: BitmexProtocol) -> None:
    # An id larger than every other, at a price in the middle of the asks.
    proto.receive(frame("orderBookL2", "insert", [level("XBTUSD", 99, "Sell", 5, 100.75)]))
    assert proto.books["XBTUSD"].top("ask") == [[100.5, 10], [100.75, 5], [101.0, 30]]
    proto.receive(frame("orderBookL2", "delete", [level("XBTUSD", 99, "Sell", None, 100.75)]))
    assert proto.books["XBTUSD"].top("ask") == [[100.5, 10], [101.0, 30]]


def test_update_to_zero_size_removes_the_level(proto: BitmexProtocol) -> None:
    proto.receive(frame("orderBookL2", "update", [level("XBTUSD", 9, "Buy", 0, None)]))
    assert proto.books["XBTUSD"].top("bid") == [[99.5, 40]]


def test_unknown_id_is_counted_logged_and_the_rest_still_applies(
    proto: BitmexProtocol, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="marketstreams.bitmex"):
        events = proto.receive(
            frame(
                "orderBookL2",
                "update",
                [
                    level("XBTUSD", 3, "Sell", 12, None),
                    level("XBTUSD", 424242, "Buy", 77, None),  # never inserted
                    level("XBTUSD", 9, "Buy", 21, None),
                ],
            )
        )
        proto.receive(
            frame(
                "orderBookL2",
                "delete",
                [
                    level("XBTUSD", 515151, "Sell", None, None),
                    level("XBTUSD", 7, "Sell", None, None),
                ],
            )
        )
    assert len(updates(events)) == 1
    book = proto.books["XBTUSD"]
    assert book.depth() == {"bids": [[100.0, 21], [99.5, 40]], "asks": [[100.5, 12]]}
    assert book.is_valid
    assert proto.counters.unknown_keys == 2
    assert "424242" in caplog.text and "515151" in caplog.text


def test_rows_before_the_partial_are_discarded_and_counted() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    early = p.receive(frame("orderBookL2", "insert", [level("XBTUSD", 5, "Buy", 1, 50.0)]))
    assert updates(early) == []
    assert p.counters.discarded_rows == 1
    p.receive(XBT_PARTIAL)
    assert 50.0 not in p.books["XBTUSD"].bids


def test_repeated_partial_replaces_never_merges(proto: BitmexProtocol) -> None:
    proto.receive(
        partial(
            "XBTUSD", [level("XBTUSD", 100, "Buy", 1, 90.0), level("XBTUSD", 101, "Sell", 2, 95.0)]
        )
    )
    book = proto.books["XBTUSD"]
    assert book.depth() == {"bids": [[90.0, 1]], "asks": [[95.0, 2]]}
    # The old ids are gone with the old state.
    proto.receive(frame("orderBookL2", "update", [level("XBTUSD", 3, "Sell", 99, None)]))
    assert proto.counters.unknown_keys == 1
    assert book.depth() == {"bids": [[90.0, 1]], "asks": [[95.0, 2]]}


def test_empty_partial_empties_the_book_and_keeps_it_valid(proto: BitmexProtocol) -> None:
    [update] = proto.receive(partial("XBTUSD", []))
    assert update.snapshot is True
    assert len(update.book) == 0
    assert update.book.is_valid


def test_one_update_per_changed_symbol() -> None:
    p = BitmexProtocol(["orderBookL2"])
    p.receive(
        frame(
            "orderBookL2",
            "partial",
            [level("XBTUSD", 1, "Buy", 5, 100.0), level("ETHUSD", 2, "Sell", 6, 3000.0)],
            filter={},
            **PARTIAL_KEYS,
        )
    )
    events = p.receive(
        frame(
            "orderBookL2",
            "update",
            [
                level("XBTUSD", 1, "Buy", 7, None),
                level("ETHUSD", 2, "Sell", 8, None),
                level("XBTUSD", 1, "Buy", 9, None),
            ],
        )
    )
    assert [u.book.market for u in updates(events)] == ["XBTUSD", "ETHUSD"]
    assert p.books["XBTUSD"].best_bid() == (100.0, 9)
    # A symbol listed after a whole-table partial is accepted.
    p.receive(frame("orderBookL2", "insert", [level("SOLUSDT", 3, "Buy", 1, 20.0)]))
    assert p.books["SOLUSDT"].is_valid
    assert p.books["SOLUSDT"].best_bid() == (20.0, 1)


def test_crossed_book_is_counted() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.receive(XBT_PARTIAL)
    p.receive(frame("orderBookL2", "insert", [level("XBTUSD", 50, "Buy", 1, 100.5)]))
    assert p.books["XBTUSD"].crossed_updates == 1
    assert p.counters.crossed == 1


def test_row_events_carry_the_price_of_id_only_rows() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"], row_tables=["orderBookL2"])
    p.receive(XBT_PARTIAL)
    events = p.receive(frame("orderBookL2", "update", [level("XBTUSD", 3, "Sell", 11, None)]))
    [rows] = [e for e in events if isinstance(e, Rows)]
    assert rows.table == "orderBookL2" and rows.action == "update"
    assert rows.rows == [{"symbol": "XBTUSD", "id": 3, "side": "Sell", "size": 11, "price": 100.5}]


def test_storage_rows_rebuilt_from_book(proto: BitmexProtocol) -> None:
    rows = proto.storage.rows("orderBookL2", "XBTUSD")
    assert [(r["id"], r["price"], r["size"]) for r in rows] == [
        (7, 101.0, 30),
        (3, 100.5, 10),
        (9, 100.0, 20),
        (1, 99.5, 40),
    ]


def test_orderbook_l2_25_works_the_same() -> None:
    p = BitmexProtocol(["orderBookL2_25:XBTUSD"])
    p.receive(partial("XBTUSD", [level("XBTUSD", 1, "Buy", 5, 100.0)], table="orderBookL2_25"))
    p.receive(frame("orderBookL2_25", "update", [level("XBTUSD", 1, "Buy", 6, None)]))
    assert p.books["XBTUSD"].depth() == {"bids": [[100.0, 6]], "asks": []}


def test_two_book_tables_for_one_symbol_are_refused() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    with pytest.raises(ValueError, match="already comes from orderBookL2"):
        p.subscribe("orderBook10:XBTUSD")
    p.subscribe("orderBook10:ETHUSD")  # another symbol is fine
    assert "orderBook10:ETHUSD" in p.topics


def test_orderbook10_rows_replace_the_whole_book(nautilus_row: Any) -> None:
    row = nautilus_row("nautilus_ws_orderbook10_row_2024.json")
    p = BitmexProtocol(["orderBook10:XBTUSD"])
    [snap] = p.receive(
        frame("orderBook10", "partial", [row], keys=["symbol"], filter={"symbol": "XBTUSD"})
    )
    assert snap.snapshot and snap.book.is_valid
    assert snap.book.best_bid() == (98490.3, 22400)
    assert snap.book.best_ask() == (98490.4, 17600)
    assert len(snap.book.bids) == 10 and len(snap.book.asks) == 10
    assert snap.book.timestamp == 1732436353513
    newer = {"symbol": "XBTUSD", "bids": [[98000.0, 1]], "asks": [[98001.0, 2]], "timestamp": None}
    [upd] = p.receive(frame("orderBook10", "update", [newer]))
    assert upd.book.depth() == {"bids": [[98000.0, 1]], "asks": [[98001.0, 2]]}


def test_orderbook10_rows_before_partial_are_discarded() -> None:
    p = BitmexProtocol(["orderBook10:XBTUSD"])
    row = {"symbol": "XBTUSD", "bids": [[1.0, 1]], "asks": [[2.0, 1]]}
    assert p.receive(frame("orderBook10", "update", [row])) == []
    assert p.counters.discarded_rows == 1


def test_partial_rows_of_other_symbols_are_filed_under_their_own() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.receive(
        partial(
            "XBTUSD",
            [level("XBTUSD", 1, "Buy", 5, 100.0), level("ETHUSD", 2, "Sell", 6, 3000.0)],
        )
    )
    assert p.books["XBTUSD"].depth() == {"bids": [[100.0, 5]], "asks": []}
    assert p.books["ETHUSD"].depth() == {"bids": [], "asks": [[3000.0, 6]]}


def test_partial_levels_of_zero_size_are_not_stored() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.receive(
        partial("XBTUSD", [level("XBTUSD", 1, "Buy", 0, 100.0), level("XBTUSD", 2, "Buy", 3, 99.0)])
    )
    assert p.books["XBTUSD"].depth() == {"bids": [[99.0, 3]], "asks": []}
    # The zero-size level's id is still known: a later update revives it.
    p.receive(frame("orderBookL2", "update", [level("XBTUSD", 1, "Buy", 7, None)]))
    assert p.books["XBTUSD"].depth() == {"bids": [[100.0, 7], [99.0, 3]], "asks": []}


def test_books_use_only_sortedcontainers_public_interface() -> None:
    """The BitMEX protocol and books read and change ``SortedDict`` sides through its public
    methods and views only (``keys()`` indexing, ``peekitem``...), never its inner lists."""
    inner = {"_list", "_lists", "_keys", "_maxes", "_index", "_offset", "_load", "_len", "_dict"}
    found = []
    for path in sorted(Path(bitmex.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in inner:
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert found == []

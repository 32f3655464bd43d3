"""Whole recordings through the live path: the real 2021 capture and BitMEX's official fixtures.

The capture is replayed frame by frame through ``BitmexProtocol.receive`` (what the feed calls
for every socket frame). After every message each changed book is checked: valid, never crossed,
no size of zero or less at any level the message touched (the whole book after a partial), and
its top 25 levels equal an independent id-keyed model of the table. At the end every whole book
equals the model.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from marketstreams.book import OrderBook
from marketstreams.models import Update
from marketstreams.venues.bitmex import BitmexProtocol
from marketstreams.venues.bitmex.capture import iter_received

Model = dict[str, dict[tuple[Any, str], list[Any]]]  # symbol -> (id, side) -> [price, size]


def apply_to_model(model: Model, msg: dict[str, Any]) -> set[Any]:
    """The table semantics written the obvious way (keyed by id, like the official connector).

    Returns the prices the message touched."""
    action = msg["action"]
    if action == "partial":
        for symbol in {r["symbol"] for r in msg["data"]} | {msg.get("filter", {}).get("symbol")}:
            if symbol is not None:
                model[symbol] = {}
    prices = set()
    for row in msg["data"]:
        rows = model[row["symbol"]]
        key = (row["id"], row["side"])
        if action in ("partial", "insert"):
            rows[key] = [row["price"], row["size"]]
        elif action == "update":
            rows[key][1] = row["size"]
        else:
            prices.add(rows.pop(key)[0])
            continue
        prices.add(rows[key][0])
    return prices


def model_depth(
    rows: dict[tuple[Any, str], list[Any]], n: int | None
) -> dict[str, list[list[Any]]]:
    bids = [[p, s] for (_, side), (p, s) in rows.items() if side == "Buy" and s > 0]
    asks = [[p, s] for (_, side), (p, s) in rows.items() if side == "Sell" and s > 0]
    if n is None:
        return {"bids": sorted(bids, reverse=True), "asks": sorted(asks)}
    return {"bids": heapq.nlargest(n, bids), "asks": heapq.nsmallest(n, asks)}


def check_integrity(book: OrderBook, prices: set[Any] | None = None) -> None:
    """Valid, not crossed, and no level of size zero or less (at ``prices``, or anywhere)."""
    assert book.is_valid, book
    assert not book.is_crossed, book
    if prices is None:
        assert all(v > 0 for v in book.bids.values()), book
        assert all(v > 0 for v in book.asks.values()), book
    else:
        for price in prices:
            assert book.bids.get(price, 1) > 0 and book.asks.get(price, 1) > 0, (book, price)


def test_replay_whole_2021_capture(capture_path: Path) -> None:
    proto = BitmexProtocol()
    model: Model = defaultdict(dict)
    book_frames = updates = trades = trade_rows = 0
    for received, frame in iter_received(capture_path):
        events = proto.receive(frame, received)
        msg = orjson.loads(frame)
        if msg.get("table") != "orderBookL2":
            trades += sum(len(e.trades) for e in events if isinstance(e, Update))
            if msg.get("table") == "trade" and msg["action"] == "insert":
                trade_rows += len(msg["data"])
            continue
        book_frames += 1
        prices = apply_to_model(model, msg)
        changed = [e for e in events if isinstance(e, Update)]
        assert {u.book.market for u in changed} == {r["symbol"] for r in msg["data"]}
        updates += len(changed)
        for update in changed:
            book = update.book
            assert update.snapshot == (msg["action"] == "partial")
            assert book.received == received
            check_integrity(book, None if update.snapshot else prices)
            # Rebuilding the model's top of a 9,000-level book costs milliseconds: do it for
            # every message of the smaller books, every 20th of the large one, and at the end.
            if len(book) < 2000 or book_frames % 20 == 0:
                assert book.depth(25) == model_depth(model[book.market], 25)
    assert book_frames == 1979
    assert updates >= book_frames
    # Every inserted trade row, and only those (partials are history, not new trades).
    assert trades == trade_rows == 17
    assert proto.counters.unknown_keys == 0
    assert proto.counters.discarded_rows == 0
    assert proto.counters.crossed == 0
    assert sorted(proto.books) == sorted(model)
    assert len(proto.books) == 10
    for symbol, book in proto.books.items():
        check_integrity(book)
        assert book.depth() == model_depth(model[symbol], None), symbol
    xbt = proto.books["XBTUSD"]
    assert xbt.best_bid() == (32186.5, 1407700)
    assert xbt.best_ask() == (32187, 36000)
    assert len(xbt) == 9352


def test_official_fixture_repeated_and_empty_partials(official_fixtures: dict[str, Any]) -> None:
    proto = BitmexProtocol(["orderBookL2_25:XBTUSD", "orderBookL2_25:ETHYLDH23"])
    seen: list[tuple[str, bool, bool, int]] = []
    for msg in official_fixtures["orderbookSymboledEmptyPartial"]:
        for event in proto.receive(orjson.dumps(msg)):
            if isinstance(event, Update):
                seen.append(
                    (event.book.market, event.snapshot, event.book.is_valid, len(event.book))
                )
    assert seen == [
        ("XBTUSD", True, True, 2),
        ("ETHYLDH23", True, True, 1),
        ("XBTUSD", False, True, 2),  # id-only 2023 update applied via the id map
        ("XBTUSD", True, True, 2),  # repeated partial: replaced, not merged
        ("ETHYLDH23", True, True, 0),  # empty partial: an empty, valid book
        ("XBTUSD", False, True, 2),  # update of an id from the *new* partial
    ]
    xbt = proto.books["XBTUSD"]
    assert xbt.depth() == {"bids": [[22078, 202500]], "asks": [[22077.5, 77300]]}
    # The fixture's second partial is crossed; it is applied as sent and counted.
    assert xbt.crossed_updates >= 1
    assert proto.counters.unknown_keys == 0
    eth = proto.books["ETHYLDH23"]
    assert eth.is_valid and len(eth) == 0


def test_official_fixture_empty_order_partial_then_inserts(
    official_fixtures: dict[str, Any],
) -> None:
    for name in ("orderEmptyPartial", "orderSymboledEmptyPartial"):
        proto = BitmexProtocol(["order"])
        for msg in official_fixtures[name]:
            proto.receive(orjson.dumps(msg))
        inserts = [m for m in official_fixtures[name] if m.get("action") == "insert"]
        expected = [r["orderID"] for m in inserts for r in m["data"]]
        assert expected  # the fixture does insert after its empty partial
        assert [r["orderID"] for r in proto.storage.rows("order")] == expected
        assert proto.storage.keys["order"] == ("orderID",)


def test_official_fixture_trade_partials(official_fixtures: dict[str, Any]) -> None:
    proto = BitmexProtocol(["trade"])
    for msg in official_fixtures["basicTradeInsert"]:
        assert [e for e in proto.receive(orjson.dumps(msg)) if isinstance(e, Update)] == []
    assert len(proto.storage.rows("trade")) == 129
    symbols = {r["symbol"] for r in proto.storage.rows("trade")}
    assert "XBTUSD" in symbols and len(symbols) > 10


def test_official_help_reply_is_info(official_fixtures: dict[str, Any]) -> None:
    [event] = BitmexProtocol().receive(orjson.dumps(official_fixtures["websocketHelp"]))
    assert "orderBookL2" in event.message["subscriptionSubjects"]["public"]

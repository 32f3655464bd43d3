"""One view of every venue's book (``describe``), and the shared ``Book`` interface."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from marketstreams import Book, OrderBook, describe
from marketstreams.venues.betfair import MarketCache, OrderCache

COMMON = {"kind", "venue", "market", "valid", "reason", "stale", "conflated", "status"}
COMMON |= {"timestamp", "received"}

MARKET = {
    "op": "mcm",
    "pt": 1_700_000_000_000,
    "mc": [
        {
            "id": "1.23",
            "img": True,
            "marketDefinition": {
                "status": "OPEN",
                "inPlay": False,
                "marketType": "WIN",
                "runners": [{"id": 11, "status": "ACTIVE", "sortPriority": 1, "name": "Alpha"}],
            },
            "rc": [{"id": 11, "batb": [[0, 2.0, 10.0], [1, 1.9, 4.0]], "batl": [[0, 2.2, 5.0]]}],
        }
    ],
}


def every_kind_of_book() -> list[Any]:
    luno = OrderBook("luno", "XBTZAR")
    luno.set_level("bid", Decimal("100.5"), Decimal("1.25"))
    luno.set_level("bid", Decimal("99"), Decimal("2"))
    luno.set_level("ask", Decimal("101"), Decimal("0.5"))
    luno.sequence, luno.timestamp, luno.received = 7, 1_700_000_000_000, 1_700_000_000.2
    luno.mark_valid()
    [market] = MarketCache().apply(orjson.dumps(MARKET))
    orders = OrderCache()(
        orjson.dumps(
            {
                "op": "ocm",
                "pt": 1_700_000_000_500,
                "oc": [{"id": "1.23", "orc": [{"id": 11, "uo": [{"id": "b1", "p": 2.0}]}]}],
            }
        )
    )
    return [luno, market, *orders]


def test_every_book_of_the_library_has_the_interface() -> None:
    for book in every_kind_of_book():
        typed: Book = book
        twin = typed.copy()
        assert twin is not book and type(twin) is type(book)
        view = describe(book)
        assert set(view) == COMMON
        assert view == describe(twin)
        assert view["kind"] == book.kind
        assert view["timestamp"] == book.timestamp


def test_the_view_of_each_kind() -> None:
    luno, market, orders = every_kind_of_book()
    view = describe(luno, 1)
    assert view["kind"] == "orderbook" and view["valid"] and view["sequence"] == 7
    assert view["bids"] == [(Decimal("100.5"), Decimal("1.25"))]
    assert view["asks"] == [(Decimal("101"), Decimal("0.5"))]
    assert describe(luno, 5)["bids"][1] == (Decimal("99"), Decimal("2"))
    assert describe(luno, 0)["bids"] == []

    view = describe(market, 1)
    assert view["kind"] == "betfair_market" and view["status"] == "OPEN"
    assert view["timestamp"] == MARKET["pt"] and view["inplay"] is False
    assert view["definition"]["marketType"] == "WIN"
    [runner] = view["runners"]
    assert (runner["id"], runner["name"], runner["status"]) == (11, "Alpha", "ACTIVE")
    assert [tuple(x) for x in runner["back"]] == [(2.0, 10.0)]
    assert [tuple(x) for x in runner["lay"]] == [(2.2, 5.0)]

    view = describe(orders, 3)
    assert view["kind"] == "book" and view["timestamp"] == 1_700_000_000_500
    assert set(view) == COMMON


def test_a_users_minimal_book_is_described_too() -> None:
    class Minimal:
        venue, market, is_valid = "mine", "X", True

    class Ladder(Minimal):
        publish_time = 5

        def __init__(self) -> None:
            self.inner = OrderBook("mine", "X")
            self.bids, self.asks = self.inner.bids, self.inner.asks
            self.inner.set_level("ask", 3, 1)

        def top(self, side: str, n: int) -> list[list[Any]]:
            return self.inner.top(side, n)  # type: ignore[arg-type]

    view = describe(Minimal(), 10)
    assert view["kind"] == "book" and view["valid"] and view["timestamp"] is None
    assert not view["stale"] and view["status"] is None
    view = describe(Ladder(), 10)
    assert view["kind"] == "orderbook" and view["timestamp"] == 5
    assert view["asks"] == [(3, 1)] and view["bids"] == []

"""What the sink writes for each kind of book, read back as RemoteBook (no Redis needed)."""

from __future__ import annotations

from marketstreams import OrderBook
from marketstreams.sinks.redis import RemoteBook, describable, encode_entry
from marketstreams.venues import betfair


def round_trip(book: object, depth: int, n: int = 1) -> RemoteBook:
    values = {b"n": b"%d" % n, b"book": encode_entry(book, depth)}
    return RemoteBook.from_entry(b"1-1", values)


def test_decimal_levels_come_back_exact() -> None:
    from decimal import Decimal

    book = OrderBook("luno", "XBTZAR")
    for i in range(5):
        book.set_level("bid", Decimal(f"100.{i}0"), Decimal("0.123456789"))
        book.set_level("ask", Decimal(f"101.{i}0"), Decimal(i + 1))
    book.mark_valid()
    back = round_trip(book, 3)
    assert back.depth() == book.depth(3)
    assert all(isinstance(v, Decimal) for level in back.bids for v in level)


def test_betfair_markets_are_published_by_runner_and_order_streams_are_not() -> None:
    cache = betfair.MarketCache()
    [market] = cache(
        {
            "op": "mcm",
            "pt": 1_700_000_000_000,
            "mc": [
                {
                    "id": "1.23",
                    "img": True,
                    "marketDefinition": {
                        "status": "OPEN",
                        "inPlay": False,
                        "runners": [{"id": 7, "sortPriority": 1, "status": "ACTIVE"}],
                    },
                    "rc": [
                        {
                            "id": 7,
                            "atb": [[2.0, 10.0], [1.99, 5.0]],
                            "atl": [[2.02, 3.0]],
                            "ltp": 2.0,
                        }
                    ],
                }
            ],
        }
    )
    back = round_trip(market, 1)
    assert back.venue == "betfair" and back.market == "1.23" and back.timestamp == 1_700_000_000_000
    assert back.runners == [
        {
            "id": 7,
            "hc": 0.0,
            "status": "ACTIVE",
            "ltp": 2.0,
            "tv": market.runners[0].total_matched,
            "back": [[2.0, 10.0]],
            "lay": [[2.02, 3.0]],
        }
    ]
    orders = betfair.OrderCache()
    [order_market] = orders(
        {
            "op": "ocm",
            "pt": 1,
            "oc": [
                {
                    "id": "1.23",
                    "orc": [
                        {
                            "id": 7,
                            "uo": [
                                {
                                    "id": "b1",
                                    "p": 2.0,
                                    "s": 5.0,
                                    "side": "B",
                                    "status": "E",
                                    "pt": "L",
                                    "ot": "L",
                                    "pd": 1,
                                    "sm": 0,
                                    "sr": 5,
                                    "sl": 0,
                                    "sc": 0,
                                    "sv": 0,
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )
    assert describable(market) and not describable(order_market)

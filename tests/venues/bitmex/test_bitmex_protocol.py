"""The sans-I/O protocol: commands, authentication order, ack/error routing, reconnects, tables."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from marketstreams.exceptions import MalformedFrameError
from marketstreams.models import Update
from marketstreams.venues.bitmex import (
    Authenticated,
    AuthenticationFailed,
    BitmexProtocol,
    Info,
    Pong,
    Rows,
    Subscribed,
    SubscriptionFailed,
    Unsubscribed,
    VenueMessage,
    Welcome,
)
from marketstreams.venues.bitmex.parse import signature

KEY = "LAqUlngMIQkIUjXMUreyu3qn"
SECRET = "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO"
WELCOME = (
    '{"info":"Welcome to the BitMEX Realtime API.","version":"2021-07-14T01:26:29.000Z",'
    '"timestamp":"2021-07-22T22:36:07.865Z","docs":"https://www.bitmex.com/app/wsAPI",'
    '"limit":{"remaining":39}}'
)


def sent(proto: BitmexProtocol) -> list[dict[str, Any]]:
    return [orjson.loads(f) for f in proto.data_to_send()]


def ack(op: str, topic: str) -> str:
    return orjson.dumps(
        {"success": True, op: topic, "request": {"op": op, "args": [topic]}}
    ).decode()


def book_partial(symbol: str, price: float = 100.0) -> str:
    return orjson.dumps(
        {
            "table": "orderBookL2",
            "action": "partial",
            "keys": ["symbol", "id", "side"],
            "filter": {"symbol": symbol},
            "data": [{"symbol": symbol, "id": 1, "side": "Buy", "size": 5, "price": price}],
        }
    ).decode()


def test_public_connection_subscribes_one_topic_per_frame() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD", "trade:XBTUSD"])
    assert p.data_to_send() == []  # nothing before a connection
    p.connection_made(now=1000.0)
    assert sent(p) == [
        {"op": "subscribe", "args": ["orderBookL2:XBTUSD"]},
        {"op": "subscribe", "args": ["trade:XBTUSD"]},
    ]
    assert p.data_to_send() == []


def test_welcome_and_acks_are_events() -> None:
    p = BitmexProtocol(["trade:XBTUSD"])
    p.connection_made(now=0.0)
    [welcome] = p.receive(WELCOME)
    assert welcome == Welcome("Welcome to the BitMEX Realtime API.", "2021-07-14T01:26:29.000Z", 39)
    assert p.receive(ack("subscribe", "trade:XBTUSD")) == [Subscribed("trade:XBTUSD")]
    assert p.topics["trade:XBTUSD"] == "subscribed"


def test_credentials_authenticate_first_then_subscribe_after_the_ack() -> None:
    p = BitmexProtocol(["order", "orderBookL2:XBTUSD"], api_key=KEY, api_secret=SECRET)
    p.connection_made(now=1_700_000_000.4)
    [auth] = sent(p)
    expires = 1_700_000_060
    assert auth == {
        "op": "authKeyExpires",
        "args": [KEY, expires, signature(SECRET, "GET", "/realtime", expires)],
    }
    events = p.receive(
        orjson.dumps({"success": True, "request": {"op": "authKeyExpires", "args": []}})
    )
    assert events == [Authenticated()]
    assert [m["args"][0] for m in sent(p)] == ["order", "orderBookL2:XBTUSD"]


def test_reconnect_authenticates_again_before_resubscribing() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"], api_key=KEY, api_secret=SECRET)
    p.connection_made(now=0.0)
    p.data_to_send()
    p.receive('{"success":true,"request":{"op":"authKeyExpires","args":[]}}')
    p.data_to_send()
    p.receive(book_partial("XBTUSD"))
    assert p.books["XBTUSD"].is_valid
    lost = p.connection_lost("closed by peer")
    assert [u.book.market for u in lost] == ["XBTUSD"]
    assert not p.books["XBTUSD"].is_valid
    assert "connection lost" in (p.books["XBTUSD"].invalid_reason or "")
    p.connection_made(now=10.0)
    assert [m["op"] for m in sent(p)] == ["authKeyExpires"]
    p.receive('{"success":true,"request":{"op":"authKeyExpires","args":[]}}')
    assert sent(p) == [{"op": "subscribe", "args": ["orderBookL2:XBTUSD"]}]
    # Rows before the new partial are discarded; the book stays invalid until it comes.
    p.receive(
        '{"table":"orderBookL2","action":"update","data":[{"symbol":"XBTUSD","id":1,"side":"Buy","size":9}]}'
    )
    assert not p.books["XBTUSD"].is_valid
    assert p.books["XBTUSD"].best_bid() == (100.0, 5)
    p.receive(book_partial("XBTUSD", 101.0))
    assert p.books["XBTUSD"].is_valid
    assert p.books["XBTUSD"].depth() == {"bids": [[101.0, 5]], "asks": []}


def test_authentication_failure_never_shows_credentials() -> None:
    p = BitmexProtocol(["trade"], api_key=KEY, api_secret=SECRET)
    p.connection_made(now=0.0)
    [frame] = p.data_to_send()
    request = orjson.loads(frame)
    error = {
        "status": 401,
        "error": f"Signature not valid for key {KEY}.",
        "meta": {},
        "request": request,
    }
    [event] = p.receive(orjson.dumps(error))
    assert isinstance(event, AuthenticationFailed)
    assert event.status == 401
    assert KEY not in event.error and SECRET not in event.error
    assert SECRET not in repr(p) and KEY not in repr(p)
    assert not p.authenticated
    assert p.data_to_send() == []  # no subscription after a refusal


def test_subscription_error_is_routed_to_the_topic_that_asked() -> None:
    p = BitmexProtocol(["trade:XBTUSD", "orderBookL2:NOPE"])
    p.connection_made(now=0.0)
    p.data_to_send()
    error = {
        "status": 400,
        "error": "Unknown or expired symbol.",
        "meta": {},
        "request": {"op": "subscribe", "args": ["orderBookL2:NOPE"]},
    }
    events = p.receive(orjson.dumps(error))
    assert events == [
        SubscriptionFailed("orderBookL2:NOPE", "subscribe", 400, "Unknown or expired symbol.")
    ]
    assert "orderBookL2:NOPE" not in p.topics
    assert "trade:XBTUSD" in p.topics
    # A string ``args`` (as in the official fixtures) routes too.
    error["request"] = {"op": "subscribe", "args": "trade:XBTUSD"}
    [event] = p.receive(orjson.dumps(error))
    assert isinstance(event, SubscriptionFailed) and event.topic == "trade:XBTUSD"


def test_error_without_request_is_a_venue_message() -> None:
    p = BitmexProtocol()
    assert p.receive('{"status":429,"error":"Rate limit exceeded"}') == [
        VenueMessage(429, "Rate limit exceeded")
    ]
    assert p.counters.errors == 1


def test_unsubscribe_drops_state_after_the_ack() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.connection_made(now=0.0)
    p.data_to_send()
    p.receive(ack("subscribe", "orderBookL2:XBTUSD"))
    p.receive(book_partial("XBTUSD"))
    p.unsubscribe("orderBookL2:XBTUSD")
    assert sent(p) == [{"op": "unsubscribe", "args": ["orderBookL2:XBTUSD"]}]
    events = p.receive(ack("unsubscribe", "orderBookL2:XBTUSD"))
    assert events[-1] == Unsubscribed("orderBookL2:XBTUSD")
    assert [u.book.is_valid for u in events if isinstance(u, Update)] == [False]
    assert p.books["XBTUSD"].invalid_reason == "unsubscribed"


def test_subscribe_while_connected_sends_at_once_and_only_once() -> None:
    p = BitmexProtocol()
    p.subscribe("quote:XBTUSD")
    assert p.data_to_send() == []
    p.connection_made(now=0.0)
    assert sent(p) == [{"op": "subscribe", "args": ["quote:XBTUSD"]}]
    p.subscribe("quote:XBTUSD", "trade:XBTUSD")
    assert sent(p) == [{"op": "subscribe", "args": ["trade:XBTUSD"]}]


def test_pong_help_and_other_frames() -> None:
    p = BitmexProtocol()
    assert p.receive("pong") == [Pong()]
    assert p.receive(b"pong") == [Pong()]
    [info] = p.receive('{"info":"See https://www.bitmex.com/app/wsAPI","ops":["subscribe"]}')
    assert isinstance(info, Info) and info.message["ops"] == ["subscribe"]


@pytest.mark.parametrize(
    "frame",
    [
        "{oops",
        "[1,2]",
        '{"table":"orderBookL2","action":"explode","data":[]}',
        '{"table":"x","data":{}}',
    ],
)
def test_malformed_frames_raise_with_excerpt(frame: str) -> None:
    p = BitmexProtocol()
    with pytest.raises(MalformedFrameError) as info:
        p.receive(frame)
    assert info.value.frame == frame


def test_book_row_of_wrong_shape_raises() -> None:
    p = BitmexProtocol(["orderBookL2:XBTUSD"])
    p.receive(book_partial("XBTUSD"))
    with pytest.raises(MalformedFrameError, match="orderBookL2 update: bad row"):
        p.receive('{"table":"orderBookL2","action":"update","data":[{"id":1}]}')


def test_trade_inserts_become_trades_on_their_symbol_book() -> None:
    p = BitmexProtocol(["trade:XBTUSD", "orderBookL2:XBTUSD"])
    trade_partial = {
        "table": "trade",
        "action": "partial",
        "keys": [],
        "filter": {"symbol": "XBTUSD"},
        "data": [
            {
                "timestamp": "2021-07-22T22:36:07.000Z",
                "symbol": "XBTUSD",
                "side": "Buy",
                "size": 1,
                "price": 32000,
                "trdMatchID": "old",
            }
        ],
    }
    # The partial's trades are history: stored, not handed to hooks.
    assert p.receive(orjson.dumps(trade_partial)) == []
    insert = {
        "table": "trade",
        "action": "insert",
        "data": [
            {
                "timestamp": "2021-07-22T22:36:09.100Z",
                "symbol": "XBTUSD",
                "side": "Sell",
                "size": 300,
                "price": 32180,
                "trdMatchID": "a",
            },
            {
                "timestamp": "2021-07-22T22:36:09.100Z",
                "symbol": "XBTUSD",
                "side": "Buy",
                "size": 200,
                "price": 32180.5,
                "trdMatchID": "b",
            },
        ],
    }
    [update] = p.receive(orjson.dumps(insert))
    assert update.book is p.books["XBTUSD"]
    assert [(t.type, t.price, t.base, t.id) for t in update.trades] == [
        ("sell", 32180, 300, "a"),
        ("buy", 32180.5, 200, "b"),
    ]
    assert [r["trdMatchID"] for r in p.storage.rows("trade", "XBTUSD")] == ["old", "a", "b"]


def test_generic_keyed_table_partial_update_delete() -> None:
    p = BitmexProtocol(["instrument"], row_tables=["instrument"])
    p.receive(
        orjson.dumps(
            {
                "table": "instrument",
                "action": "partial",
                "keys": ["symbol"],
                "filter": {},
                "data": [{"symbol": "XBTUSD", "lastPrice": 1.0, "state": "Open"}],
            }
        )
    )
    assert p.storage.keys["instrument"] == ("symbol",)
    events = p.receive(
        '{"table":"instrument","action":"update","data":[{"symbol":"XBTUSD","lastPrice":2.5},'
        '{"symbol":"GHOST","lastPrice":9}]}'
    )
    [rows] = [e for e in events if isinstance(e, Rows)]
    assert rows.rows == [{"symbol": "XBTUSD", "lastPrice": 2.5, "state": "Open"}]
    assert p.counters.unknown_keys == 1
    p.receive('{"table":"instrument","action":"delete","data":[{"symbol":"XBTUSD"}]}')
    assert p.storage.rows("instrument") == []


def test_keyless_tables_keep_the_newest_rows_only() -> None:
    p = BitmexProtocol(["quote:XBTUSD"], table_maxlen=3)
    p.receive(
        '{"table":"quote","action":"partial","keys":[],"filter":{"symbol":"XBTUSD"},"data":[]}'
    )
    for i in range(5):
        p.receive(
            orjson.dumps(
                {
                    "table": "quote",
                    "action": "insert",
                    "data": [{"symbol": "XBTUSD", "bidPrice": i}],
                }
            )
        )
    assert [r["bidPrice"] for r in p.storage.rows("quote")] == [2, 3, 4]


@pytest.mark.parametrize(
    "error",
    [
        {"status": 400, "error": "x", "request": {"op": "subscribe", "args": [":weird"]}},
        {"status": 400, "error": "x", "request": {"op": "subscribe", "args": 7}},
        {"status": "400", "error": None, "request": {"op": "unsubscribe"}},
    ],
)
def test_odd_error_frames_never_raise(error: dict[str, Any]) -> None:
    events = BitmexProtocol(["trade"]).receive(orjson.dumps(error))
    assert [type(e) for e in events] == [SubscriptionFailed]


@pytest.mark.parametrize("op", [["subscribe"], {"x": 1}, 7])
def test_error_echoing_a_request_with_a_strange_op_is_reported_not_raised(op: object) -> None:
    proto = BitmexProtocol()
    proto.receive(WELCOME, 0.0)
    frame = orjson.dumps({"status": 400, "error": "x", "request": {"op": op}}).decode()
    events = proto.receive(frame, 0.0)
    assert events and not any(isinstance(e, AuthenticationFailed) for e in events)
    ack_frame = orjson.dumps({"success": True, "request": {"op": op}}).decode()
    assert proto.receive(ack_frame, 0.0) is not None

"""The Luno protocol core driven with literal frames and the real frames in ../shared/data."""

from __future__ import annotations

import json
from decimal import Decimal

import orjson
import pytest

from marketstreams import (
    AuthenticationError,
    ConfigurationError,
    MalformedFrameError,
    SequenceGapError,
    VenueError,
)
from marketstreams.venues.luno import Keepalive, LunoProtocol, OutOfSyncError, Snapshot, Updated
from tests.conftest import shared_data

D = Decimal

SNAPSHOT = {
    "sequence": "100",
    "asks": [
        {"id": "A1", "price": "1010.00", "volume": "0.50"},
        {"id": "A2", "price": "1010.00", "volume": "0.25"},
        {"id": "A3", "price": "1020.00", "volume": "1.00"},
    ],
    "bids": [
        {"id": "B1", "price": "1000.00", "volume": "0.10"},
        {"id": "B2", "price": "990.00", "volume": "2.00"},
    ],
    "status": "ACTIVE",
    "timestamp": 1528884331021,
}


def update(seq: int, **fields: object) -> bytes:
    msg: dict[str, object] = {
        "sequence": str(seq),
        "trade_updates": None,
        "create_update": None,
        "delete_update": None,
        "status_update": None,
        "timestamp": 1528884331100 + seq,
    }
    msg.update(fields)
    return orjson.dumps(msg)


@pytest.fixture
def proto() -> LunoProtocol:
    p = LunoProtocol("xbtzar")
    assert isinstance(p.receive(orjson.dumps(SNAPSHOT)), Snapshot)
    return p


def test_snapshot_consolidates_orders(proto: LunoProtocol) -> None:
    book = proto.book
    assert (book.venue, book.market) == ("luno", "XBTZAR")
    assert book.is_valid and book.sequence == 100 and book.status == "ACTIVE"
    assert book.depth() == {
        "bids": [[D("1000"), D("0.10")], [D("990"), D("2.00")]],
        "asks": [[D("1010"), D("0.75")], [D("1020"), D("1.00")]],
    }
    assert len(proto.orders) == 5


def test_create_delete_status_in_order(proto: LunoProtocol) -> None:
    create = {"order_id": "B3", "type": "BID", "price": "1005.00", "volume": "0.3"}
    ev = proto.receive(update(101, create_update=create))
    assert isinstance(ev, Updated) and ev.trades == []
    assert proto.book.best_bid() == (D("1005"), D("0.3"))
    proto.receive(update(102, delete_update={"order_id": "A1"}))
    assert proto.book.best_ask() == (D("1010"), D("0.25"))
    proto.receive(update(103, status_update={"status": "POSTONLY"}))
    assert proto.book.status == "POSTONLY" and proto.book.sequence == 103


def test_trade_partial_and_full_fill_without_delete(proto: LunoProtocol) -> None:
    trades = [
        {
            "sequence": 1,
            "base": "0.50",
            "counter": "505.00",
            "maker_order_id": "A1",
            "taker_order_id": "T1",
            "order_id": "A1",
        },
        {
            "sequence": 2,
            "base": "0.05",
            "counter": "50.50",
            "maker_order_id": "A2",
            "taker_order_id": "T1",
            "order_id": "A2",
        },
    ]
    ev = proto.receive(update(101, trade_updates=trades))
    assert isinstance(ev, Updated)
    assert [(t.type, t.price, t.base, t.maker_order_id) for t in ev.trades] == [
        ("buy", D("1010"), D("0.50"), "A1"),
        ("buy", D("1010"), D("0.05"), "A2"),
    ]
    assert ev.trades[0]["counter"] == D("505.00")  # dict-style access for luno_streams users
    assert "A1" not in proto.orders  # fully filled: gone with no delete
    assert proto.book.best_ask() == (D("1010"), D("0.20"))


def test_trade_then_create_for_taker_remainder(proto: LunoProtocol) -> None:
    trades = [
        {
            "sequence": 3,
            "base": "0.10",
            "counter": "100",
            "maker_order_id": "B1",
            "taker_order_id": "S1",
            "order_id": "B1",
        }
    ]
    create = {"order_id": "S1", "type": "ASK", "price": "1000.00", "volume": "0.4"}
    ev = proto.receive(update(101, trade_updates=trades, create_update=create))
    assert isinstance(ev, Updated) and ev.trades[0].type == "sell"
    assert proto.book.best_bid() == (D("990"), D("2.00"))
    assert proto.book.best_ask() == (D("1000"), D("0.4"))
    assert not proto.book.is_crossed


def test_empty_update_consumes_a_sequence(proto: LunoProtocol) -> None:
    assert isinstance(proto.receive(update(101)), Updated)
    assert proto.book.sequence == 101


def test_gap_invalidates_the_book(proto: LunoProtocol) -> None:
    with pytest.raises(SequenceGapError) as info:
        proto.receive(update(102))
    assert (info.value.expected, info.value.received) == (101, 102)
    assert not proto.book.is_valid and "gap" in (proto.book.invalid_reason or "")
    with pytest.raises(OutOfSyncError):
        proto.receive(update(103))  # nothing applies until a new snapshot
    proto.receive(orjson.dumps(SNAPSHOT))
    assert proto.book.is_valid


def test_repeated_sequence_is_a_gap(proto: LunoProtocol) -> None:
    proto.receive(update(101))
    with pytest.raises(SequenceGapError):
        proto.receive(update(101))


def test_trade_for_unknown_maker_is_out_of_sync_and_changes_nothing(proto: LunoProtocol) -> None:
    before = proto.book.depth()
    trades = [
        {"base": "0.1", "counter": "101", "maker_order_id": "A1", "taker_order_id": "T"},
        {"base": "0.1", "counter": "101", "maker_order_id": "NOPE", "taker_order_id": "T"},
    ]
    with pytest.raises(OutOfSyncError):
        proto.receive(update(101, trade_updates=trades))
    assert proto.book.depth() == before and not proto.book.is_valid


def test_overfill_is_out_of_sync(proto: LunoProtocol) -> None:
    trades = [{"base": "0.2", "counter": "200", "maker_order_id": "B1", "taker_order_id": "T"}]
    with pytest.raises(OutOfSyncError):
        proto.receive(update(101, trade_updates=trades))


@pytest.mark.parametrize(
    "frame",
    [
        b'{"sequence": "101", broken',
        b"[1, 2]",
        b'{"hello": 1}',
        update(101, create_update={"x": 1}),
        update(101, create_update={"order_id": "Z", "type": "BID", "price": "abc", "volume": "1"}),
    ],
)
def test_malformed_frames_change_nothing(proto: LunoProtocol, frame: bytes) -> None:
    before = proto.book.depth()
    with pytest.raises(MalformedFrameError) as info:
        proto.receive(frame)
    assert proto.book.depth() == before and proto.book.is_valid and proto.book.sequence == 100
    assert info.value.frame is not None and len(info.value.frame) <= 203


def test_keepalive_frames() -> None:
    p = LunoProtocol("XBTZAR")
    assert isinstance(p.receive('""'), Keepalive)
    assert isinstance(p.receive(b'""'), Keepalive)
    # An empty frame carries nothing: a keepalive too, never a malformed frame.
    assert isinstance(p.receive(""), Keepalive)
    assert isinstance(p.receive(b""), Keepalive)
    # Only those: anything else short is still malformed.
    for junk in ('"', "x", b"''"):
        with pytest.raises(MalformedFrameError):
            p.receive(junk)


def test_credentials_frame() -> None:
    p = LunoProtocol("XBTZAR")
    assert json.loads(p.credentials_frame("id", "sec")) == {
        "api_key_id": "id",
        "api_key_secret": "sec",
    }
    assert p.credentials_frame(None, None) == "{}"


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        ("invalid_credentials", AuthenticationError),
        ("invalid_market", ConfigurationError),
        ("auth_timeout", VenueError),
    ],
)
def test_error_frames(code: str, exc: type[Exception]) -> None:
    p = LunoProtocol("XBTZAR")
    with pytest.raises(exc):
        p.receive(orjson.dumps({"error_code": code, "error": "text"}))


# -- real frames --------------------------------------------------------------------------------


def test_real_wire_frames() -> None:
    path = shared_data("luno", "luno_wire_frames_2026-09-22_nemanull.jsonl")
    frames = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_kind = {f.get("kind"): f["frame"] for f in frames if f["dir"] == "server"}
    p = LunoProtocol("XBTZAR")
    assert isinstance(p.receive(json.dumps(by_kind["snapshot_trimmed_3_per_side"])), Snapshot)
    assert p.book.best_ask() == (D("2765"), D("3.925038"))
    assert p.book.depth()["asks"][1] == [D("2766"), D("0.50")]  # two orders at 2766
    p.receive(json.dumps(by_kind["delete"]))
    assert p.book.best_ask() == (D("2766"), D("0.50"))
    p.receive(json.dumps(by_kind["create"]))
    assert p.book.best_ask() == (D("2765"), D("3.925038")) and p.book.sequence == 74538169
    assert isinstance(p.receive(json.dumps(by_kind["keepalive_text_frame"])), Keepalive)
    # The trade frame was captured much later: its sequence is a gap for this book.
    with pytest.raises(SequenceGapError):
        p.receive(json.dumps(by_kind["trade"]))
    # Replayed on a book that holds its maker, the real trade applies.
    trade = by_kind["trade"]
    maker = trade["trade_updates"][0]["maker_order_id"]
    q = LunoProtocol("XBTZAR")
    q.receive(
        json.dumps(
            {
                "sequence": str(int(trade["sequence"]) - 1),
                "status": "ACTIVE",
                "bids": [{"id": maker, "price": "1407000", "volume": "0.001"}],
                "asks": [],
            }
        )
    )
    ev = q.receive(json.dumps(trade))
    assert isinstance(ev, Updated) and ev.trades[0].base == D("0.000399")
    assert q.book.best_bid() == (D("1407000"), D("0.000601"))
    empty = LunoProtocol("XBTZAR")
    assert isinstance(empty.receive(json.dumps(by_kind["empty_book_snapshot"])), Snapshot)
    assert empty.book.depth() == {"bids": [], "asks": []} and empty.book.is_valid
    errors = [f["frame"] for f in frames if f.get("kind") == "error"]
    kinds = []
    for frame in errors:
        with pytest.raises(
            VenueError if frame["error_code"] == "auth_timeout" else Exception
        ) as info:
            LunoProtocol("XBTZAR").receive(json.dumps(frame))
        kinds.append(type(info.value).__name__)
    assert kinds == ["VenueError", "AuthenticationError", "ConfigurationError"]


def test_docs_and_peer_examples() -> None:
    docs = json.loads(shared_data("luno", "luno_docs_streaming_examples.json").read_text())
    p = LunoProtocol("XBTZAR")
    p.receive(json.dumps(docs["snapshot"]))
    envelope = dict(docs["update_envelope"], create_update=docs["create_update"])
    p.receive(json.dumps(envelope))
    assert p.book.best_bid() == (D("1234.00"), D("1.23"))
    peer = json.loads(shared_data("luno", "luno_streams_mock_server_messages.json").read_text())
    q = LunoProtocol("XBTZAR")
    q.receive(json.dumps(peer["initial_state"]))  # integer sequence in the snapshot
    assert isinstance(q.receive(json.dumps(peer["empty_update"])), Updated)
    assert q.book.sequence == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"trade_updates": [{"base": "0.1", "counter": "abc", "maker_order_id": "A1"}]},
        {"trade_updates": [{"base": "0.1", "counter": "1", "maker_order_id": ["A1"]}]},
        {"trade_updates": ["not a dict"]},
        {"trade_updates": {"base": "0.1"}},
        {"create_update": {"order_id": 7, "type": "BID", "price": "1", "volume": "1"}},
        {"create_update": {"order_id": "Z", "type": ["BID"], "price": "1", "volume": "1"}},
        {"delete_update": {"order_id": ["A1"]}},
        {"status_update": "ACTIVE"},
        {"status_update": {"status": 5}},
        {"create_update": {"order_id": "Z", "type": "BID", "price": "1", "volume": "1e999999999"}},
        {"create_update": {"order_id": "Z", "type": "ASK", "price": "1e-999999", "volume": "1"}},
    ],
)
def test_bad_fields_are_malformed_and_change_nothing(
    proto: LunoProtocol, fields: dict[str, object]
) -> None:
    before = proto.book.depth()
    with pytest.raises(MalformedFrameError):
        proto.receive(update(101, **fields))
    assert proto.book.depth() == before and proto.book.is_valid and proto.book.sequence == 100
    assert proto.book.status == "ACTIVE"

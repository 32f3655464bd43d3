"""Replaying records through the venues' feed logic, with literal frames (no socket)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from marketstreams import replay
from marketstreams.exceptions import AuthenticationError
from marketstreams.recording import Header, Pacer, Record
from marketstreams.replay.recordings import feed_for
from marketstreams.venues import bitmex, luno


def snapshot(seq: int) -> str:
    return orjson.dumps(
        {
            "sequence": str(seq),
            "asks": [{"id": "a1", "price": "101", "volume": "2"}],
            "bids": [{"id": "b1", "price": "99", "volume": "1.5"}],
            "status": "ACTIVE",
            "timestamp": 1000 + seq,
        }
    ).decode()


def update(seq: int, **fields: object) -> str:
    msg: dict[str, object] = {"sequence": str(seq), "timestamp": 1000 + seq}
    msg.update(fields)
    return orjson.dumps(msg).decode()


def luno_feed() -> luno.Feed:
    header = Header("luno", "ws://h/api/1/stream/XBTZAR", ["XBTZAR"], "c1", feed={"pair": "XBTZAR"})
    feed = feed_for(header)
    assert isinstance(feed, luno.Feed) and feed.pair == "XBTZAR"
    return feed


def play(feed: object, records: list[Record]) -> list[tuple[bool, int | None, float | None, int]]:
    out = []
    for record in records:
        for u in feed.replay_record(record):  # type: ignore[attr-defined]
            out.append((u.book.is_valid, u.book.sequence, u.book.received, len(u.trades)))
    return out


def test_luno_gap_reconnect_and_resnapshot() -> None:
    feed = luno_feed()
    trade = {"maker_order_id": "a1", "base": "0.5", "counter": "50.5"}
    seen = play(
        feed,
        [
            Record("C", 1.0, b"{}"),
            Record("A", 1.0, b'{"frame":"credentials"}'),
            Record("R", 1.1, snapshot(10)),
            Record("R", 1.2, '""'),  # keepalive: no update
            Record("R", 1.3, update(11, trade_updates=[trade])),
            Record("R", 1.4, update(13)),  # a gap: the book goes invalid, once
            Record("R", 1.5, update(14)),  # never read live: the feed had dropped the socket
            Record("D", 1.6, b'{"reason":"SequenceGapError: ...","counter":"gaps"}'),
            Record("C", 2.0, b"{}"),
            Record("R", 2.1, snapshot(20)),
        ],
    )
    assert seen == [(True, 10, 1.1, 0), (True, 11, 1.3, 1), (False, 11, 1.3, 0), (True, 20, 2.1, 0)]
    assert feed.book.depth() == {"bids": [[99, 1.5]], "asks": [[101, 2]]}
    stats = feed.stats
    assert (stats.connects, stats.reconnects, stats.gaps, stats.messages) == (2, 1, 1, 5)


def test_luno_recorded_silence_and_lost_frames() -> None:
    feed = luno_feed()
    seen = play(
        feed,
        [
            Record("C", 1.0, b"{}"),
            Record("R", 1.1, snapshot(10)),
            Record(
                "D", 5.0, b'{"reason":"ConnectionLostError: no frame for 4 s","counter":"silences"}'
            ),
            Record("D", 5.5, b'{"reason":"ClientConnectorError: refused"}'),  # a failed attempt
            Record("C", 6.0, b"{}"),
            Record("R", 6.1, snapshot(30)),
            Record("L", 6.2, b'{"frames":3}'),
            Record("R", 6.3, update(34)),
        ],
    )
    assert seen == [
        (True, 10, 1.1, 0),
        (False, 10, 1.1, 0),
        (True, 30, 6.1, 0),
        (False, 30, 6.1, 0),
    ]
    assert feed.stats.silences == 1 and feed.stats.reconnects == 1
    assert feed.book.invalid_reason == "the recording lost 3 frame(s)"


def test_luno_refused_credentials_raise_as_they_did_live() -> None:
    feed = luno_feed()
    feed.replay_record(Record("C", 1.0, b"{}"))
    with pytest.raises(AuthenticationError):
        feed.replay_record(Record("R", 1.1, '{"error_code":"invalid_credentials","error":"no"}'))


def l2(action: str, rows: list[dict[str, object]]) -> bytes:
    msg: dict[str, object] = {"table": "orderBookL2", "action": action, "data": rows}
    if action == "partial":
        msg["keys"] = ["symbol", "id", "side"]
        msg["filter"] = {"symbol": "XBTUSD"}
    return orjson.dumps(msg)


def row(i: int, side: str, price: float, size: int) -> dict[str, object]:
    return {"symbol": "XBTUSD", "id": i, "side": side, "price": price, "size": size}


def test_bitmex_drop_then_new_partial() -> None:
    header = Header(
        "bitmex",
        "ws://h/realtime",
        ["orderBookL2:XBTUSD"],
        "c2",
        feed={"topics": ["orderBookL2:XBTUSD"], "url": "ws://h/realtime"},
    )
    feed = feed_for(header)
    assert isinstance(feed, bitmex.Feed)
    welcome = b'{"info":"Welcome","version":"x","limit":{"remaining":30}}'
    partial = l2("partial", [row(1, "Buy", 99.5, 10), row(2, "Sell", 100.0, 5)])
    seen = play(
        feed,
        [
            Record("C", 1.0, b"{}"),
            Record("r", 1.1, welcome),
            Record("S", 1.1, '{"op":"subscribe","args":["orderBookL2:XBTUSD"]}'),
            Record("r", 1.2, b'{"success":true,"subscribe":"orderBookL2:XBTUSD"}'),
            Record("r", 1.3, partial),
            Record("r", 1.4, l2("update", [row(1, "Buy", 99.5, 7)])),
            Record("r", 1.5, b'{"table":"orderBookL2","action":"upd'),  # malformed: resync
            Record("D", 1.6, b'{"reason":"unusable frame, resynchronising: ..."}'),
            Record("r", 1.7, l2("insert", [row(3, "Buy", 98.0, 1)])),  # after the drop: unread
            Record("C", 2.0, b"{}"),
            Record("r", 2.1, l2("insert", [row(4, "Buy", 97.0, 1)])),  # before the partial
            Record("r", 2.2, partial),
        ],
    )
    assert seen == [
        (True, None, 1.3, 0),
        (True, None, 1.4, 0),
        (False, None, 1.4, 0),
        (True, None, 2.2, 0),
    ]
    book = feed.books["XBTUSD"]
    assert book.depth() == {"bids": [[99.5, 10]], "asks": [[100.0, 5]]}
    assert feed.stats.malformed == 1 and feed.stats.reconnects == 1
    assert feed.counters.discarded_rows == 1


def test_unknown_venue_is_a_configuration_error() -> None:
    with pytest.raises(Exception, match="no replay"):
        feed_for(Header("nasdaq", "x", [], "c"))


def test_pacer_waits_for_the_recorded_gaps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", sleep)
    pacer = Pacer(10)
    for t in (5000.0, 5001.0, 5001.0, 5003.5):
        pacer.wait(t)
    assert slept == pytest.approx([0.1, 0.25])
    with pytest.raises(Exception, match="positive"):
        Pacer(0)


def test_betfair_files_are_paced_by_publish_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [50.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr("time.monotonic", lambda: clock[0])
    monkeypatch.setattr("time.sleep", sleep)
    lines = [
        {"op": "mcm", "pt": pt, "mc": [{"id": "1.1", "rc": [{"id": 7, "atb": [[2.0, 5.0]]}]}]}
        for pt in (1_000, 2_000, 4_000)
    ]
    path = tmp_path / "1.1"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines))
    result = replay(path, speed=2)
    assert result.errors == [] and result.updates == 3
    assert slept == pytest.approx([0.5, 1.0])  # 1 s and 2 s of publish time, twice as fast
    with pytest.raises(Exception, match="speed"):
        replay(path, speed=0)

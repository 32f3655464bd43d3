"""The recording format: records round-trip exactly, whatever the payload and the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketstreams.exceptions import MalformedFrameError
from marketstreams.recording import Header, Kind, Record, RecordDecoder
from marketstreams.recording.format import (
    encode_header,
    encode_record,
    parse_header_line,
    public_endpoint,
)

HEADER = Header(
    venue="luno",
    endpoint="wss://ws.luno.com/api/1/stream/XBTZAR",
    subscriptions=["XBTZAR"],
    channel="20250101T000000Z-abcdef01",
    part=3,
    started=1735689600.25,
    opened=1735689601.5,
    feed={"pair": "XBTZAR"},
)

times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
text_records = st.builds(Record, st.sampled_from(sorted(Kind.text)), times, st.text(max_size=300))
byte_records = st.builds(
    Record, st.sampled_from(sorted(Kind.all - Kind.text)), times, st.binary(max_size=300)
)


def encode(records: list[Record]) -> bytes:
    out = [encode_header(HEADER)]
    for r in records:
        data = r.data.encode("utf-8", "surrogatepass") if isinstance(r.data, str) else r.data
        out.append(encode_record(r.kind, r.time, data))
    return b"".join(out)


@given(st.lists(st.one_of(text_records, byte_records), max_size=30), st.data())
def test_records_round_trip_in_any_chunking(records: list[Record], data: st.DataObject) -> None:
    blob = encode(records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8)))
    decoder = RecordDecoder()
    got: list[Record] = []
    start = 0
    for cut in [*cuts, len(blob)]:
        got.extend(decoder.feed(blob[start:cut]))
        start = cut
    assert decoder.header == HEADER
    assert got == records  # the float times too: repr() round-trips exactly
    assert decoder.pending == 0


def test_frames_with_newlines_and_any_bytes_are_kept_whole() -> None:
    frames = [Record("R", 1.5, 'a\n{"x":\n1}\n'), Record("r", 2.5, b"\x00\n\xff\r\n")]
    decoder = RecordDecoder()
    assert decoder.feed(encode(frames)) == frames


def test_header_round_trips_and_names_no_secret() -> None:
    line = encode_header(HEADER)
    assert line.startswith(b"MSREC 1 {") and line.endswith(b"\n")
    assert parse_header_line(line[:-1]) == HEADER


def test_public_endpoint_drops_user_info_and_query_values() -> None:
    assert (
        public_endpoint("wss://user:hunter2@host.example:443/realtime?token=hunter2&x=1")
        == "wss://host.example:443/realtime?token=%2A%2A%2A&x=%2A%2A%2A"
    )
    assert public_endpoint("ws://127.0.0.1:1234/api") == "ws://127.0.0.1:1234/api"


def test_not_a_recording_is_refused() -> None:
    with pytest.raises(MalformedFrameError, match="not a marketstreams recording"):
        RecordDecoder().feed(b'{"op":"mcm","pt":1}\n')


def test_a_record_longer_than_announced_is_refused() -> None:
    blob = encode_header(HEADER) + b"R1.0 3\nabcd\n"
    with pytest.raises(MalformedFrameError, match="does not end"):
        RecordDecoder().feed(blob)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(MalformedFrameError, match="bad record head"):
        RecordDecoder().feed(encode_header(HEADER) + b"Q1.0 1\na\n")


def test_newer_format_version_is_refused() -> None:
    with pytest.raises(MalformedFrameError, match="version 2"):
        RecordDecoder().feed(b'MSREC 2 {"venue":"x","channel":"c"}\n')


def test_marker_info() -> None:
    assert Record("D", 1.0, b'{"reason":"closed"}').info() == {"reason": "closed"}
    assert Record("C", 1.0, b"").info() == {}

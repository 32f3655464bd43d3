"""The recording format: records round-trip exactly, whatever the payload and the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketstreams.exceptions import MalformedFrameError
from marketstreams.recording import Header, Kind, Record, RecordDecoder
from marketstreams.recording.format import (
    encode_header,
    encode_records,
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

times = st.integers(min_value=0, max_value=4 * 10**18)  # time.time_ns() values
text_records = st.tuples(st.sampled_from(sorted(Kind.text)), times, st.text(max_size=300))
byte_records = st.tuples(
    st.sampled_from(sorted(Kind.all - Kind.text)), times, st.binary(max_size=300)
)


def encode(records: list[tuple[str, int, str | bytes]], block: int = 7) -> bytes:
    """A header, then the records in blocks of ``block``."""
    out = [encode_header(HEADER)]
    encoded = [
        (kind, ns, data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
        for kind, ns, data in records
    ]
    for i in range(0, len(encoded), block):
        out.append(encode_records(encoded[i : i + block]))
    return b"".join(out)


@given(st.lists(st.one_of(text_records, byte_records), max_size=30), st.data())
def test_records_round_trip_in_any_chunking(
    records: list[tuple[str, int, str | bytes]], data: st.DataObject
) -> None:
    blob = encode(records)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(blob)), max_size=8)))
    decoder = RecordDecoder()
    got: list[Record] = []
    start = 0
    for cut in [*cuts, len(blob)]:
        got.extend(decoder.feed(blob[start:cut]))
        start = cut
    assert decoder.header == HEADER
    # The times come back as the float a live feed derives from time.time_ns(): ns / 1e9.
    assert got == [Record(kind, ns / 1e9, payload) for kind, ns, payload in records]
    assert decoder.pending == 0


def test_frames_with_newlines_and_any_bytes_are_kept_whole() -> None:
    frames: list[tuple[str, int, str | bytes]] = [
        ("R", 1_500_000_000, 'a\n{"x":\n1}\n'),
        ("r", 2_500_000_000, b"\x00\n\xff\r\n"),
    ]
    decoder = RecordDecoder()
    assert decoder.feed(encode(frames)) == [Record(k, ns / 1e9, d) for k, ns, d in frames]


def test_header_round_trips_and_names_no_secret() -> None:
    line = encode_header(HEADER)
    assert line.startswith(b"MSREC 2 {") and line.endswith(b"\n")
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


def test_a_block_longer_than_announced_is_refused() -> None:
    block = encode_records([("R", 1000, b"abc")])
    damaged = block.replace(b"B1 3\n", b"B1 2\n")
    with pytest.raises(MalformedFrameError, match="does not end"):
        RecordDecoder().feed(encode_header(HEADER) + damaged)


def test_an_index_that_does_not_add_up_is_refused() -> None:
    block = encode_records([("R", 1000, b"abc"), ("R", 1001, b"de")])
    with pytest.raises(MalformedFrameError, match="damaged block index"):
        RecordDecoder().feed(encode_header(HEADER) + block.replace(b"RR", b"RQ"))


def test_a_bad_block_head_is_refused() -> None:
    with pytest.raises(MalformedFrameError, match="bad block head"):
        RecordDecoder().feed(encode_header(HEADER) + b"X1 1\nR" + bytes(12) + b"a\n")


def test_other_format_versions_are_refused() -> None:
    with pytest.raises(MalformedFrameError, match="version 3"):
        RecordDecoder().feed(b'MSREC 3 {"venue":"x","channel":"c"}\n')


def test_marker_info() -> None:
    assert Record("D", 1.0, b'{"reason":"closed"}').info() == {"reason": "closed"}
    assert Record("C", 1.0, b"").info() == {}

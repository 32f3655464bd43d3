"""The Recorder: files, parts, rotation, scrubbing, a bounded buffer, crash-readable files."""

from __future__ import annotations

import calendar
import gzip
import shutil
import threading
import time
from pathlib import Path

import pytest

from marketstreams.recording import Kind, Record, Recorder, find_recordings, read_records
from marketstreams.recording.reader import channel_records
from marketstreams.sources import Source, discover

S = 1_000_000_000  # one second in nanoseconds (channel times are time.time_ns() values)
T0 = calendar.timegm((2025, 3, 4, 12, 0, 0)) * S  # a fixed day: files land in 2025-03-04/


def channels(folder: Path) -> list[list[Record]]:
    groups, others = find_recordings(discover(folder))
    assert others == []
    return [list(channel_records(group)) for group in groups]


def raw_bytes(folder: Path) -> bytes:
    out = b""
    for path in sorted(folder.rglob("*.msrec*")):
        data = path.read_bytes()
        out += gzip.decompress(data) if path.name.endswith(".gz") else data
    return out


def test_a_session_reads_back_exactly(tmp_path: Path) -> None:
    with Recorder(tmp_path) as rec:
        ch = rec.channel("luno", "wss://ws.luno.com/api/1/stream/XBTZAR", ["XBTZAR"])
        ch.connected(T0)
        ch.withheld(T0 + 1, {"frame": "credentials"})
        ch.received(T0 + 2, '{"sequence":"1","asks":[],"bids":[]}')
        ch.received(T0 + 3, b'{"binary":true}')
        ch.sent(T0 + 4, '""')
        ch.disconnected(T0 + 5, "closed", error="ConnectionLostError", counter="gaps")
        ch.close()
    [records] = channels(tmp_path)
    assert [(r.kind, r.time) for r in records] == [
        ("C", T0 / 1e9),
        ("A", (T0 + 1) / 1e9),
        ("R", (T0 + 2) / 1e9),
        ("r", (T0 + 3) / 1e9),
        ("S", (T0 + 4) / 1e9),
        ("D", (T0 + 5) / 1e9),
    ]
    assert records[2].data == '{"sequence":"1","asks":[],"bids":[]}'
    assert records[3].data == b'{"binary":true}'
    assert records[5].info() == {
        "reason": "closed",
        "error": "ConnectionLostError",
        "counter": "gaps",
    }
    [path] = rec.files
    assert path.parent == tmp_path / "luno" / "2025-03-04"
    assert path.name.startswith("luno-XBTZAR-") and path.name.endswith("-0001.msrec.gz")
    assert rec.stats.frames == rec.stats.records == 6 and rec.stats.dropped == 0


def test_rotation_by_size_keeps_one_channel_in_order(tmp_path: Path) -> None:
    frames = [f'{{"n":{i},"pad":"{"x" * 50}"}}' for i in range(40)]
    with Recorder(tmp_path, rotate_bytes=400) as rec:
        ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
        for i, frame in enumerate(frames):
            ch.received(T0 + i * S, frame)
        ch.close()
    assert len(rec.files) > 5
    groups, _ = find_recordings(discover(tmp_path))
    [group] = groups
    assert [f.header.part for f in group] == list(range(1, len(rec.files) + 1))
    assert len({f.header.channel for f in group}) == 1
    assert [r.data for r in channel_records(group)] == frames


def test_rotation_by_age_and_at_midnight_utc(tmp_path: Path) -> None:
    midnight = calendar.timegm((2025, 3, 5, 0, 0, 0)) * S
    with Recorder(tmp_path, rotate_seconds=10) as rec:
        ch = rec.channel("bitmex", "wss://ws.bitmex.com/realtime", ["trade:XBTUSD"])
        for t in (0, 4, 9, 10, 15, 25, 35):  # parts: [0 4 9] [10 15] [25] [35]
            ch.received(T0 + t * S, f"{t}")
        ch.received(midnight - 1, "late")
        ch.received(midnight, "early")
        ch.close()
    days = sorted(p.parent.name for p in rec.files)
    assert days == ["2025-03-04"] * 5 + ["2025-03-05"]
    groups, _ = find_recordings(discover(tmp_path))
    [group] = groups
    sizes = [len(list(read_records(f.source))) for f in group]
    assert sizes == [3, 2, 1, 1, 1, 1]
    assert [r.data for r in channel_records(group)][-2:] == ["late", "early"]


def test_secrets_are_scrubbed_from_records_and_header(tmp_path: Path) -> None:
    with Recorder(tmp_path) as rec:
        ch = rec.channel(
            "luno",
            "wss://me:hunter2-secret@ws.luno.com/api/1/stream/XBTZAR?key=key-id-123",
            ["XBTZAR"],
            feed={"note": "key-id-123"},
            secrets=["key-id-123", "hunter2-secret", None],
        )
        ch.received(T0, '{"error":"bad key key-id-123 / hunter2-secret"}')
        ch.sent(T0, b"hunter2-secret")
        ch.close()
    raw = raw_bytes(tmp_path)
    assert b"key-id-123" not in raw and b"hunter2-secret" not in raw
    assert b'{"error":"bad key *** / ***"}' in raw and b"\x00***" not in raw


def test_a_full_buffer_drops_and_marks_the_spot_without_blocking(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def slow_disk(kind: str, payload: bytes) -> bytes:
        entered.set()
        release.wait(30)  # the writer thread is stuck here, as on a hung disk
        return payload

    rec = Recorder(tmp_path, max_buffer=1000, flush_interval=0.01)
    ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"], redact=slow_disk)
    frame = "y" * 100
    for i in range(30):
        ch.received(T0 + i * S, frame)
    assert entered.wait(30)
    accepted = 30 - rec.stats.dropped
    assert 0 < accepted < 30 and rec.stats.dropped == ch.lost
    release.set()
    assert rec.flush(30)
    ch.received(T0 + 100 * S, "after")
    ch.close()
    rec.close()
    [records] = channels(tmp_path)
    kinds = [r.kind for r in records]
    assert kinds == ["R"] * accepted + [Kind.LOST, "R"]
    assert records[-2].info() == {"frames": 30 - accepted}
    assert records[-1].data == "after"


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_a_killed_recorder_leaves_readable_files(tmp_path: Path, compression: str) -> None:
    if compression == "zstd":
        pytest.importorskip("zstandard")
    rec = Recorder(tmp_path / "live", compression=compression, flush_interval=3600)
    ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
    for i in range(50):
        ch.received(T0 + i * S, f'{{"n":{i}}}')
    assert rec.flush(30)
    [path] = rec.files
    crashed = tmp_path / "crashed" / path.name
    crashed.parent.mkdir()
    shutil.copy(path, crashed)  # what is on disk now, without the end of the stream
    ch.received(T0 + 99 * S, "not flushed")
    rec.close()
    copy = [r.data for r in read_records(Source(str(crashed)))]
    assert copy == [f'{{"n":{i}}}' for i in range(50)]
    whole = [r.data for r in read_records(Source(str(path)))]
    assert whole == [*copy, "not flushed"]


def test_a_file_cut_inside_a_block_replays_up_to_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Recorder(tmp_path, compression="none") as rec:
        ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
        for i in range(5):
            ch.received(T0 + i * S, "z" * 100)
            if i == 2:
                assert rec.flush(30)  # the first three records are one block on disk
        ch.close()
    [path] = rec.files
    path.write_bytes(path.read_bytes()[:-50])
    assert len(list(read_records(Source(str(path))))) == 3
    assert "ends inside a block" in caplog.text


def test_closed_recorder_refuses_channels_and_late_frames_are_counted(tmp_path: Path) -> None:
    rec = Recorder(tmp_path)
    ch = rec.channel("luno", "ws://h/x", ["X"])
    ch.close()
    ch.received(time.time_ns(), "late")
    rec.close()
    rec.close()  # idempotent
    assert rec.stats.dropped == 1
    with pytest.raises(Exception, match="closed"):
        rec.channel("luno", "ws://h/x", ["X"])


def test_dump_shows_a_recording_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from marketstreams.recording.__main__ import main

    with Recorder(tmp_path) as rec:
        ch = rec.channel("luno", "ws://h/api/1/stream/XBTZAR", ["XBTZAR"])
        ch.connected(T0)
        ch.received(T0 + S, '{"sequence":"7"}')
        ch.close()
    [path] = rec.files
    assert main(["dump", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert '"venue":"luno"' in lines[0]
    assert lines[1].startswith("C 2025-03-04T12:00:00.000000+00:00")
    assert lines[2].split() == ["R", "2025-03-04T12:00:01.000000+00:00", "16", '{"sequence":"7"}']


def blocks(path: Path) -> list[int]:
    """The record count of each block of a recording file, in order."""
    data = path.read_bytes()
    data = gzip.decompress(data) if path.name.endswith(".gz") else data
    pos = data.index(b"\n") + 1  # after the header line
    counts = []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        count, length = map(int, data[pos + 1 : nl].split())
        counts.append(count)
        pos = nl + 1 + 13 * count + length + 1
    return counts


def test_interleaved_channels_get_one_block_each_per_batch(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, flush_interval=3600, wake_bytes=1 << 30)
    a = rec.channel("luno", "ws://h/a", ["A"])
    b = rec.channel("luno", "ws://h/b", ["B"])
    assert rec.flush(30)  # the opens: the next batch holds only records, interleaved
    for i in range(100):
        (a if i % 3 else b).received(T0 + i, f'{{"n":{i}}}')
    assert rec.flush(30)
    a.close()
    b.close()
    rec.close()
    for ch, want in ((a, [i for i in range(100) if i % 3]), (b, list(range(0, 100, 3)))):
        assert ch.path is not None
        assert blocks(ch.path) == [len(want)]
        got = [(r.time, r.data) for r in read_records(Source(str(ch.path)))]
        assert got == [((T0 + i) / 1e9, f'{{"n":{i}}}') for i in want]


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_any_payload_round_trips_exactly(tmp_path: Path, compression: str) -> None:
    if compression == "zstd":
        pytest.importorskip("zstandard")
    ascii_text = ['{"a":1}', "", "x" * 70_000, "line\nbreak\r\n\x00\x7f"]
    other_text = ["é", "emoji 😀", "lone \ud800 surrogate", '{"price":"1€"}']
    raw = [b"", b"\x00\xff\x80\n", bytes(range(256)) * 300, b'{"op":"mcm"}']
    with Recorder(tmp_path, compression=compression, flush_interval=3600) as rec:
        ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
        batches: list[list[tuple[str, str | bytes]]] = [
            [("R", f) for f in ascii_text],  # all ASCII text: the block in one piece
            [("r", f) for f in raw],  # all bytes: the same
            [("R", f) for f in other_text],  # non-ASCII text: encoded one by one
            [("R", "ascii"), ("r", b"bytes"), ("S", '""'), ("s", b"\x01"), ("R", "é")],
        ]
        t = T0
        for batch in batches:
            for kind, frame in batch:
                t += 1
                if kind in "Rr":
                    ch.received(t, frame)
                else:
                    ch.sent(t, frame)
            ch.connected(t, {"n": len(batch)})  # a marker: bytes among text
            assert rec.flush(30)
        ch.close()
    [path] = rec.files
    got = [(r.kind, r.data) for r in read_records(Source(str(path)))]
    want = []
    for batch in batches:
        want += batch
        want.append(("C", b'{"n":%d}' % len(batch)))
    assert got == want


def test_records_reach_the_disk_within_the_flush_interval(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "live", flush_interval=0.05)
    ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
    for i in range(20):
        ch.received(T0 + i, f'{{"n":{i}}}')
    deadline = time.monotonic() + 10
    copy = tmp_path / "copy.msrec.gz"
    records: list[Record] = []
    while time.monotonic() < deadline and len(records) < 20:
        time.sleep(0.02)
        if rec.files:  # no flush(): what a crash now would leave
            shutil.copy(rec.files[0], copy)
            records = list(read_records(Source(str(copy))))
    assert [r.data for r in records] == [f'{{"n":{i}}}' for i in range(20)]
    ch.close()
    rec.close()


class _BrokenDisk:
    def write(self, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    writelines = write

    def flush(self) -> None:
        raise OSError(28, "No space left on device")

    def close(self) -> None:
        pass


def test_a_failing_disk_loses_that_part_and_recording_goes_on_later(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, flush_interval=3600)
    ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
    ch.received(T0, "kept")
    assert rec.flush(30)
    real = ch._file.main.fh
    assert real is not None
    ch._file.main.fh = _BrokenDisk()  # type: ignore[assignment]  # the disk fills up
    ch.received(T0 + S, "lost")
    assert rec.flush(30)
    assert rec.stats.errors == 1
    real.close()
    ch.received(T0 + 2 * S, "too soon: no new part yet")
    assert rec.flush(30)
    ch.received(T0 + 70 * S, "a new part")
    ch.close()
    rec.close()
    assert len(rec.files) == 2 and rec.stats.unwritten == 1
    first = [r.data for r in read_records(Source(str(rec.files[0])))]
    second = [r.data for r in read_records(Source(str(rec.files[1])))]
    assert first == ["kept"] and second == ["a new part"]


def test_big_batches_are_written_out_before_the_next_flush(tmp_path: Path) -> None:
    # Compressed (here: plain) data waits in memory for the next flush, but never more than a
    # few megabytes of it: the rest goes to the file as it comes.
    rec = Recorder(tmp_path, compression="none", flush_interval=3600, wake_bytes=1 << 20)
    ch = rec.channel("luno", "ws://h/api/1/stream/X", ["X"])
    frame = "z" * 1000
    for i in range(12_000):  # 12 MB
        ch.received(T0 + i, frame)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (rec.files and rec.files[0].stat().st_size > 4e6):
        time.sleep(0.02)
    assert rec.files[0].stat().st_size > 4e6  # without any flush() or flush_interval
    ch.close()
    rec.close()
    assert [r.data for r in read_records(Source(str(rec.files[0])))] == [frame] * 12_000

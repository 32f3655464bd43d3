"""The Recorder's writer thread under faults: a failing redactor, a stalled writer, midnight."""

from __future__ import annotations

import calendar
import gzip
import threading
from pathlib import Path

from marketstreams.recording import Recorder, find_recordings
from marketstreams.recording.reader import channel_records
from marketstreams.sources import discover

S = 1_000_000_000
T0 = calendar.timegm((2025, 3, 4, 12, 0, 0)) * S


def test_a_failing_redactor_loses_only_its_record(tmp_path: Path) -> None:
    calls = []

    def redact(kind: str, payload: bytes) -> bytes:
        calls.append(payload)
        if len(calls) == 1:
            raise ValueError("a bug in a redactor")
        return payload.replace(b"KEY", b"***")

    rec = Recorder(tmp_path, max_buffer=10_000, flush_interval=0.01)
    bad = rec.channel("bitmex", "wss://x", ["t"], redact=redact, redact_when=b"KEY")
    good = rec.channel("luno", "wss://y", ["XBTZAR"])
    bad.received(T0, '{"KEY":1,"n":1}')
    good.received(T0, "good-1")
    assert rec.flush(timeout=5)  # the barrier is set despite the exception
    bad.received(T0 + S, '{"KEY":1,"n":2}')
    # healthy channels keep recording: nothing is left inflating the buffer
    for i in range(2 * 10_000 // 100):
        good.received(T0 + 2 * S + i, "g" * 100)
        if i % 20 == 0:
            assert rec.flush(timeout=5)
    assert rec.flush(timeout=5)
    assert rec.stats.dropped == 0
    assert rec.stats.unwritten == 1
    bad.close()
    good.close()
    rec.close()
    groups, _ = find_recordings(discover(tmp_path))
    datas = sorted(
        (r.data for group in groups for r in channel_records(group) if r.kind in "Rr"),
        key=str,
    )
    assert "good-1" in datas
    assert '{"***":1,"n":2}' in datas
    assert not any("KEY" in str(d) for d in datas)  # never written unredacted
    assert sum(1 for d in datas if d == "g" * 100) == 200


def test_the_buffer_bound_counts_small_frames_overhead(tmp_path: Path) -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck(kind: str, payload: bytes) -> bytes:
        entered.set()
        release.wait(30)  # the writer thread is stuck here, as on a hung disk
        return payload

    max_buffer = 64 * 1024
    rec = Recorder(tmp_path, max_buffer=max_buffer, wake_bytes=1024, flush_interval=0.01)
    slow = rec.channel("luno", "ws://h/a", ["A"], redact=stuck)
    fast = rec.channel("luno", "ws://h/b", ["B"])
    slow.received(T0, "stall")
    assert entered.wait(30)
    n = 50_000
    for i in range(n):
        fast.received(T0 + i, f"{i:010d}")  # 10-byte frames
    queued = len(rec._queue) // 4  # (four items a record)
    assert rec.stats.dropped > 0
    assert queued * (10 + 128) <= max_buffer + 4 * (10 + 128)
    assert queued + rec.stats.dropped >= n
    release.set()
    slow.close()
    fast.close()
    rec.close()


def test_companion_lines_stay_in_their_day(tmp_path: Path) -> None:
    class Side:
        folder = "side"
        suffix = ".txt"

        def feed(self, kind: str, payload: bytes) -> list[bytes]:
            return [payload + b"\n"] if kind in "Rr" else []

    rec = Recorder(tmp_path, flush_interval=10)
    ch = rec.channel("betfair", "tls://x", ["m"], companion=Side())
    midnight = calendar.timegm((2026, 11, 22, 0, 0, 0)) * S
    ch.received(midnight - S // 10, "day1-frame")
    ch.received(midnight + S // 10, "day2-frame")
    rec.close()  # one drain: both frames in the same batch
    sides = sorted((tmp_path / "side").rglob("*.txt.gz"))
    assert [p.parent.name for p in sides] == ["2026-11-21", "2026-11-22"]
    assert gzip.decompress(sides[0].read_bytes()) == b"day1-frame\n"
    assert gzip.decompress(sides[1].read_bytes()) == b"day2-frame\n"


def test_a_failing_companion_keeps_the_recording(tmp_path: Path) -> None:
    class Broken:
        folder = "side"
        suffix = ".txt"

        def feed(self, kind: str, payload: bytes) -> list[bytes]:
            raise RuntimeError("a bug in a companion")

    rec = Recorder(tmp_path, flush_interval=0.01)
    ch = rec.channel("betfair", "tls://x", ["m"], companion=Broken())
    other = rec.channel("luno", "wss://y", ["XBTZAR"])
    ch.received(T0, "one")
    other.received(T0, "two")
    assert rec.flush(timeout=5)
    ch.close()
    other.close()
    rec.close()
    groups, _ = find_recordings(discover(tmp_path))
    datas = sorted(str(r.data) for group in groups for r in channel_records(group) if r.kind == "R")
    assert datas == ["one", "two"]
    assert rec.stats.errors >= 1

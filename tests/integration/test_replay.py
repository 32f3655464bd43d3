"""Replay: the same results whatever the packing, the number of workers or the executor."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import random
import shutil
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from marketstreams import ReplayError, ReplayFilter, replay
from marketstreams.sources import CHUNK as CHUNK_OF_READS
from marketstreams.sources import BrokenStream, Source, discover, iter_lines
from tests.conftest import shared_data


class Fingerprint:
    """Per market: how many updates the hook saw and a digest of what it saw at each one."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Any]] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        entry = self.seen.setdefault(book.market_id, [0, hashlib.sha1()])
        entry[0] += 1
        state = [book.publish_time, book.status, book.inplay]
        for r in book.runners:
            state.append(
                [
                    r.selection_id,
                    r.status,
                    r.last_price_traded,
                    r.available_to_back[:3],
                    r.available_to_lay[:3],
                ]
            )
        entry[1].update(orjson.dumps(state, option=orjson.OPT_SERIALIZE_NUMPY))

    def result(self) -> dict[str, tuple[int, str]]:
        return {mid: (n, h.hexdigest()) for mid, (n, h) in self.seen.items()}


def historic_files() -> list[Path]:
    folder = shared_data("betfair", "historic")
    return sorted(p for p in folder.iterdir() if not p.name.startswith("sportsdata"))


@pytest.fixture(scope="module")
def plain_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared historic files, decompressed, one market per file."""
    out = tmp_path_factory.mktemp("plain")
    for path in historic_files():
        data = path.read_bytes()
        name = path.name
        if name.endswith(".bz2"):
            data, name = bz2.decompress(data), name[:-4]
        elif name.endswith(".gz"):
            data, name = gzip.decompress(data), name[:-3]
        (out / name).write_bytes(data)
    return out


@pytest.fixture(scope="module")
def baseline(plain_dir: Path) -> dict[str, tuple[int, str]]:
    result = replay(plain_dir, hooks=[Fingerprint()])
    assert result.errors == [] and result.updates > 1000
    return result.results[0]  # type: ignore[no-any-return]


def pack(plain_dir: Path, dest: Path, how: str) -> Path:
    dest.mkdir()
    for path in sorted(plain_dir.iterdir()):
        data = path.read_bytes()
        if how == "gz":
            (dest / (path.name + ".gz")).write_bytes(gzip.compress(data))
        elif how == "bz2":
            (dest / (path.name + ".bz2")).write_bytes(bz2.compress(data))
        elif how == "zst":
            import zstandard

            (dest / (path.name + ".zst")).write_bytes(zstandard.ZstdCompressor().compress(data))
    if how == "tar":  # Betfair's own packing: a .tar of .bz2 files, in folders
        inner = dest / "inner"
        inner.mkdir()
        for path in sorted(plain_dir.iterdir()):
            (inner / (path.name + ".bz2")).write_bytes(bz2.compress(path.read_bytes()))
        archive = dest / "data.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(inner, arcname="PRO/2026/Oct/1")
        shutil.rmtree(inner)
    return dest


@pytest.mark.parametrize("how", ["gz", "bz2", "zst", "tar"])
def test_packing_does_not_change_results(
    plain_dir: Path, baseline: dict[str, Any], tmp_path: Path, how: str
) -> None:
    packed = pack(plain_dir, tmp_path / how, how)
    result = replay(packed, hooks=[Fingerprint()])
    assert result.errors == []
    assert result.results[0] == baseline
    if how == "tar":
        sources = discover(packed)
        assert all(s.member and s.member.startswith("PRO/2026/Oct/1/") for s in sources)
        assert list(packed.iterdir()) == [packed / "data.tar"]  # read in place, not extracted


def test_workers_do_not_change_results(plain_dir: Path, baseline: dict[str, Any]) -> None:
    result = replay(plain_dir, hooks=[Fingerprint()], workers=2)
    assert result.errors == [] and result.results[0] == baseline
    assert [f.source for f in result.files] == sorted(f.source for f in result.files)


def test_dask_local_cluster_gives_the_same_results(
    plain_dir: Path, baseline: dict[str, Any]
) -> None:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # any free port: 8787 may be taken
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = replay(plain_dir, hooks=[Fingerprint()], executor=client.get_executor())
    assert result.errors == [] and result.results[0] == baseline


class Counter:
    def __init__(self) -> None:
        self.markets: dict[str, dict[str, Any]] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        seen = self.markets.setdefault(book.market_id, {"n": 0, "inplay": set(), "type": None})
        seen["n"] += 1
        seen["inplay"].add(bool(book.inplay))
        seen["type"] = (book.market_definition or {}).get("marketType")
        seen.setdefault("first_pt", book.publish_time)
        seen["start"] = (book.market_definition or {}).get("marketTime")

    def result(self) -> dict[str, dict[str, Any]]:
        return self.markets


def test_inplay_only(plain_dir: Path) -> None:
    result = replay(plain_dir, hooks=[Counter()], market_filter={"inplay": True})
    seen = result.results[0]
    assert seen and all(m["inplay"] == {True} for m in seen.values())


def test_preplay_window(plain_dir: Path) -> None:
    from datetime import datetime

    result = replay(plain_dir, hooks=[Counter()], market_filter={"seconds_to_start": 300})
    seen = result.results[0]
    assert seen
    for m in seen.values():
        assert m["inplay"] == {False}
        start = datetime.fromisoformat(m["start"].replace("Z", "+00:00")).timestamp() * 1000
        assert start - m["first_pt"] <= 300_000


def test_market_types(plain_dir: Path) -> None:
    everything = replay(plain_dir, hooks=[Counter()]).results[0]
    types = {m["type"] for m in everything.values()}
    assert "WIN" in types and len(types) > 1
    only_win = replay(plain_dir, hooks=[Counter()], market_filter={"market_types": ["WIN"]})
    assert only_win.results[0] and {m["type"] for m in only_win.results[0].values()} == {"WIN"}
    assert sum(f.filtered_markets for f in only_win.files) >= 1
    ids = sorted(everything)[:2]
    by_id = replay(plain_dir, hooks=[Counter()], market_filter=ReplayFilter.make(market_ids=ids))
    assert sorted(by_id.results[0]) == ids


def test_corrupt_line_and_truncated_bz2_are_named(plain_dir: Path, tmp_path: Path) -> None:
    good = sorted(plain_dir.iterdir())
    bad_dir = tmp_path / "mixed"
    bad_dir.mkdir()
    for path in good[:3]:
        shutil.copy(path, bad_dir / path.name)
    lines = good[0].read_bytes().splitlines()
    corrupt = b"\n".join([*lines[:4], b'{"op":"mcm","pt":1,"mc":[{"id": broken', *lines[4:]])
    (bad_dir / "corrupt.json").write_bytes(corrupt)
    payload = bz2.compress(good[1].read_bytes())
    (bad_dir / "truncated.bz2").write_bytes(payload[: len(payload) // 2])

    strict = replay(bad_dir, hooks=[Fingerprint()], strict=True)
    errors = {Path(e.path).name: e for e in strict.errors}
    assert set(errors) == {"corrupt.json", "truncated.bz2"}
    assert errors["corrupt.json"].line == 5
    assert errors["truncated.bz2"].line is not None and "truncated" in str(errors["truncated.bz2"])
    # The good files' results still arrived.
    assert set(strict.results[0]) >= {p.name for p in good[:3]}

    lenient = replay(bad_dir, hooks=[Fingerprint()])
    corrupt_result = next(f for f in lenient.files if f.source.endswith("corrupt.json"))
    assert corrupt_result.error is None and corrupt_result.skipped == 1


def test_iter_lines_handles_crlf_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b'{"a":1}\r\n\r\n{"b":2}'))
    assert [n for n, _ in iter_lines(Source(str(path)))] == [1, 3]


def test_iter_lines_joins_lines_across_read_chunks(tmp_path: Path) -> None:
    # lines that straddle the 1 MiB reads, one longer than a whole read, ends with no newline
    lines = [b"a" * 700_000, b"b" * 2_500_000, b"c", b"", b"d" * 1_048_575, b"e" * 10]
    path = tmp_path / "long.txt"
    path.write_bytes(b"\n".join(lines))
    got = list(iter_lines(Source(str(path))))
    assert [n for n, _ in got] == [1, 2, 3, 5, 6]
    assert [line for _, line in got] == [x for x in lines if x]


def test_missing_source_is_a_clear_error() -> None:
    with pytest.raises(Exception, match="no such replay source"):
        replay("/nonexistent/file")


def test_replay_error_pickles() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(ReplayError("a.bz2", 3, "boom")))
    assert (err.path, err.line, str(err)) == ("a.bz2", 3, "a.bz2:3: boom")


def test_concatenated_compressed_streams_are_read_whole(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    first, second = b'{"a":1}\n{"b":2}\n', b'{"c":3}\n'
    cases = {
        "x.gz": gzip.compress(first) + gzip.compress(second),
        "x.bz2": bz2.compress(first) + bz2.compress(second),
        "x.zst": zstandard.ZstdCompressor().compress(first)
        + zstandard.ZstdCompressor().compress(second),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        lines = [line for _, line in iter_lines(Source(str(tmp_path / name)))]
        assert lines == [b'{"a":1}', b'{"b":2}', b'{"c":3}'], name


def test_markets_counts_each_market_once(tmp_path: Path) -> None:
    """``markets``: distinct markets the cache made a book for: one made by a line that then
    failed counts, one evicted (closed for over 10 minutes) and seen again counts once."""
    messages = [
        {"op": "mcm", "pt": 1000, "mc": [{"id": "1.1", "rc": 5}]},  # makes 1.1, then fails
        {
            "op": "mcm",
            "pt": 1000,
            "mc": [
                {
                    "id": "1.2",
                    "img": True,
                    "marketDefinition": {
                        "status": "CLOSED",
                        "runners": [{"id": 1, "status": "WINNER"}],
                    },
                }
            ],
        },
        {"op": "mcm", "pt": 701_000, "mc": [{"id": "1.3", "rc": [{"id": 1, "atb": [[2, 1]]}]}]},
        {"op": "mcm", "pt": 701_001, "mc": [{"id": "1.2", "rc": [{"id": 1, "atb": [[2, 1]]}]}]},
    ]
    path = tmp_path / "markets"
    path.write_bytes(b"\n".join(orjson.dumps(m) for m in messages) + b"\n")
    statuses: list[Any] = []

    def hook(book: Any, trades: list[Any]) -> None:
        if book.market_id == "1.2":
            statuses.append(book.status)

    for hooks in ([], [hook]):
        got = replay(path, hooks=hooks).files[0]
        assert (got.lines, got.markets, got.updates, got.skipped) == (4, 3, 3, 1)
    assert statuses[0] == "CLOSED" and statuses[1] != "CLOSED"  # 1.2 was evicted in between


@pytest.mark.parametrize("compressed", [False, True])
def test_a_line_over_the_limit_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    """A "line" past sources.MAX_LINE (a file that is not line-delimited) fails its file with
    the file and line named, instead of reading the whole file into one line."""
    from marketstreams import sources

    monkeypatch.setattr(sources, "MAX_LINE", 3 << 20)
    ok = b'{"op":"mcm","pt":1,"mc":[]}'
    long = random.Random(0).randbytes(5 << 19).hex().encode()  # 5 MiB, barely compressible
    data = ok + b"\n" + long + b"\n" + ok + b"\n"
    path = tmp_path / ("long.gz" if compressed else "long")
    path.write_bytes(gzip.compress(data) if compressed else data)
    good = tmp_path / "good"
    good.write_bytes(ok + b"\n")
    result = replay([path, good])
    failed = next(f for f in result.files if f.source == str(path))
    assert failed.error is not None and "longer than 3 MiB" in failed.error
    assert failed.error_line == 2
    assert next(f for f in result.files if f.source == str(good)).error is None
    with pytest.raises(ReplayError, match="longer than 3 MiB"):
        list(iter_lines(Source(str(path))))
    monkeypatch.setattr(sources, "MAX_LINE", 6 << 20)  # under the limit: read whole
    assert [len(line) for _, line in iter_lines(Source(str(path)))] == [len(ok), 5 << 20, len(ok)]


@pytest.mark.parametrize("suffix", [".gz", ".bz2"])
def test_decompressed_pieces_are_bounded(suffix: str) -> None:
    """A small read that decompresses to a great deal (30 MB from a few KB here) comes out in
    pieces of at most sources.OUT_STEP bytes, whole and in order, concatenated streams too."""
    from marketstreams.sources import OUT_STEP, decompressed_chunks

    data = (b"0" * 999 + b"\n") * 30_000
    pack = gzip.compress if suffix == ".gz" else bz2.compress
    packed = pack(data) + pack(b"tail\n")  # two streams, one after the other
    assert len(packed) < CHUNK_OF_READS
    pieces = list(decompressed_chunks(io.BytesIO(packed), "x" + suffix))
    assert max(len(p) for p in pieces) <= OUT_STEP and len(pieces) > len(data) // OUT_STEP
    assert b"".join(pieces) == data + b"tail\n"
    with pytest.raises(BrokenStream, match="truncated"):
        list(decompressed_chunks(io.BytesIO(pack(data)[:-20]), "x" + suffix))


def test_a_compressed_line_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketstreams import sources

    monkeypatch.setattr(sources, "MAX_LINE", 3 << 20)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"x" * (40 << 20)))  # 40 MiB, no newline, ~40 KB packed
    got = replay(path).files[0]
    assert got.error is not None and "longer than 3 MiB" in got.error and got.error_line == 1

"""The compiled line splitter of replays (marketstreams/_linesplit.c) against bytes.split, and
the guarantee that makes its reuse of bytes objects invisible: a line somebody still holds is
never written to again."""

from __future__ import annotations

import gzip
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams import sources
from marketstreams.sources import Source, iter_line_blocks, iter_line_runs, iter_lines

try:
    from marketstreams import _linesplit
except ImportError:  # pragma: no cover - only without a compiler
    _linesplit = None  # type: ignore[assignment]

needs_compiled = pytest.mark.skipif(
    _linesplit is None, reason="the compiled line splitter is not built (pip install -e . with gcc)"
)


def own(line: bytes) -> bytes:
    """A copy that is a new object (bytes(line) would hand back line itself)."""
    return bytes(bytearray(line))


def reference(head: bytes, chunk: bytes) -> tuple[list[bytes], bytes]:
    parts = (head + chunk).split(b"\n")
    return parts[:-1], parts[-1]


def test_compiled_splitter_is_built_and_used() -> None:
    if os.environ.get("MARKETSTREAMS_PURE_PYTHON", "") not in ("", "0"):
        assert sources.Lines is None
        return
    # CI and `./dev` build it; falling back silently would hide a slower replay.
    assert _linesplit is not None, "marketstreams' line splitter is not built: pip install -e ."
    assert sources.Lines is _linesplit.Lines


pieces = st.lists(
    st.sampled_from([b"\n", b"\r\n", b"{}", b'{"a":1}', b"x" * 700, b" ", b"\xff\x00", b"\n\n"]),
    max_size=40,
).map(b"".join)


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(head=pieces, chunk=pieces, kind=st.sampled_from([bytes, bytearray, memoryview]))
def test_lines_match_bytes_split(head: bytes, chunk: bytes, kind: type) -> None:
    it = _linesplit.Lines(head.replace(b"\n", b""), kind(chunk))
    expected, rest = reference(head.replace(b"\n", b""), chunk)
    got = [own(line) for line in it]  # copies: the iterator may reuse what is dropped
    assert got == expected
    assert it.rest == rest and it.count == len(expected)
    assert list(it) == []  # exhausted stays exhausted


@needs_compiled
@settings(max_examples=200, deadline=None)
@given(data=pieces, cuts=st.lists(st.integers(0, 2000), max_size=6), keep=st.integers(1, 4))
def test_kept_lines_never_change(data: bytes, cuts: list[int], keep: int) -> None:
    """Chunks cut anywhere; every keep-th line is held on to (the rest dropped at once): the
    held ones still read as they were made, and hash and compare as the bytes they hold."""
    bounds = [*sorted({min(c, len(data)) for c in cuts}), len(data)]
    chunks, start = [], 0
    for end in bounds:
        chunks.append(data[start:end])
        start = end
    held: list[tuple[bytes, bytes]] = []
    seen: list[bytes] = []
    rest = b""
    for chunk in chunks:
        it = _linesplit.Lines(rest, chunk)
        for i, line in enumerate(it):
            copy = own(line)
            assert hash(line) == hash(copy)  # never a hash left from an earlier line
            assert {line: i}[copy] == i  # (a dict that lets the line go again at once)
            seen.append(copy)
            if i % keep == 0:
                held.append((line, copy))
        rest = it.rest
    expected = data.split(b"\n")
    assert seen == expected[:-1] and rest == expected[-1]
    for line, copy in held:
        assert line == copy and hash(line) == hash(copy)


@needs_compiled
def test_lines_reuse_needs_a_free_object() -> None:
    it = _linesplit.Lines(b"", b"aa\nbbbb\ncc\nd\n")
    first = next(it)
    second = next(it)
    third = next(it)
    fourth = next(it)
    # held by the caller the whole time: four distinct objects, each still as made
    assert [first, second, third, fourth] == [b"aa", b"bbbb", b"cc", b"d"]
    assert len({id(first), id(second), id(third), id(fourth)}) == 4


@needs_compiled
def test_rest_before_the_end_is_an_error() -> None:
    it = _linesplit.Lines(b"", b"a\nb")
    with pytest.raises(RuntimeError, match="exhausted"):
        _ = it.rest
    assert list(map(own, it)) == [b"a"] and it.rest == b"b"


@needs_compiled
def test_lines_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        _linesplit.Lines("text", b"a\n")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _linesplit.Lines(b"", "a\n")  # type: ignore[arg-type]


@pytest.mark.parametrize("compressed", [False, True])
def test_line_runs_same_with_and_without_the_compiled_splitter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compressed: bool
) -> None:
    lines = [b'{"op":"mcm","pt":%d}' % i + b" " * (i % 977) for i in range(4000)]
    lines[7] = lines[900] = b""
    lines[1500] = b"x" * 3_000_000  # longer than a read
    lines[2000] = b"  \r"
    data = b"\n".join(lines) + b"\n" + b"no newline at the end"
    path = tmp_path / ("f.gz" if compressed else "f")
    path.write_bytes(gzip.compress(data) if compressed else data)

    def read(blocks: Any) -> list[tuple[int, bytes]]:
        out = []
        for before, block in blocks:
            out.extend((n, own(line)) for n, line in enumerate(block, before + 1))
        return out

    runs = read(iter_line_runs(Source(str(path))))
    blocks = read(iter_line_blocks(Source(str(path))))
    monkeypatch.setattr(sources, "Lines", None)
    pure_runs = read(iter_line_runs(Source(str(path))))
    assert runs == blocks == pure_runs
    assert [line for _, line in runs] == data.split(b"\n")
    assert [n for n, _ in runs] == list(range(1, len(lines) + 2))


def test_public_blocks_and_lines_are_plain(tmp_path: Path) -> None:
    """iter_line_blocks hands out lists that outlive the next block, and iter_lines lines of
    their own size: the reusing splitter is for the replay loop only."""
    path = tmp_path / "f"
    path.write_bytes(b"y" * 2_000_000 + b"\n" + b"".join(b"%d\n" % i for i in range(20_000)))
    blocks = list(iter_line_blocks(Source(str(path))))
    assert all(isinstance(block, list) for _, block in blocks)
    assert sum(len(block) for _, block in blocks) == 20_001
    tracemalloc.start()
    try:
        kept = [line for _, line in iter_lines(Source(str(path)))]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == 20_001 and kept[-1] == b"19999"
    # what the lines need (plus the list): not 20,000 buffers of the long line's size
    assert held < 2 * (sum(sys.getsizeof(line) for line in kept) + sys.getsizeof(kept))

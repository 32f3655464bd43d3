"""Replay sources: plain, .gz, .bz2 and .zst files, folders walked recursively, and the members of
.tar archives read in place (never extracted).

Lines are produced by streaming decompression, so a truncated archive is reported with the
number of the line where it broke off, and memory stays flat whatever the file size.
"""

from __future__ import annotations

import bz2
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from ._twins import pure_python_forced
from .exceptions import ConfigurationError, MarketStreamsError, ReplayError

__all__ = [
    "BrokenStream",
    "Source",
    "decompressed_chunks",
    "discover",
    "iter_line_blocks",
    "iter_line_runs",
    "iter_lines",
    "open_source",
]

CHUNK = 1 << 20
# A line found to grow past this over several reads is refused (ReplayError naming the file and
# line): no stream message comes near it, and a file without newlines would otherwise be read
# whole into one "line".
MAX_LINE = 64 << 20
OUT_STEP = 4 << 20  # the most decompressed data one piece holds

# The compiled line splitter of iter_line_runs (see _linesplit.c); None: bytes.split.
Lines: Any = None
if not pure_python_forced():
    try:
        from ._linesplit import Lines
    except ImportError:
        pass

_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_SKIP_NAMES = {".DS_Store"}


@dataclass(frozen=True, slots=True)
class Source:
    """One replayable stream of lines: a file, or a ``member`` of the .tar at ``path``."""

    path: str
    member: str | None = None
    size: int = 0  # compressed bytes, for progress and for spreading work over workers

    @property
    def name(self) -> str:
        """``path`` or ``path::member``, as errors and results name it."""
        return self.path if self.member is None else f"{self.path}::{self.member}"

    @property
    def basename(self) -> str:
        return os.path.basename(self.member if self.member is not None else self.path)


def _is_tar(path: str) -> bool:
    return path.endswith(_TAR_SUFFIXES)


def discover(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[Source]:
    """Expand files, folders (recursively, sorted) and .tar archives (their file members) into
    sources, in a stable order."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out: list[Source] = []
    for raw in paths:
        path = os.fspath(raw)
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    if name in _SKIP_NAMES or name.startswith("."):
                        continue
                    out.extend(_expand(os.path.join(root, name)))
        elif os.path.exists(path):
            out.extend(_expand(path))
        else:
            raise ConfigurationError(f"no such replay source: {path}")
    return out


def _expand(path: str) -> list[Source]:
    if not _is_tar(path):
        return [Source(path, None, os.path.getsize(path))]
    try:
        with tarfile.open(path) as tar:
            return [
                Source(path, m.name, m.size)
                for m in sorted(tar.getmembers(), key=lambda m: m.name)
                if m.isfile() and not os.path.basename(m.name).startswith(".")
            ]
    except (tarfile.TarError, OSError) as exc:
        raise ReplayError(path, None, f"cannot read the archive ({exc})") from exc


def _decompressor(name: str) -> tuple[Any, bool] | None:
    """(factory of a fresh decompressor, supports multi-stream) for a file name, None if plain."""
    if name.endswith(".bz2"):
        return (bz2.BZ2Decompressor, True)
    if name.endswith(".gz"):
        return (lambda: zlib.decompressobj(wbits=47), True)
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise ConfigurationError(
                f"{name}: .zst needs the 'zstandard' package (pip install zstandard)"
            ) from None
        return (lambda: zstandard.ZstdDecompressor().decompressobj(), True)
    return None


def decompressed_chunks(
    fileobj: IO[bytes], name: str, *, step: int = CHUNK, allow_truncated: bool = False
) -> Iterator[bytes]:
    """Decompressed chunks of one file object, by the compression its ``name`` says.

    Raises :class:`BrokenStream` on corrupt data, and on a compressed stream that ends early
    unless ``allow_truncated`` (a recording whose recorder was killed ends after its last
    complete flush)."""
    kind = _decompressor(name)
    if kind is None:
        while chunk := fileobj.read(step):
            yield chunk
        return
    factory, multi = kind
    dec = factory()
    ended = False
    while raw := fileobj.read(step):
        while raw:
            if ended:  # a further stream follows (concatenated .gz / .bz2)
                dec, ended = factory(), False
            try:  # (only the decompressor raises here: nothing is thrown in at the yield)
                for out in _pieces(dec, raw):
                    if out:
                        yield out
            except (OSError, EOFError, ValueError, zlib.error) as exc:
                raise BrokenStream(f"corrupt compressed data ({exc})") from exc
            except Exception as exc:  # zstandard.ZstdError and friends
                raise BrokenStream(f"corrupt compressed data ({exc})") from exc
            raw = b""
            if getattr(dec, "eof", False):
                ended = True
                raw = getattr(dec, "unused_data", b"") if multi else b""
    if not ended and getattr(dec, "eof", True) is False and not allow_truncated:
        raise BrokenStream("the compressed file ends early (truncated)")


_ZLIB_DECOMPRESS = type(zlib.decompressobj())


def _pieces(dec: Any, raw: bytes) -> Iterator[bytes]:
    """What ``dec`` makes of ``raw``, at most OUT_STEP bytes at a time: a small compressed read
    can hold a great deal (a compression bomb must not land in memory at once). zstandard's
    decompressors take no limit and give it all."""
    if isinstance(dec, bz2.BZ2Decompressor):
        yield dec.decompress(raw, OUT_STEP)
        while not dec.eof and not dec.needs_input:
            yield dec.decompress(b"", OUT_STEP)
    elif isinstance(dec, _ZLIB_DECOMPRESS):
        out = dec.decompress(raw, OUT_STEP)
        yield out
        # (a full piece may leave output inside zlib even when it took all the input)
        while not dec.eof and (dec.unconsumed_tail or len(out) == OUT_STEP):
            out = dec.decompress(dec.unconsumed_tail, OUT_STEP)
            yield out
    else:
        yield dec.decompress(raw)


class BrokenStream(MarketStreamsError):
    """The byte stream of a source broke (corrupt or truncated); callers add where."""


def open_source(source: Source) -> tuple[IO[bytes], Any]:
    """The readable (still compressed) bytes of a source, and the tar to close after, if any."""
    if source.member is None:
        return open(source.path, "rb"), None
    tar = tarfile.open(source.path)
    member = tar.extractfile(source.member)
    if member is None:
        tar.close()
        raise ReplayError(source.name, None, "not a regular file in the archive")
    return member, tar


def iter_lines(source: Source) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` for every non-empty line of a source (1-based numbers).

    Raises :class:`~marketstreams.exceptions.ReplayError` naming the source and the line where
    reading broke off (a truncated or corrupt archive, an unreadable file).
    """
    for before, lines in iter_line_blocks(source):
        for i, line in enumerate(lines, before + 1):
            if line and not line.isspace():
                yield i, line


def iter_line_blocks(source: Source) -> Iterator[tuple[int, list[bytes]]]:
    """The source's lines a block at a time (what one decompressed chunk holds): ``(number of
    lines before the block, lines)``, blank lines included so that positions stay countable.
    The block form of :func:`iter_lines`, with the same errors."""
    return cast("Iterator[tuple[int, list[bytes]]]", _blocks(source, lazy=False))


def iter_line_runs(source: Source) -> Iterator[tuple[int, Iterable[bytes]]]:
    """:func:`iter_line_blocks` for loops that drop each line before taking the next, as the
    replay loop does: a block is a one-shot iterable, to go through before asking for the next
    one. With the compiled splitter (:mod:`marketstreams._linesplit`) each line is made as it is
    reached, and a later line may be written into a bytes object nobody holds any more (one that
    is kept is never touched again, but may hold a larger buffer than its length)."""
    return _blocks(source, lazy=Lines is not None)


def _blocks(source: Source, *, lazy: bool) -> Iterator[tuple[int, Iterable[bytes]]]:
    lineno = 0
    try:
        fileobj, tar = open_source(source)
    except OSError as exc:
        raise ReplayError(source.name, None, f"cannot open ({exc})") from exc
    try:
        rest = b""
        pieces: list[bytes] = []  # a line longer than a read, until its end comes
        held = 0
        for chunk in decompressed_chunks(fileobj, source.basename):
            if b"\n" not in chunk:  # the middle of a long line: kept, joined once at its end
                pieces.append(chunk)
                held += len(chunk)
                if len(rest) + held > MAX_LINE:
                    raise ReplayError(
                        source.name,
                        lineno + 1,
                        f"a line longer than {MAX_LINE >> 20} MiB: not a line-delimited stream"
                        " file?",
                    )
                continue
            if pieces:
                rest = b"".join([rest, *pieces])
                pieces, held = [], 0
            if lazy:
                block = Lines(rest, chunk)
                yield lineno, block
                for _ in block:  # what the caller left (it normally reads them all)
                    pass
                lineno += block.count
                rest = block.rest
                continue
            lines = chunk.split(b"\n")
            if rest:  # the line the last chunk ended in (joined alone: no copy of the chunk)
                lines[0] = rest + lines[0]
            rest = lines.pop()
            if lines:
                yield lineno, lines
                lineno += len(lines)
        if pieces:
            rest = b"".join([rest, *pieces])
        if rest:
            yield lineno, [rest]
            lineno += 1
    except BrokenStream as exc:
        raise ReplayError(source.name, lineno + 1, str(exc)) from None
    except OSError as exc:
        raise ReplayError(source.name, lineno + 1, f"read failed ({exc})") from exc
    finally:
        fileobj.close()
        if tar is not None:
            tar.close()

"""Reading recordings back: find them among replay sources, group their files by channel, and
iterate their records in order (across parts and days)."""

from __future__ import annotations

import bz2
import logging
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Final

from ..exceptions import ConfigurationError, MalformedFrameError, ReplayError
from ..sources import Source
from .format import MAGIC, Header, Record, RecordDecoder, parse_header_line

__all__ = ["RecordingFile", "group_channels", "peek_header", "read_records"]

logger = logging.getLogger("marketstreams.recording")

CHUNK: Final = 1 << 20
_PEEK_STEP: Final = 16 * 1024
_PEEK_LIMIT: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class RecordingFile:
    """One file of a recording: where it is and its header."""

    source: Source
    header: Header


def _open(source: Source) -> tuple[IO[bytes], tarfile.TarFile | None]:
    if source.member is None:
        return open(source.path, "rb"), None
    tar = tarfile.open(source.path)
    member = tar.extractfile(source.member)
    if member is None:
        tar.close()
        raise ReplayError(source.name, None, "not a regular file in the archive")
    return member, tar


def _decompressor(name: str) -> Any:
    if name.endswith(".gz"):
        return zlib.decompressobj(wbits=47)
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise ConfigurationError(
                f"{name}: .zst needs the 'zstandard' package (pip install zstandard)"
            ) from None
        return zstandard.ZstdDecompressor().decompressobj()
    if name.endswith(".bz2"):
        return bz2.BZ2Decompressor()
    return None


def _chunks(fileobj: IO[bytes], name: str, step: int = CHUNK) -> Iterator[bytes]:
    """Decompressed chunks. A stream cut short (a recorder that was killed) ends quietly
    after its last complete flush; the decoder notices a record cut in half."""
    dec = _decompressor(name)
    while raw := fileobj.read(step):
        if dec is None:
            yield raw
            continue
        try:
            out = dec.decompress(raw)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise MalformedFrameError(f"corrupt compressed data ({exc})", b"") from exc
        except Exception as exc:  # zstandard.ZstdError
            raise MalformedFrameError(f"corrupt compressed data ({exc})", b"") from exc
        if out:
            yield out
        if getattr(dec, "eof", False):
            rest = getattr(dec, "unused_data", b"")
            if not rest:
                continue
            # A further stream follows (a file appended to): start over on it.
            dec = _decompressor(name)
            out = dec.decompress(rest)
            if out:
                yield out


def peek_header(source: Source) -> Header | None:
    """The recording header of ``source``, or None when it is not a recording (a Betfair
    historical file, say). Reads only the first few kilobytes; ``.bz2`` files are never
    recordings (the recorder writes plain, ``.gz`` or ``.zst``)."""
    if source.basename.endswith(".bz2"):
        return None
    try:
        fileobj, tar = _open(source)
    except OSError:
        return None
    try:
        head = b""
        read = 0
        for chunk in _chunks(fileobj, source.basename, _PEEK_STEP):
            head += chunk
            read += _PEEK_STEP
            if len(head) >= len(MAGIC) and not head.startswith(MAGIC):
                return None
            end = head.find(b"\n")
            if end >= 0:
                try:
                    return parse_header_line(head[:end])
                except MalformedFrameError:
                    return None
            if read >= _PEEK_LIMIT:
                return None
        return None
    except (MalformedFrameError, OSError, ConfigurationError):
        return None
    finally:
        fileobj.close()
        if tar is not None:
            tar.close()


def read_records(source: Source) -> Iterator[Record]:
    """Every record of one file, in order. Raises :class:`~marketstreams.exceptions.ReplayError`
    (path and record number) for a file that is not a recording or is damaged mid-file; a
    file cut short by a crash ends with a warning after its last complete block."""
    decoder = RecordDecoder()
    try:
        fileobj, tar = _open(source)
    except OSError as exc:
        raise ReplayError(source.name, None, f"cannot open ({exc})") from exc
    try:
        for chunk in _chunks(fileobj, source.basename):
            yield from decoder.feed(chunk)
        if decoder.header is None:
            raise ReplayError(source.name, None, "not a marketstreams recording")
        if decoder.pending:
            logger.warning(
                "%s ends inside a block (%d bytes after record %d): the recorder was stopped "
                "abruptly; replaying up to there",
                source.name,
                decoder.pending,
                decoder.records,
            )
    except MalformedFrameError as exc:
        raise ReplayError(source.name, decoder.records + 1, str(exc)) from None
    except OSError as exc:
        raise ReplayError(source.name, decoder.records + 1, f"read failed ({exc})") from exc
    finally:
        fileobj.close()
        if tar is not None:
            tar.close()


def group_channels(files: Iterable[RecordingFile]) -> list[list[RecordingFile]]:
    """Files grouped by channel, parts in order; channels in the order they started."""
    by_channel: dict[str, list[RecordingFile]] = {}
    for f in files:
        by_channel.setdefault(f.header.channel, []).append(f)
    groups = [
        sorted(g, key=lambda f: (f.header.part, f.header.opened)) for g in by_channel.values()
    ]
    groups.sort(key=lambda g: (g[0].header.started, g[0].header.channel))
    return groups


def channel_records(files: list[RecordingFile]) -> Iterator[Record]:
    """The records of one channel's files, in order."""
    for f in files:
        yield from read_records(f.source)

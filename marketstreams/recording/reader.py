"""Reading recordings back: find them among replay sources, group their files by channel, and
iterate their records in order (across parts and days)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Final

from ..exceptions import ConfigurationError, MalformedFrameError, ReplayError
from ..sources import BrokenStream, Source, decompressed_chunks, open_source
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


def _chunks(fileobj: IO[bytes], name: str, step: int = CHUNK) -> Iterator[bytes]:
    """Decompressed chunks. A stream cut short (a recorder that was killed) ends quietly
    after its last complete flush; the decoder notices a record cut in half."""
    try:
        yield from decompressed_chunks(fileobj, name, step=step, allow_truncated=True)
    except BrokenStream as exc:
        raise MalformedFrameError(str(exc), b"") from exc


def peek_header(source: Source) -> Header | None:
    """The recording header of ``source``, or None when it is not a recording (a Betfair
    historical file, say). Reads only the first few kilobytes; ``.bz2`` files are never
    recordings (the recorder writes plain, ``.gz`` or ``.zst``)."""
    if source.basename.endswith(".bz2"):
        return None
    try:
        fileobj, tar = open_source(source)
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
        fileobj, tar = open_source(source)
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

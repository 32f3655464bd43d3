"""The recorder: frames handed over on the live path, compressed and written by a thread.

More in docs/modules.md (``marketstreams.recording.writer``).
"""

from __future__ import annotations

import atexit
import calendar
import contextlib
import logging
import os
import re
import threading
import time
import weakref
import zlib
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import orjson

from ..exceptions import ConfigurationError
from .format import Header, Kind, block_parts, block_prefix, encode_header, public_endpoint

__all__ = ["Channel", "Companion", "Recorder", "RecorderStats", "Redactor"]

logger = logging.getLogger("marketstreams.recording")

MiB: Final = 1024 * 1024
_OPEN: Final = "+"
_CLOSE: Final = "-"
_BARRIER: Final = "|"
_CONTROL: Final = frozenset((_OPEN, _CLOSE, _BARRIER))
_CONTROL_AT: Final = re.compile(r"[+|-]")
#: A record is four consecutive items of the queue (one ``list.extend`` of a tuple, atomic
#: under the GIL): channel, kind, time, payload. The thread takes each field as a slice.
_FIELDS: Final = 4
_BYTES: Final = {bytes}
_STR: Final = {str}


def _pack(datas: Any) -> tuple[bytes, array[int]]:
    """Payloads of a run as one blob and their lengths, with bulk operations only."""
    types = set(map(type, datas))
    if types == _BYTES:
        return b"".join(datas), array("I", map(len, datas))
    if types == _STR:
        # Text (most venues' JSON): one join and one encode for the whole run; when no byte
        # was added by the encoding, it was all ASCII and each length is the text's.
        text = "".join(datas)
        blob = text.encode("utf-8", "surrogatepass")
        if len(blob) == len(text):
            return blob, array("I", map(len, datas))
    payloads = [d if type(d) is bytes else d.encode("utf-8", "surrogatepass") for d in datas]
    return b"".join(payloads), array("I", map(len, payloads))


def _build(
    kinds: str, times: array[int], datas: Any, lengths: array[int] | None = None
) -> tuple[bytes, int] | None:
    """A whole block in one piece, and its size as rotation counts it, with one join (and for
    text one encode) of all the payloads and no other copy; None unless the payloads are all
    ASCII text or all bytes (:func:`_pack` then takes them)."""
    try:
        if not all(map(str.isascii, datas)):
            return None
        text = True
    except TypeError:  # not str: bytes (all of them, or the join below fails)
        text = False
    if lengths is None:
        lengths = array("I", map(len, datas))
    payloads = sum(lengths)
    prefix = block_prefix(kinds.encode("ascii"), times, lengths, payloads)
    try:
        if text:  # (latin-1 maps the index's bytes to one character each, and back)
            parts: list[Any] = [prefix.decode("latin-1"), *datas, "\n"]
            block = "".join(parts).encode("latin-1")
        else:
            parts = [prefix, *datas, b"\n"]
            block = b"".join(parts)
    except TypeError:  # str and bytes mixed
        return None
    return block, payloads + 13 * len(lengths)


def _split(blob: bytes, lengths: array[int]) -> list[bytes]:
    """The payloads of a blob back (only where one by one is needed: scrubbing, companions)."""
    out = []
    offset = 0
    for n in lengths:
        out.append(blob[offset : offset + n])
        offset += n
    return out


_COMMIT_BYTES: Final = 4 * MiB  # compress at least this often within one drain
#: Chunks this big are compressed on their own; smaller ones are joined first (a copy of a
#: small chunk costs the live side less than one more hand-over of the GIL).
_ALONE: Final = 256 * 1024
_ERROR_LOG_EVERY: Final = 60.0
#: What a queued record costs beyond its payload (int, str/bytes object, four list slots):
#: counted against ``max_buffer`` so that tiny frames cannot exceed it many times over.
_RECORD_OVERHEAD: Final = 128
_RETRY_NS: Final = 60 * 1_000_000_000  # after a failed open or write, a new part this much later

#: ``redact(kind, payload) -> payload``: run in the writer thread on a channel's records.
Redactor = Callable[[str, bytes], bytes]

_live: weakref.WeakSet[Recorder] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - runs at interpreter exit
    for recorder in list(_live):
        with contextlib.suppress(Exception):
            recorder.close()


@dataclass(slots=True)
class RecorderStats:
    """Counters of a :class:`Recorder` (read them at any time)."""

    frames: int = 0  # records taken from the live path (frames and markers)
    dropped: int = 0  # frames dropped because the buffer was full
    records: int = 0  # records written
    bytes: int = 0  # bytes written before compression
    written: int = 0  # bytes written to disk (compressed)
    files: int = 0  # files opened
    errors: int = 0  # failed opens and writes (logged)
    unwritten: int = 0  # records lost to failed opens

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Compressor:
    """gzip (zlib), zstd or nothing, with a sync flush that keeps the file readable."""

    __slots__ = ("compress", "end", "flush")

    def __init__(self, kind: str, level: int | None) -> None:
        if kind == "gzip":
            # Level 1 by default: several times faster than 6, files about 20% larger.
            obj = zlib.compressobj(1 if level is None else level, zlib.DEFLATED, 31)
            self.compress: Callable[[bytes], bytes] = obj.compress
            self.flush: Callable[[], bytes] = lambda: obj.flush(zlib.Z_SYNC_FLUSH)
            self.end: Callable[[], bytes] = obj.flush
        elif kind == "zstd":
            import zstandard

            zobj = zstandard.ZstdCompressor(level=3 if level is None else level).compressobj()
            self.compress = zobj.compress
            self.flush = lambda: zobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
            self.end = zobj.flush
        else:
            self.compress = bytes  # identity (bytes(b) is b itself)
            self.flush = self.end = bytes


_EXTENSIONS: Final = {"gzip": ".gz", "zstd": ".zst", "none": ""}
_SLUG: Final = re.compile(r"[^A-Za-z0-9._+-]+")


def _slug(text: str, limit: int = 60) -> str:
    slug = _SLUG.sub("_", text).strip("._") or "stream"
    return slug[:limit]


class Companion(Protocol):
    """A second output of a channel, written beside the recording by the writer thread (Betfair's
    historical format, say). ``feed(kind, payload)`` sees every record of the channel, in order,
    and returns the lines to write; ``folder`` and ``suffix`` name its files."""

    folder: str
    suffix: str

    def feed(self, kind: str, payload: bytes) -> list[bytes]: ...


class _Output:
    """One open file of the writer thread: handle, compressor, what waits to be compressed
    (``chunks``, ``pending`` bytes of them) and, compressed, to be written (``ready``)."""

    __slots__ = ("chunks", "comp", "dirty", "fh", "path", "pending", "ready", "ready_bytes")

    def __init__(self) -> None:
        self.fh: BinaryIO | None = None
        self.comp: _Compressor | None = None
        self.path: Path | None = None
        self.chunks: list[bytes] = []
        self.pending = 0
        self.ready: list[bytes] = []
        self.ready_bytes = 0
        self.dirty = False  # the compressor got data since its last flush


class _File:
    """Writer-thread state of one channel: its current part and what goes into it."""

    __slots__ = (
        "broken_until",
        "bytes",
        "companion",
        "day",
        "day_end",
        "header",
        "last_ts",
        "main",
        "name",
        "opened",
        "redact",
        "redact_when",
        "scrub",
        "secrets",
        "side",
    )

    def __init__(
        self,
        header: Header,
        name: str,
        secrets: list[bytes],
        redact: Redactor | None,
        companion: Companion | None,
        redact_when: bytes | None = None,
    ) -> None:
        self.header = header
        self.name = name
        self.secrets = secrets
        self.redact = redact
        self.redact_when = redact_when
        self.scrub = bool(secrets) or redact is not None
        self.companion = companion
        self.main = _Output()
        self.side = _Output()
        self.day = ""
        self.day_end = 0
        self.opened = 0
        self.last_ts = 0
        self.bytes = 0
        self.broken_until = 0


class Channel:
    """The live side of one recorded logical connection (see :meth:`Recorder.channel`).

    Times are ``time.time_ns()`` values (integer nanoseconds since the epoch: written exactly,
    and cheaply). A feed calls :meth:`received` for every frame it reads, :meth:`sent` for
    every frame it writes (:meth:`withheld` for credential frames, whose content is never stored),
    :meth:`connected` / :meth:`disconnected` around each connection, and :meth:`close` at the
    end. Every method only appends to the recorder's queue: it never blocks and never raises.
    """

    __slots__ = ("_extend", "_file", "_recorder", "closed", "lost")

    def __init__(self, recorder: Recorder, file: _File) -> None:
        self._recorder = recorder
        self._file = file
        self._extend = recorder._queue.extend
        self.lost = 0  # frames dropped since the last record that got through
        self.closed = False

    @property
    def path(self) -> Path | None:
        """The file being written (None before the first record reached the disk)."""
        return self._file.main.path

    def _put(self, kind: str, now: int, data: str | bytes) -> None:
        rec = self._recorder
        size = len(data) + _RECORD_OVERHEAD
        rec._in += size
        if (rec._in > rec._wake_at or self.lost) and self._full(now, size):
            return
        self._extend((self._file, kind, now, data))

    def received(self, now: int, frame: str | bytes) -> None:
        """A frame (or a read of a line stream) received at ``now`` (``time.time_ns()``)."""
        # The live path: ``_put`` inlined, one comparison unless the buffer needs attention.
        rec = self._recorder
        size = len(frame) + _RECORD_OVERHEAD
        rec._in += size
        if (rec._in > rec._wake_at or self.lost) and self._full(now, size):
            return
        self._extend((self._file, "R" if frame.__class__ is str else "r", now, frame))

    def _full(self, now: int, size: int) -> bool:
        """The slow path: wake the thread; drop the frame when the buffer is full (True);
        after drops, mark the spot before the next frame that gets in."""
        rec = self._recorder
        if rec._in - rec._out > rec.max_buffer:
            rec._in -= size
            self.lost += 1
            rec.stats.dropped += 1
            rec._wake.set()
            return True
        if self.lost:
            lost, self.lost = self.lost, 0
            marker = b'{"frames":%d}' % lost
            rec._in += len(marker) + _RECORD_OVERHEAD  # taken off again by the thread
            self._extend((self._file, Kind.LOST, now, marker))
        if rec._in - rec._out > rec.wake_bytes and not rec._wake_requested:
            rec._wake_requested = True
            rec._wake.set()
        return False

    def sent(self, now: int, frame: str | bytes) -> None:
        """A frame sent by the client (never one that carries credentials: see
        :meth:`withheld`)."""
        self._put(Kind.SENT if frame.__class__ is str else Kind.SENT_BYTES, now, frame)

    def withheld(self, now: int, summary: dict[str, Any] | None = None) -> None:
        """The client sent credentials; only ``summary`` (no secret in it!) is stored."""
        self._put(Kind.WITHHELD, now, orjson.dumps(summary or {}))

    def connected(self, now: int, info: dict[str, Any] | None = None) -> None:
        """A connection opened."""
        self._put(Kind.CONNECTED, now, orjson.dumps(info or {}))

    def disconnected(
        self,
        now: int,
        reason: str,
        *,
        error: str | None = None,
        counter: str | None = None,
        fatal: bool = False,
    ) -> None:
        """A connection ended (or an attempt failed): ``reason`` as the feed states it,
        ``error`` the exception's class name, ``counter`` the feed statistic it counted in,
        ``fatal`` when the feed gave up."""
        info: dict[str, Any] = {"reason": reason}
        if error is not None:
            info["error"] = error
        if counter is not None:
            info["counter"] = counter
        if fatal:
            info["fatal"] = True
        self._put(Kind.DISCONNECTED, now, orjson.dumps(info))

    def delivered(self, now: int, books: int) -> None:
        """A feed that queues its updates internally handed a batch of ``books`` updates on
        (so that a replay hands them on at the same point, with the books in the same state)."""
        self._put(Kind.DELIVERED, now, b'{"books":%d}' % books)

    def close(self) -> None:
        """No more records: the thread finishes this channel's file."""
        if not self.closed:
            self.closed = True
            self._extend((self._file, _CLOSE, 0, b""))
            self._extend = self._late
            self._recorder._wake.set()

    def _late(self, record: Iterable[Any]) -> None:
        self._recorder.stats.dropped += 1  # recorded after close(): nowhere to go


class Recorder:
    """Records feeds' traffic into ``directory``: one file per channel per UTC day.

    ::

        with Recorder("recordings/") as recorder:
            feed = luno.Feed("XBTZAR", key, secret, record=recorder)
            await Updater(feed, hooks=[...]).run()

    Files go to ``directory/VENUE/YYYY-MM-DD/VENUE-NAME-CHANNEL-PART.msrec.gz``. A new part is
    started at midnight UTC, after ``rotate_bytes`` bytes (before compression), and after
    ``rotate_seconds`` seconds when given. ``compression`` is ``"gzip"`` (the default),
    ``"zstd"`` (needs the ``zstandard`` package) or ``"none"``.

    Use one recorder from one event loop (any number of feeds); :meth:`close` (or the context
    manager) writes out what is buffered. See docs/recording.md.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        compression: str = "gzip",
        level: int | None = None,
        rotate_bytes: int = 512 * MiB,
        rotate_seconds: float | None = None,
        max_buffer: int = 256 * MiB,
        wake_bytes: int = 2 * MiB,
        flush_interval: float = 1.0,
    ) -> None:
        if compression not in _EXTENSIONS:
            raise ConfigurationError("compression must be 'gzip', 'zstd' or 'none'")
        if compression == "zstd":
            try:
                import zstandard  # noqa: F401
            except ImportError:
                raise ConfigurationError(
                    "zstd recording needs the 'zstandard' package (pip install zstandard)"
                ) from None
        if rotate_bytes < 1 or max_buffer < 1 or wake_bytes < 1 or flush_interval <= 0:
            raise ConfigurationError("sizes and flush_interval must be positive")
        if rotate_seconds is not None and rotate_seconds <= 0:
            raise ConfigurationError("rotate_seconds must be positive")
        self.directory = Path(directory)
        self.compression = compression
        self.level = level
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.max_buffer = max_buffer
        self.wake_bytes = wake_bytes
        self.flush_interval = flush_interval
        self._age = int(rotate_seconds * 1e9) if rotate_seconds is not None else 1 << 80
        self.stats = RecorderStats()
        self.files: list[Path] = []
        # records waiting for the thread, flat: _FIELDS items each (see Channel._extend)
        self._queue: list[Any] = []
        # bytes queued, payloads plus _RECORD_OVERHEAD per record (written by the live side only)
        self._in = 0
        self._out = 0  # the same, taken off the queue (written by the thread only)
        # past this many bytes queued the live side takes its slow path (set by the thread)
        self._wake_at = min(wake_bytes, max_buffer)
        self._wake = threading.Event()
        self._wake_requested = False
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False
        self._lock = threading.Lock()  # start/close only
        self._channels = 0
        self._last_error_log = 0.0
        # writer thread only: channels with data not yet written and flushed, and by when
        self._due: dict[_File, float] = {}

    def __repr__(self) -> str:
        return f"<Recorder {self.directory} {self.compression} {self.stats.as_dict()}>"

    # -- the live side -----------------------------------------------------------------------

    def channel(
        self,
        venue: str,
        endpoint: str,
        subscriptions: Iterable[Any] = (),
        *,
        feed: dict[str, Any] | None = None,
        name: str | None = None,
        secrets: Iterable[str | None] = (),
        redact: Redactor | None = None,
        redact_when: bytes | None = None,
        companion: Companion | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Channel:
        """Start recording one logical connection.

        ``endpoint`` is stored without user info or query values; ``subscriptions`` and
        ``feed`` (what a replay needs to rebuild the feed) must not hold credentials.
        ``secrets`` are scrubbed (replaced by ``***``) from every record and from the header;
        ``redact`` is called on every record's payload in the writer thread (only on those
        containing ``redact_when``, when given: a block is scanned once for it); ``companion``
        writes a second file beside each part (see :class:`Companion`).
        """
        if self._closing:
            raise ConfigurationError("this recorder is closed")
        self._start()
        started = time.time()  # for the header and the channel name only
        self._channels += 1
        channel_id = "%s-%s%02d" % (  # noqa: UP031 - bytes-free, sortable by start time
            time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)),
            os.urandom(3).hex(),
            self._channels % 100,
        )
        subs = list(subscriptions)
        header = Header(
            venue=venue,
            endpoint=public_endpoint(endpoint),
            subscriptions=subs,
            channel=channel_id,
            started=started,
            feed=dict(feed or {}),
            library=_library_version(),
            extra=dict(extra or {}),
        )
        slug = _slug(name or "+".join(str(s) for s in subs) or venue)
        scrub = [s.encode() for s in secrets if s and len(s) >= 4]
        file = _File(
            header, f"{_slug(venue, 20)}-{slug}-{channel_id}", scrub, redact, companion, redact_when
        )
        self._queue.extend((file, _OPEN, 0, b""))
        return Channel(self, file)

    # -- control ---------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"marketstreams-recorder {self.directory}", daemon=True
                )
                self._thread.start()
                _live.add(self)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until every record queued so far is written and flushed to the files.
        Returns False on timeout (or when the thread is not running)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return self._thread is None or not self._queue
        done = threading.Event()
        self._queue.extend((None, _BARRIER, 0, done))
        self._wake.set()
        return done.wait(timeout)

    async def aflush(self) -> bool:
        """:meth:`flush` without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Write out everything buffered, finish every file, stop the thread."""
        with self._lock:
            if self._closed:
                return
            self._closing = True
            thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join()
        self._closed = True
        _live.discard(self)

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        import asyncio

        await asyncio.to_thread(self.close)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Recorder:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        open_files: set[_File] = set()
        due = self._due
        while True:
            timeout = self.flush_interval
            if due:
                timeout = min(timeout, max(0.0, min(due.values()) - time.monotonic()))
            self._wake.wait(timeout)
            self._wake.clear()
            self._wake_requested = False
            closing = self._closing
            try:
                self._drain(open_files)
            except Exception:  # a bug: never let the thread die silently with data queued
                self._bug("the recorder thread failed while writing")
            now = time.monotonic()
            for file in [f for f, t in due.items() if t <= now]:
                try:
                    self._sync(file)  # (out of ``due`` first: a bug here cannot spin the loop)
                except Exception:
                    self._bug(f"cannot write {file.name}")
            if closing and not self._queue:
                for file in list(open_files):
                    self._finish(file)
                open_files.clear()
                return

    def _drain(self, open_files: set[_File]) -> None:
        # The writer's hot path holds the GIL (compression does not): it works on whole columns
        # of the queue with bulk operations, never with a Python loop per frame.
        queue = self._queue
        items = queue[:]  # two C calls: whatever the live side appends in between stays
        del queue[: len(items)]
        if not items:
            return
        files, kinds = items[0::_FIELDS], "".join(items[1::_FIELDS])
        times, datas = items[2::_FIELDS], items[3::_FIELDS]
        del items
        # Taken off the queue whatever happens below (so a failure cannot leave the buffer
        # looking full): what the live side counted, the data records only.
        plain = _CONTROL.isdisjoint(kinds)
        lengths = None
        if plain:
            lengths = array("I", map(len, datas))  # (the blocks' index needs them too)
            out = sum(lengths) + _RECORD_OVERHEAD * len(datas)
        else:
            out = sum(
                len(d) + _RECORD_OVERHEAD
                for k, d in zip(kinds, datas, strict=True)
                if k not in _CONTROL
            )
        # The live side may go on without its slow path while this batch is written (within
        # max_buffer, still counting the batch): one comparison a frame, not a method call.
        self._wake_at = self._out + min(out + self.wake_bytes, self.max_buffer)
        dirty: set[_File] = set()
        try:
            if plain:
                self._records(files, kinds, times, datas, dirty, lengths)
            else:  # rare: opens, closes and flush barriers, handled in order
                start = 0
                for match in _CONTROL_AT.finditer(kinds):
                    i = match.start()
                    if i > start:
                        self._records(
                            files[start:i], kinds[start:i], times[start:i], datas[start:i], dirty
                        )
                    try:
                        self._control(files[i], kinds[i], datas[i], open_files, dirty)
                    except Exception:  # a bug: the other records and barriers still go on
                        self._bug("cannot handle a control record")
                    start = i + 1
                if start < len(kinds):
                    self._records(files[start:], kinds[start:], times[start:], datas[start:], dirty)
            # Compressed now (one call per channel for its whole batch), written and flushed
            # once a flush_interval (or at a barrier, a rotation, a close).
            deadline = time.monotonic() + self.flush_interval
            for f in dirty:
                self._compress(f)
                self._due.setdefault(f, deadline)
        finally:
            self._out += out
            self._wake_at = self._out + min(self.wake_bytes, self.max_buffer)
            if _BARRIER in kinds:  # never leave flush() waiting, even after a failure
                for match in _CONTROL_AT.finditer(kinds):
                    if match.group() == _BARRIER:
                        datas[match.start()].set()

    def _records(
        self,
        files: list[_File],
        kinds: str,
        times: list[int],
        datas: list[Any],
        dirty: set[_File],
        lengths: array[int] | None = None,
    ) -> None:
        """Data records (several channels' maybe): one block per channel, each in order."""
        first = files[0]
        if files.count(first) == len(files):  # the usual case: one channel
            runs: Iterable[tuple[_File, str, Any, Any, array[int] | None]]
            runs = ((first, kinds, times, datas, lengths),)
        else:  # a stable sort by channel, then a slice per channel
            order = sorted(range(len(files)), key=list(map(id, files)).__getitem__)
            pick = itemgetter(*order)
            files, kinds = pick(files), "".join(pick(kinds))
            times, datas = pick(times), pick(datas)
            bounds = []
            start = 0
            for file, run in groupby(files):
                end = start + len(list(run))
                bounds.append((file, start, end))
                start = end
            runs = ((f, kinds[a:b], times[a:b], datas[a:b], None) for f, a, b in bounds)
        for file, k, t, d, n in runs:
            dirty.add(file)
            try:
                self._write(file, k, t, d, n)
            except Exception:  # a bug (a redactor's, a companion's): other channels go on
                self._bug(f"cannot record {file.name}")

    def _write(
        self,
        file: _File,
        kinds: str,
        ints: Sequence[int],
        datas: Any,
        lengths: array[int] | None = None,
    ) -> None:
        """Records of one channel, in order, into its current part (rotating as needed):
        ``ints`` their times, ``lengths`` those of their payloads when already known."""
        count = len(datas)
        self.stats.frames += count
        lo, hi = min(ints), max(ints)  # (on the ints themselves: on an array, twice as slow)
        times = array("q", ints)
        main = file.main
        if file.companion is None and main.fh is not None:
            # The usual case: the block in one piece, with one join of all the payloads.
            built = _build(kinds, times, datas, lengths)
            if built is not None:
                block, size = built
                if (not file.scrub or not self._dirty(file, block)) and self._fits(
                    file, lo, hi, size
                ):
                    file.bytes += size
                    main.chunks.append(block)
                    main.pending += len(block)
                    self.stats.records += count
                    self.stats.bytes += len(block)
                    if main.pending >= _COMMIT_BYTES:
                        self._compress(file)
                    file.last_ts = times[-1]
                    return
        blob, lengths = _pack(datas)
        if file.scrub and self._dirty(file, blob):
            scrubbed = [
                self._scrub(file, k, p) for k, p in zip(kinds, _split(blob, lengths), strict=True)
            ]
            if None in scrubbed:  # the redactor failed on these: dropped, never written as is
                keep = [i for i, p in enumerate(scrubbed) if p is not None]
                self.stats.unwritten += len(scrubbed) - len(keep)
                if not keep:
                    return
                kinds = "".join(kinds[i] for i in keep)
                times = array("q", (times[i] for i in keep))
                lo, hi = min(times), max(times)
            payloads = [p for p in scrubbed if p is not None]
            blob, lengths = b"".join(payloads), array("I", map(len, payloads))
        if self._fits(file, lo, hi, len(blob) + 13 * len(lengths)):
            file.bytes += len(blob) + 13 * len(lengths)
            self._segment(file, kinds, times, lengths, blob)
        else:
            self._write_split(file, kinds, times, lengths, blob)
        file.last_ts = times[-1]

    def _fits(self, file: _File, lo: int, hi: int, size: int) -> bool:
        """Whether records from ``lo`` to ``hi`` (times), ``size`` bytes, go into the current
        part as they are: no new day, no rotation by size or age, a part open."""
        return (
            file.main.fh is not None
            and hi < file.day_end
            and lo >= file.opened
            and file.bytes + size < self.rotate_bytes
            and hi - file.opened < self._age
        )

    def _write_split(
        self, file: _File, kinds: str, times: array[int], lengths: array[int], blob: bytes
    ) -> None:
        """Record by record: a new part where a day, the age or the size limit is crossed."""
        start = offset = first = 0
        for i, ts in enumerate(times):
            if (
                file.main.fh is None
                or ts >= file.day_end
                or ts - file.opened >= self._age
                or file.bytes >= self.rotate_bytes
            ):
                if i > start:  # (the companion's lines too, into this part's side file)
                    self._segment(
                        file, kinds[start:i], times[start:i], lengths[start:i], blob[first:offset]
                    )
                start, first = i, offset
                if not self._rotate(file, ts):
                    self.stats.unwritten += 1
                    if file.companion is not None:  # (it sees every record, in order)
                        self._companion(file, kinds[i], blob[offset : offset + lengths[i]])
                    start, first = i + 1, offset + lengths[i]
                    offset += lengths[i]
                    continue
            file.bytes += lengths[i] + 13
            offset += lengths[i]
        if start < len(lengths):
            self._segment(file, kinds[start:], times[start:], lengths[start:], blob[first:])

    def _segment(
        self, file: _File, kinds: str, times: array[int], lengths: array[int], blob: bytes
    ) -> None:
        """Records going into the current part, and the companion's lines into its side file
        (before any rotation, so that they land beside the same part, on the same day)."""
        self._block(file, kinds, times, lengths, blob)
        if file.companion is not None:
            for kind, payload in zip(kinds, _split(blob, lengths), strict=True):
                self._companion(file, kind, payload)

    def _block(
        self, file: _File, kinds: str, times: array[int], lengths: array[int], blob: bytes
    ) -> None:
        parts = block_parts(kinds.encode("ascii"), times, lengths, blob)
        size = sum(map(len, parts))
        main = file.main
        main.chunks.extend(parts)
        main.pending += size
        stats = self.stats
        stats.records += len(lengths)
        stats.bytes += size
        if main.pending >= _COMMIT_BYTES:
            self._compress(file)

    @staticmethod
    def _dirty(file: _File, blob: bytes) -> bool:
        """Whether any payload may need scrubbing (one scan of all the payloads, or of a whole
        block: a match in its index only sends the block the careful way)."""
        if any(secret in blob for secret in file.secrets):
            return True
        return file.redact is not None and (file.redact_when is None or file.redact_when in blob)

    def _control(
        self, file: _File, kind: str, data: Any, open_files: set[_File], dirty: set[_File]
    ) -> None:
        # (OPEN and CLOSE carry b"" as data, a BARRIER its threading.Event)
        if kind == _OPEN:
            open_files.add(file)
        elif kind == _CLOSE:
            self._finish(file)
            open_files.discard(file)
            dirty.discard(file)
        elif kind == _BARRIER:
            for f in [*self._due, *dirty]:
                self._sync(f)
            dirty.clear()
            data.set()

    def _scrub(self, file: _File, kind: str, payload: bytes) -> bytes | None:
        """The payload without credentials; None when the redactor failed (drop the record)."""
        for secret in file.secrets:
            if secret in payload:
                payload = payload.replace(secret, b"***")
        redact = file.redact
        if redact is not None and (file.redact_when is None or file.redact_when in payload):
            try:
                return redact(kind, payload)
            except Exception as exc:  # (no traceback: its message may quote the payload)
                self._error(f"redact failed on {file.name} ({type(exc).__name__}): record dropped")
                return None
        return payload

    def _companion(self, file: _File, kind: str, payload: bytes) -> None:
        assert file.companion is not None
        try:
            lines = file.companion.feed(kind, payload)
        except Exception:  # a bug in the companion: its lines are lost, the recording goes on
            self._bug(f"companion failed on {file.name}")
            return
        if not lines:
            return
        side = file.side
        if side.fh is None:
            folder = self.directory / file.companion.folder / file.day
            name = f"{file.name}-{file.header.part:04d}{file.companion.suffix}"
            if not self._open(side, folder, name):
                return
        for line in lines:
            side.chunks.append(line)
            side.pending += len(line)

    def _open(self, output: _Output, folder: Path, name: str) -> bool:
        path = folder / (name + _EXTENSIONS[self.compression])
        try:
            folder.mkdir(parents=True, exist_ok=True)
            output.fh = open(path, "xb")
        except OSError as exc:
            self._error(f"cannot open {path}: {exc}")
            return False
        output.path = path
        output.comp = _Compressor(self.compression, self.level)
        self.files.append(path)
        self.stats.files += 1
        return True

    def _rotate(self, file: _File, ts: int) -> bool:
        """Finish the current part (if any) and open the next one. False if it failed."""
        self._finish(file)
        if ts < file.broken_until:
            return False
        header = file.header
        header.part += 1 if file.main.path is not None else 0
        header.opened = ts / 1e9
        file.day = time.strftime("%Y-%m-%d", time.gmtime(ts // 1_000_000_000))
        folder = self.directory / header.venue / file.day
        if not self._open(file.main, folder, f"{file.name}-{header.part:04d}.msrec"):
            file.broken_until = ts + _RETRY_NS
            return False
        day_start = calendar.timegm(time.strptime(file.day, "%Y-%m-%d"))
        file.day_end = (day_start + 86400) * 1_000_000_000
        file.opened = ts
        head = encode_header(header)
        for secret in file.secrets:
            head = head.replace(secret, b"***")
        file.main.chunks.append(head)
        file.main.pending += len(head)
        file.bytes = len(head)
        self._sync(file)  # a part is a recording from the start, even if the process dies now
        return True

    def _compress(self, file: _File) -> None:
        """Compress what waits in the channel's outputs: few calls, each on much data (every
        call gives the GIL up while it works, and taking it back costs the live side)."""
        for output in (file.main, file.side):
            chunks = output.chunks
            if not chunks:
                continue
            output.chunks = []
            output.pending = 0
            comp = output.comp
            if output.fh is None or comp is None:
                continue
            compress, ready = comp.compress, output.ready
            size = len(ready)
            output.dirty = True
            if len(chunks) == 1:
                ready.append(compress(chunks[0]))
            elif max(map(len, chunks)) < _ALONE:
                ready.append(compress(b"".join(chunks)))
            else:  # big blocks alone (no copy), the small chunks between them joined
                small: list[bytes] = []
                for chunk in chunks:
                    if len(chunk) < _ALONE:
                        small.append(chunk)
                        continue
                    if small:
                        ready.append(compress(b"".join(small)))
                        small = []
                    ready.append(compress(chunk))
                if small:
                    ready.append(compress(b"".join(small)))
            output.ready_bytes += sum(map(len, ready[size:]))
            if output.ready_bytes >= _COMMIT_BYTES:  # (memory stays bounded between flushes)
                output.ready, output.ready_bytes = [], 0
                try:
                    self._put(output.fh, ready)
                except OSError as exc:
                    self._fail(file, output, exc)

    def _sync(self, file: _File) -> None:
        """Write what the channel's outputs have compressed and flush them: readable up to here
        even if the process dies."""
        self._due.pop(file, None)
        self._compress(file)
        for output in (file.main, file.side):
            fh, comp = output.fh, output.comp
            if fh is None or comp is None or not output.dirty:
                continue
            parts, output.ready, output.ready_bytes = output.ready, [], 0
            try:
                parts.append(comp.flush())
                self._put(fh, parts)
                fh.flush()
                output.dirty = False
            except OSError as exc:
                self._fail(file, output, exc)

    def _finish(self, file: _File) -> None:
        """Write out and close the channel's current part (and its side file)."""
        self._due.pop(file, None)
        self._compress(file)
        for output in (file.main, file.side):
            fh, comp = output.fh, output.comp
            parts, output.ready, output.ready_bytes = output.ready, [], 0
            output.fh = output.comp = None
            output.dirty = False
            if fh is None or comp is None:
                continue
            try:
                parts.append(comp.end())
                self._put(fh, parts)
                fh.close()
            except OSError as exc:
                self._error(f"cannot finish {output.path}: {exc}")
                with contextlib.suppress(OSError):
                    fh.close()

    def _put(self, fh: BinaryIO, parts: list[bytes]) -> None:
        """One write when joining is cheap, else one write per (big) part."""
        size = sum(map(len, parts))
        if len(parts) == 1 or size <= 4 * _ALONE:
            fh.write(parts[0] if len(parts) == 1 else b"".join(parts))
        else:
            fh.writelines(parts)
        self.stats.written += size

    def _fail(self, file: _File, output: _Output, exc: OSError) -> None:
        self._error(f"cannot write {output.path}: {exc}")
        if output is file.main:
            file.broken_until = file.last_ts + _RETRY_NS  # then try a new part
        fh, output.fh, output.comp = output.fh, None, None
        output.chunks, output.ready, output.pending, output.dirty = [], [], 0, False
        output.ready_bytes = 0
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def _bug(self, message: str) -> None:
        """An unexpected exception (call in an ``except``): counted, logged with its traceback
        (at most once every ``_ERROR_LOG_EVERY`` seconds, with the other errors)."""
        self.stats.errors += 1
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_EVERY or self.stats.errors == 1:
            self._last_error_log = now
            logger.exception("recorder: %s", message)

    def _error(self, message: str) -> None:
        self.stats.errors += 1
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_LOG_EVERY or self.stats.errors == 1:
            self._last_error_log = now
            logger.error("recorder: %s", message)


def _library_version() -> str:
    from .. import __version__

    return f"marketstreams {__version__}"


def resolve_recorder(
    record: Recorder | str | os.PathLike[str],
) -> tuple[Recorder, Recorder | None]:
    """A feed's ``record=`` as ``(recorder, owned)``: a folder gets a recorder of its own, which
    the feed must close (``owned``); a given :class:`Recorder` stays its caller's."""
    if isinstance(record, Recorder):
        return record, None
    owned = Recorder(record)
    return owned, owned

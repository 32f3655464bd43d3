"""The recording file format, as pure functions: no files, no threads.

More in docs/modules.md (``marketstreams.recording.format``).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from ..exceptions import MalformedFrameError

__all__ = [
    "MAGIC",
    "VERSION",
    "Header",
    "Kind",
    "Record",
    "RecordDecoder",
    "block_parts",
    "block_prefix",
    "encode_block",
    "encode_header",
    "encode_records",
    "public_endpoint",
]

MAGIC: Final = b"MSREC "
VERSION: Final = 2
_MAX_HEAD: Final = 64  # a block head line is never longer than this
_MAX_HEADER: Final = 1 << 20
_BIG_ENDIAN: Final = sys.byteorder == "big"


class Kind:
    """Record kinds (one ASCII letter each in a block's index)."""

    RECEIVED: Final = "R"  # a frame received, handed to the protocol as text (str)
    RECEIVED_BYTES: Final = "r"  # a frame (or a read, for line streams) handed over as bytes
    SENT: Final = "S"  # a frame the client sent, as text
    SENT_BYTES: Final = "s"  # bytes the client sent
    WITHHELD: Final = "A"  # the client sent credentials: only a JSON summary is stored
    CONNECTED: Final = "C"  # a connection opened (payload: JSON, may be {})
    DISCONNECTED: Final = "D"  # a connection ended or failed (payload: JSON with the reason)
    LOST: Final = "L"  # the recorder dropped frames here (payload: JSON {"frames": n})
    DELIVERED: Final = "Y"  # a feed with an internal queue handed a batch on (JSON {"books": n})

    received = frozenset("Rr")
    sent = frozenset("SsA")
    text = frozenset("RS")
    markers = frozenset("ACDLY")
    all = frozenset("RrSsACDLY")


class Record(NamedTuple):
    """One record: ``kind`` (a :class:`Kind` letter), ``time`` (epoch seconds: the recorded
    nanoseconds / 1e9, the value the live feed used), ``data`` (the frame as the protocol got
    it: ``str`` for ``R``/``S``, ``bytes`` otherwise)."""

    kind: str
    time: float
    data: str | bytes

    def info(self) -> dict[str, Any]:
        """The JSON payload of a marker record (``C``, ``D``, ``L``, ``A``, ``Y``) as a dict."""
        if not self.data:
            return {}
        value = orjson.loads(self.data)
        return value if isinstance(value, dict) else {"value": value}


@dataclass(slots=True)
class Header:
    """The first line of every recording file: what was recorded, never any credential.

    ``channel`` names one logical connection of one feed (across its reconnects); its files are
    numbered by ``part`` (a new file each UTC day, and on size or age rotation). ``feed`` holds
    what a replay needs to rebuild the same feed (pair, topics, url...).
    """

    venue: str
    endpoint: str
    subscriptions: list[Any]
    channel: str
    part: int = 1
    started: float = 0.0  # when the channel started (epoch seconds)
    opened: float = 0.0  # when this file was opened
    feed: dict[str, Any] = field(default_factory=dict)
    library: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "venue": self.venue,
            "endpoint": self.endpoint,
            "subscriptions": self.subscriptions,
            "channel": self.channel,
            "part": self.part,
            "started": self.started,
            "opened": self.opened,
            "feed": self.feed,
            "library": self.library,
        }
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Header:
        try:
            return cls(
                venue=str(raw["venue"]),
                endpoint=str(raw.get("endpoint", "")),
                subscriptions=list(raw.get("subscriptions") or []),
                channel=str(raw["channel"]),
                part=int(raw.get("part", 1)),
                started=float(raw.get("started", 0.0)),
                opened=float(raw.get("opened", 0.0)),
                feed=dict(raw.get("feed") or {}),
                library=str(raw.get("library", "")),
                extra=dict(raw.get("extra") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrameError(f"bad recording header ({exc!r})", raw) from None


def encode_header(header: Header) -> bytes:
    """The header line, newline included."""
    return b"%s%d %s\n" % (MAGIC, VERSION, orjson.dumps(header.as_dict()))


def block_prefix(kinds: bytes, times: array[int], lengths: array[int], payload_bytes: int) -> bytes:
    """A block up to its payloads: the head line and the index (``payload_bytes`` is the sum
    of ``lengths``)."""
    if _BIG_ENDIAN:
        times, lengths = array("q", times), array("I", lengths)
        times.byteswap()
        lengths.byteswap()
    head = b"B%d %d\n" % (len(kinds), payload_bytes)
    return b"".join((head, kinds, times.tobytes(), lengths.tobytes()))


def block_parts(
    kinds: bytes, times: array[int], lengths: array[int], payloads: bytes
) -> list[bytes]:
    """One block as the list of its parts (to write without joining them first)."""
    return [block_prefix(kinds, times, lengths, len(payloads)), payloads, b"\n"]


def encode_block(kinds: bytes, times: array[int], lengths: array[int], payloads: bytes) -> bytes:
    """One block: ``kinds`` one ASCII letter per record, ``times`` (``array("q")``,
    nanoseconds), ``lengths`` (``array("I")``), the payloads concatenated."""
    return b"".join(block_parts(kinds, times, lengths, payloads))


def encode_records(records: Iterable[tuple[str, int, bytes]]) -> bytes:
    """One block of ``(kind, time_ns, payload)`` records (for tools and tests; the recorder
    builds its blocks in bulk)."""
    items = list(records)
    return encode_block(
        "".join(kind for kind, _, _ in items).encode("ascii"),
        array("q", [t for _, t, _ in items]),
        array("I", [len(p) for _, _, p in items]),
        b"".join(p for _, _, p in items),
    )


def public_endpoint(url: str) -> str:
    """``url`` without user info and with query values blanked: safe for a header or a log."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode([(k, "***") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


class RecordDecoder:
    """Incremental parser: feed decompressed bytes, get the header, then records.

    Raises :class:`~marketstreams.exceptions.MalformedFrameError` for bytes that are not a
    recording (``header`` stays None) or a record that is cut or damaged.
    """

    __slots__ = ("_buf", "header", "records")

    def __init__(self) -> None:
        self._buf = b""
        self.header: Header | None = None
        self.records = 0

    @property
    def pending(self) -> int:
        """Bytes held of a record not yet complete."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Record]:
        buf = self._buf + data if self._buf else data
        out: list[Record] = []
        pos = 0
        size = len(buf)
        if self.header is None:
            end = buf.find(b"\n")
            if end < 0:
                if size >= len(MAGIC) and not buf.startswith(MAGIC):
                    raise MalformedFrameError("not a marketstreams recording", buf[:40])
                if size > _MAX_HEADER:
                    raise MalformedFrameError("recording header too long", buf[:40])
                self._buf = buf
                return out
            self.header = parse_header_line(buf[:end])
            pos = end + 1
        find = buf.find
        while pos < size:
            nl = find(b"\n", pos, pos + _MAX_HEAD)
            if nl < 0:
                if size - pos >= _MAX_HEAD:
                    raise MalformedFrameError("bad block head", buf[pos : pos + _MAX_HEAD])
                break
            head = buf[pos:nl]
            try:
                count_text, _, length_text = head[1:].partition(b" ")
                count, length = int(count_text), int(length_text)
            except ValueError:
                raise MalformedFrameError("bad block head", head) from None
            if head[:1] != b"B" or count < 0 or length < 0:
                raise MalformedFrameError("bad block head", head)
            start = nl + 1
            end = start + 13 * count + length
            if end >= size:  # the block or its closing newline has not arrived yet
                break
            if buf[end] != 0x0A:
                raise MalformedFrameError("block does not end where its head says", head)
            out.extend(_records(buf, start, count, length, head))
            pos = end + 1
        self._buf = buf[pos:] if pos < size else b""
        self.records += len(out)
        return out


def _records(buf: bytes, start: int, count: int, length: int, head: bytes) -> list[Record]:
    kinds = buf[start : start + count].decode("ascii", "replace")
    times = array("q", buf[start + count : start + 9 * count])
    lengths = array("I", buf[start + 9 * count : start + 13 * count])
    if _BIG_ENDIAN:
        times.byteswap()
        lengths.byteswap()
    if sum(lengths) != length or not Kind.all.issuperset(kinds):
        raise MalformedFrameError("damaged block index", head)
    out: list[Record] = []
    append = out.append
    text = Kind.text
    offset = start + 13 * count
    for kind, ns, n in zip(kinds, times, lengths, strict=True):
        payload = buf[offset : offset + n]
        offset += n
        append(
            Record(
                kind,
                ns / 1e9,
                payload.decode("utf-8", "surrogatepass") if kind in text else payload,
            )
        )
    return out


def parse_header_line(line: bytes) -> Header:
    """The :class:`Header` of a recording's first line."""
    if not line.startswith(MAGIC):
        raise MalformedFrameError("not a marketstreams recording", line[:40])
    version_text, _, body = line[len(MAGIC) :].partition(b" ")
    try:
        version = int(version_text)
    except ValueError:
        raise MalformedFrameError("bad recording version", line[:40]) from None
    if version != VERSION:
        raise MalformedFrameError(f"recording format version {version} is not supported", b"")
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedFrameError("recording header is not JSON", line[:200]) from None
    if not isinstance(raw, dict):
        raise MalformedFrameError("recording header is not a JSON object", line[:200])
    return Header.from_dict(raw)

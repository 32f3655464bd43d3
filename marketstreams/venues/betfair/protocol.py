"""Sans-I/O core of the Betfair Exchange Stream API: bytes in, events and bytes out.

More in docs/modules.md (``marketstreams.venues.betfair.protocol``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ...exceptions import FrameTooLargeError, MalformedFrameError, ProtocolError
from ...secret import Secret
from .errors import ErrorAction, status_error
from .subscriptions import Subscription

__all__ = [
    "Authenticated",
    "Change",
    "ClockReset",
    "Connected",
    "Event",
    "LineFramer",
    "StatusFailure",
    "StreamProtocol",
    "Subscribed",
    "SubscriptionState",
]

logger = logging.getLogger("marketstreams.betfair.protocol")

CRLF = b"\r\n"
DEFAULT_MAX_LINE = 64 * 1024 * 1024


class LineFramer:
    """Splits a byte stream into lines on ``\\n`` (a preceding ``\\r`` is left on the line, which
    JSON decoding ignores). Partial lines are kept as a list of chunks and joined once, when
    their end arrives, so a line of megabytes read in small pieces costs O(n)."""

    __slots__ = ("_parts", "_size", "max_line")

    def __init__(self, max_line: int = DEFAULT_MAX_LINE) -> None:
        self.max_line = max_line
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data``; return the complete, non-blank lines it finished."""
        if b"\n" not in data:
            if data:
                self._parts.append(data)
                self._size += len(data)
                if self._size > self.max_line:
                    self._overflow()
            return []
        if self._parts:
            self._parts.append(data)
            data = b"".join(self._parts)
            self._parts.clear()
        lines = data.split(b"\n")
        rest = lines.pop()
        self._size = len(rest)
        if rest:
            self._parts.append(rest)
            if self._size > self.max_line:
                self._overflow()
        return [line for line in lines if line and line != b"\r"]

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished line held."""
        return self._size

    def _overflow(self) -> None:
        head = self._parts[0] if self._parts else b""
        self._parts.clear()
        size, self._size = self._size, 0
        raise FrameTooLargeError(f"line over {self.max_line} bytes ({size} so far)", head)


# -- events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """The server's greeting."""

    connection_id: str | None


@dataclass(frozen=True, slots=True)
class Authenticated:
    """Authentication succeeded."""

    connections_available: int | None


@dataclass(frozen=True, slots=True)
class Subscribed:
    """The server accepted the subscription ``id`` (``resumed``: it was sent with clocks)."""

    id: int
    resumed: bool


class Change(NamedTuple):
    """A complete change message (segments joined), already accounted in the clocks.

    ``change_type`` is ``ct``: ``"SUB_IMAGE"``, ``"RESUB_DELTA"``, ``"HEARTBEAT"`` or None (a
    delta). ``message`` is the decoded ``mcm``/``ocm`` dict, ready for a cache. (A named tuple:
    one is made per message, and tuples are the cheapest objects to make.)
    """

    message: dict[str, Any]
    change_type: str | None


@dataclass(frozen=True, slots=True)
class ClockReset:
    """The server refused the stored clocks (INVALID_CLOCK); a full image follows."""


@dataclass(frozen=True, slots=True)
class StatusFailure:
    """A status FAILURE that leaves the connection open (for example a refused heartbeat)."""

    error: Exception


Event = Connected | Authenticated | Subscribed | Change | ClockReset | StatusFailure


# -- subscription state ---------------------------------------------------------------------


@dataclass(slots=True)
class SubscriptionState:
    """What survives a reconnect: the subscription, its clocks and counters.

    ``initial_clk``/``clk`` are updated after every complete change message, heartbeats included;
    a new connection subscribes with them. ``id`` is the id of the current subscription request.
    """

    subscription: Subscription
    initial_clk: str | None = None
    clk: str | None = None
    id: int | None = None
    heartbeat_ms: int | None = None
    conflate_ms: int | None = None
    changes: int = 0  # market/order changes applied since the stream's image (the feed counts)
    images: int = 0  # SUB_IMAGE messages received
    resubscribes: int = 0  # RESUB_DELTA messages received
    clock_resets: int = 0
    stale_ids: int = 0  # messages dropped because they carried an earlier subscription id
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def resumable(self) -> bool:
        return self.initial_clk is not None and self.clk is not None

    def next_id(self) -> int:
        return next(self._ids)

    def reset_clock(self) -> None:
        self.initial_clk = None
        self.clk = None
        self.clock_resets += 1


# -- the protocol ---------------------------------------------------------------------------

_CONNECTING = "connecting"
_AUTHENTICATING = "authenticating"
_SUBSCRIBING = "subscribing"
_STREAMING = "streaming"
_CLOSED = "closed"


class StreamProtocol:
    """One ESA connection carrying one subscription (see the module docstring).

    ``app_key`` and ``session`` may be :class:`~marketstreams.secret.Secret`; they only ever
    appear in the bytes handed to :meth:`data_to_send`.
    """

    def __init__(
        self,
        app_key: str | Secret,
        session: str | Secret,
        state: SubscriptionState,
        *,
        max_line: int = DEFAULT_MAX_LINE,
    ) -> None:
        self._app_key = app_key if isinstance(app_key, Secret) else Secret(app_key)
        self._session = session if isinstance(session, Secret) else Secret(session)
        self.state = state
        self.framer = LineFramer(max_line)
        self.phase = _CONNECTING
        self.connection_id: str | None = None
        self.connections_available: int | None = None
        self.messages = 0  # lines received
        self._out: list[bytes] = []
        self._auth_id: int | None = None
        self._change_op = state.subscription.change_op
        self._segments: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return (
            f"<StreamProtocol {self.state.subscription.kind} {self.phase} "
            f"connection={self.connection_id}>"
        )

    # -- output ---------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Bytes to write to the socket (empty when there is nothing)."""
        if not self._out:
            return b""
        data = b"".join(self._out)
        self._out.clear()
        return data

    def _send(self, message: dict[str, Any]) -> None:
        self._out.append(orjson.dumps(message) + CRLF)

    def send_heartbeat(self) -> None:
        """Queue a client heartbeat (``{"op":"heartbeat"}``)."""
        if self.phase in (_SUBSCRIBING, _STREAMING):
            self._send({"op": "heartbeat", "id": self.state.next_id()})

    def _subscribe(self) -> None:
        state = self.state
        state.id = state.next_id()
        resumed = state.resumable
        message = state.subscription.to_message(
            state.id,
            state.initial_clk if resumed else None,
            state.clk if resumed else None,
        )
        self._send(message)
        self.phase = _SUBSCRIBING
        logger.debug(
            "subscribing id=%s resume=%s on connection %s", state.id, resumed, self.connection_id
        )

    # -- input ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[Event]:
        """Feed raw bytes; return the events they completed (see :meth:`events`)."""
        return list(self.events(data))

    def events(self, data: bytes) -> Iterator[Event]:
        """Feed raw bytes; yield the events they complete, one line decoded at a time.

        Handling each event before the next line is decoded keeps only one decoded message
        alive at a time, which keeps the garbage collector's work small on large reads.

        Raises :class:`~marketstreams.exceptions.MalformedFrameError` for a line that is not a
        JSON object, :class:`~marketstreams.exceptions.FrameTooLargeError` past ``max_line``,
        and the status errors of :mod:`.errors` for failures the connection cannot carry on
        from.
        """
        lines = self.framer.feed(data)
        if not lines:
            return
        loads = orjson.loads
        change_op = self._change_op
        state = self.state
        phase_streaming = self.phase == _STREAMING
        for line in lines:
            self.messages += 1
            try:
                message = loads(line)
            except orjson.JSONDecodeError:
                raise MalformedFrameError("stream line is not JSON", line) from None
            if message.__class__ is not dict:
                raise MalformedFrameError("stream line is not a JSON object", line)
            op = message.get("op")
            if op == change_op:
                # fast path for a plain delta on a streaming subscription: only clk moves
                if (
                    phase_streaming
                    and message.get("id") == state.id
                    and "ct" not in message
                    and "segmentType" not in message
                    and "initialClk" not in message
                ):
                    clk = message.get("clk")
                    if clk is not None:
                        state.clk = clk
                    yield Change(message, None)
                    continue
                event = self._on_change(message)
                phase_streaming = self.phase == _STREAMING
                if event is not None:
                    yield event
                continue
            events: list[Event] = []
            if op == "status":
                self._on_status(message, events)
            elif op == "connection":
                self._on_connection(message, events)
            else:
                logger.debug("ignoring op %r", op)
            phase_streaming = self.phase == _STREAMING
            yield from events

    def _on_connection(self, message: dict[str, Any], events: list[Event]) -> None:
        if self.phase != _CONNECTING:
            raise ProtocolError("unexpected connection message", orjson.dumps(message))
        self.connection_id = message.get("connectionId")
        self._auth_id = self.state.next_id()
        self._send(
            {
                "op": "authentication",
                "id": self._auth_id,
                "appKey": self._app_key.value,
                "session": self._session.value,
            }
        )
        self.phase = _AUTHENTICATING
        events.append(Connected(self.connection_id))

    def _on_status(self, message: dict[str, Any], events: list[Event]) -> None:
        state = self.state
        mid = message.get("id")
        closed = bool(message.get("connectionClosed"))
        if message.get("statusCode") != "FAILURE":
            if self.phase == _AUTHENTICATING and (mid is None or mid == self._auth_id):
                self.connections_available = message.get("connectionsAvailable")
                events.append(Authenticated(self.connections_available))
                self._subscribe()
            elif self.phase == _SUBSCRIBING and mid is not None and mid == state.id:
                self.phase = _STREAMING
                events.append(Subscribed(mid, state.resumable))
            if closed:
                self.phase = _CLOSED
                raise status_error("CONNECTION_CLOSED", "server closed the connection", True)
            return
        code = message.get("errorCode")
        error = status_error(code, message.get("errorMessage"), closed)
        action = getattr(error, "action", ErrorAction.RETRY)
        logger.warning("status %s: %s (connection closed: %s)", code, error, closed)
        if action is ErrorAction.RESET_CLOCK:
            state.reset_clock()
            if not closed:
                self._subscribe()
                events.append(ClockReset())
                return
        if closed or action in (ErrorAction.FATAL, ErrorAction.RELOGIN):
            self.phase = _CLOSED
            raise error
        if self.phase in (_AUTHENTICATING, _SUBSCRIBING) and mid in (self._auth_id, state.id):
            # the request this connection exists for failed: let the feed retry it
            self.phase = _CLOSED
            raise error
        events.append(StatusFailure(error))

    def _on_change(self, message: dict[str, Any]) -> Change | None:
        state = self.state
        mid = message.get("id")
        if mid is not None and mid != state.id:
            state.stale_ids += 1
            return None
        segment = message.get("segmentType")
        if segment is not None:
            if segment == "SEG_START":
                self._segments = [message]
                return None
            parts = self._segments
            if parts is None:
                raise ProtocolError(f"{segment} without SEG_START", orjson.dumps(message)[:200])
            parts.append(message)
            if segment != "SEG_END":
                return None
            self._segments = None
            message = _join_segments(parts, self._change_op)
        if self.phase == _SUBSCRIBING:
            self.phase = _STREAMING  # data may arrive before (or instead of) the status reply
        initial_clk = message.get("initialClk")
        if initial_clk is not None:
            state.initial_clk = initial_clk
        clk = message.get("clk")
        if clk is not None:
            state.clk = clk
        ct = message.get("ct")
        if ct is not None:
            if ct == "SUB_IMAGE":
                state.images += 1
            elif ct == "RESUB_DELTA":
                state.resubscribes += 1
            hb = message.get("heartbeatMs")
            if hb is not None:
                state.heartbeat_ms = hb
            conflate = message.get("conflateMs")
            if conflate is not None:
                state.conflate_ms = conflate
        return Change(message, ct)


def _join_segments(parts: list[dict[str, Any]], op: str) -> dict[str, Any]:
    """One message from SEG_START..SEG_END: header of the first, clocks of the last, the change
    lists concatenated in order."""
    key = "mc" if op == "mcm" else "oc"
    joined = dict(parts[0])
    joined.pop("segmentType", None)
    changes: list[Any] = []
    for part in parts:
        changes.extend(part.get(key) or ())
    for name in ("clk", "initialClk", "pt", "status"):
        for part in reversed(parts):
            value = part.get(name)
            if value is not None:
                joined[name] = value
                break
    joined[key] = changes
    return joined

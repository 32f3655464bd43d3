"""The BitMEX feed: the one place where the aiohttp websocket meets :class:`BitmexProtocol`.

:class:`Connection` keeps one logical connection alive (connect, read, ping after silence,
reconnect with backoff) and drives a :class:`BitmexSessionCore` (authenticate, subscribe, apply
frames, the retry decision: no I/O), which the replay of a recording drives alike. :class:`Feed`
yields its book updates to an :class:`~marketstreams.Updater`, :mod:`.stream` hands its rows to
``listen()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

import aiohttp
import orjson

from ...book import OrderBook
from ...exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    FrameTooLargeError,
    MalformedFrameError,
    SilenceError,
    SubscriptionError,
    excerpt,
)
from ...feed import FeedStats
from ...models import Update
from ...recording.format import Header, Record, public_endpoint
from ...recording.writer import Channel, Recorder, resolve_recorder
from ...secret import Secret
from ...session import Loss, RecordReplay
from ...transport.backoff import Backoff
from ...transport.websocket import connect
from .parse import url_path
from .protocol import (
    AuthenticationFailed,
    BitmexProtocol,
    Counters,
    Rows,
    Storage,
    Subscribed,
    SubscriptionFailed,
    VenueMessage,
    Welcome,
)

__all__ = ["DEFAULT_URL", "TESTNET_URL", "BitmexSessionCore", "Connection", "Feed", "retry"]

logger = logging.getLogger("marketstreams.bitmex")

DEFAULT_URL = "wss://ws.bitmex.com/realtime"
TESTNET_URL = "wss://ws.testnet.bitmex.com/realtime"
MiB = 1024 * 1024
WebSocket = aiohttp.ClientWebSocketResponse[Literal[False]]  # frames as bytes (decode_text=False)


class Connection:
    """One logical BitMEX connection across reconnects, driving a :class:`BitmexSessionCore`.

    :meth:`events` connects and yields the core's updates (and, for a stream, its
    :meth:`~BitmexSessionCore.events_received`) until cancelled. After ``ping_interval`` seconds
    without a frame it sends the text ``ping``; when nothing (no ``pong``, nothing else) comes
    within ``pong_timeout`` more seconds, the connection is replaced, and so is an attempt
    without an open websocket after ``connect_timeout`` seconds. A frame the protocol cannot
    apply, whatever it raised, is counted, logged and ends the connection. On every
    (re)connection the protocol authenticates first, then resubscribes; books are invalid until
    their new partial. Refused credentials raise
    :class:`~marketstreams.exceptions.AuthenticationError` (never retried).
    """

    def __init__(
        self,
        core: BitmexSessionCore,
        url: str,
        *,
        ping_interval: float = 5.0,
        pong_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        max_frame_bytes: int = 16 * MiB,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if ping_interval <= 0 or pong_timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("ping_interval, pong_timeout, connect_timeout must be > 0")
        self.core = core
        self.url = url
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.connect_timeout = connect_timeout
        self.max_frame_bytes = max_frame_bytes
        self._session = session
        self._ws: WebSocket | None = None
        self.pings = 0
        #: where every frame and connection event goes when recording (set by the feed)
        self.recording: Channel | None = None

    @property
    def protocol(self) -> BitmexProtocol:
        return self.core.protocol

    @property
    def stats(self) -> FeedStats:
        return self.core.stats

    @property
    def backoff(self) -> Backoff:
        return self.core.backoff

    @property
    def websocket(self) -> WebSocket | None:
        """The open aiohttp websocket, or None between connections."""
        return self._ws

    async def flush(self) -> None:
        """Send the frames the core has queued (no-op while disconnected: the protocol sends
        everything again on the next connection)."""
        ws = self._ws
        frames = self.core.data_to_send()
        if ws is None or ws.closed:
            return
        channel = self.recording
        for frame in frames:
            await ws.send_str(frame)
            if channel is not None:
                if frame.startswith(_AUTH_PREFIX):  # key and signature are never recorded
                    channel.withheld(time.time_ns(), {"op": "authKeyExpires"})
                else:
                    channel.sent(time.time_ns(), frame)

    async def events(self) -> AsyncIterator[Any]:
        """Connect and yield the core's updates (and a stream's events) until cancelled."""
        own_session = self._session is None
        session = self._session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout
            )
        )
        core = self.core
        try:
            while True:
                loss = Loss("closed")
                try:
                    ws = await self._connect(session)
                    async with ws:
                        self._ws = ws
                        logger.info("connected to %s", self.url)
                        now = time.time_ns()
                        if self.recording is not None:
                            self.recording.connected(now)
                        core.on_connect(now / 1e9)
                        async for event in self._read(ws):
                            yield event
                except Exception as exc:
                    decision = core.retry(exc)
                    if decision is None:
                        core.on_fatal()
                        if self.recording is not None:
                            self.recording.disconnected(
                                time.time_ns(), str(exc), error=type(exc).__name__, fatal=True
                            )
                        raise
                    loss = decision
                    logger.warning("connection to %s lost: %s", self.url, loss.reason)
                    if self.recording is not None:
                        self.recording.disconnected(
                            time.time_ns(),
                            loss.reason,
                            error=type(exc).__name__,
                            counter=loss.counter,
                        )
                finally:
                    self._ws = None
                    core.stats.connected = False
                for update in core.on_lost(loss):
                    yield update
                delay = core.backoff.next_delay()
                logger.info("reconnecting to %s in %.2f s", self.url, delay)
                await asyncio.sleep(delay)
        finally:
            self._ws = None
            core.stats.connected = False
            if core.protocol.connected:
                core.protocol.connection_lost("feed stopped")  # its books are stale from now on
            if own_session:
                await session.close()

    async def _connect(self, session: aiohttp.ClientSession) -> WebSocket:
        """Open the websocket (:func:`~marketstreams.transport.websocket.connect`: a stalled
        upgrade is a lost connection, an untrusted certificate a fatal TLSVerificationError)."""
        ws: WebSocket = await connect(
            session,
            self.url,
            handshake_timeout=self.connect_timeout,
            autoping=True,
            heartbeat=None,
            decode_text=False,  # orjson reads the bytes: no str to build first
            max_msg_size=self.max_frame_bytes,
            timeout=aiohttp.ClientWSTimeout(ws_close=self.connect_timeout),
        )
        return ws

    async def _read(self, ws: WebSocket) -> AsyncIterator[Any]:
        await self.flush()
        core = self.core
        protocol = core.protocol
        channel = self.recording
        on_data = core.on_data
        keep = core.keep_events
        text = aiohttp.WSMsgType.TEXT
        binary = aiohttp.WSMsgType.BINARY
        while True:
            try:
                msg = await ws.receive(timeout=self.ping_interval)
            except TimeoutError:
                # Silence: ask for a pong; anything arriving in time proves the line alive.
                self.pings += 1
                await ws.send_str("ping")
                if channel is not None:
                    channel.sent(time.time_ns(), "ping")
                try:
                    msg = await ws.receive(timeout=self.pong_timeout)
                except TimeoutError:
                    raise SilenceError(
                        f"silent for {self.ping_interval + self.pong_timeout:g} s (no pong)"
                    ) from None
            kind = msg.type
            if kind is not text and kind is not binary:
                if kind is aiohttp.WSMsgType.ERROR:
                    exc = ws.exception()
                    if (
                        isinstance(exc, aiohttp.WebSocketError)
                        and exc.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
                    ):
                        raise FrameTooLargeError(str(exc))
                    raise ConnectionLostError(f"websocket error: {exc!r}")
                raise ConnectionLostError(f"closed by the server (code {ws.close_code})")
            now = time.time_ns()  # one reading: recorded exactly, replayed as the same float
            data = msg.data
            if channel is not None:
                channel.received(now, data)
            for update in on_data(data, now / 1e9):
                yield update
            if keep:
                for event in core.events_received():
                    yield event
            if protocol.has_data_to_send:
                await self.flush()


class BitmexSessionCore:
    """One BitMEX connection's logic without I/O (see :mod:`marketstreams.session`): the
    :class:`BitmexProtocol` (which authenticates and resubscribes on each connection), its
    updates, control frames counted and logged, and the retry decision. The live
    :class:`Connection` and the replay of its recording drive it alike.

    ``stream``: a ``connect()`` stream's, where a refused topic ends only its listeners (a
    feed's raises :class:`~marketstreams.exceptions.SubscriptionError`). ``keep_events``: the
    rows and refusals its listeners need are kept for :meth:`events_received`.
    """

    def __init__(
        self,
        protocol: BitmexProtocol,
        stats: FeedStats,
        backoff: Backoff | None = None,
        *,
        stream: bool = False,
        keep_events: bool = False,
    ) -> None:
        self.protocol = protocol
        self.stats = stats
        self.backoff = backoff or Backoff()
        self.stream = stream
        self.keep_events = keep_events
        self._events: list[Any] = []

    def on_connect(self, now: float) -> list[Update]:
        """A connection opened: the protocol queues authentication and subscriptions."""
        stats = self.stats
        if stats.connects:
            stats.reconnects += 1
        stats.connects += 1
        stats.connected = True
        self.protocol.connection_made(now)
        return []

    def on_data(self, data: str | bytes, now: float) -> list[Update]:
        """Apply one frame received at ``now``; its book updates. Raises MalformedFrameError
        for a frame that cannot be applied, whatever the protocol raised (the connection
        resynchronises), AuthenticationError for refused credentials and, for a feed,
        SubscriptionError for a refused topic."""
        stats = self.stats
        stats.messages += 1
        protocol = self.protocol
        try:
            events = protocol.receive(data, now)
        except MalformedFrameError as exc:
            # The frame may have carried book rows: resynchronise from fresh partials.
            stats.malformed += 1
            raise MalformedFrameError("unusable frame, resynchronising", exc.frame) from None
        except Exception as exc:
            # A bug met on a frame, not a venue fault: the tables may hold part of it, so they
            # are rebuilt from new partials instead of ending the feed (and its Updater).
            stats.malformed += 1
            logger.error(
                "%s while applying a frame, resynchronising: %s",
                type(exc).__name__,
                excerpt(data),
                exc_info=True,
            )
            raise MalformedFrameError(
                f"unusable frame ({type(exc).__name__}: {exc}), resynchronising", data
            ) from exc
        updates: list[Update] = events  # the protocol's own list when it holds only updates
        for event in events:
            if type(event) is Update:
                stats.updates += 1
                if event.snapshot:
                    self.backoff.reset()  # the connection has proved healthy
            else:
                updates = []
                self._control(event)
        if updates is not events:
            updates = [event for event in events if type(event) is Update]
        counters = protocol.counters
        stats.skipped = counters.discarded_rows + counters.unknown_keys
        return updates

    def events_received(self) -> list[Any]:
        """The :class:`~.protocol.Rows` and :class:`~.protocol.SubscriptionFailed` events
        since the last call (``keep_events`` only)."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[str]:
        """Frames to send on the open connection."""
        return self.protocol.data_to_send()

    def on_lost(self, loss: Loss) -> list[Update]:
        """The connection is gone: the updates telling hooks which books became invalid."""
        self.stats.connected = False
        loss.count(self.stats)
        return self.protocol.connection_lost(loss.reason)

    def on_fatal(self) -> None:
        """The connection gives up (counted where it happened: an error frame)."""
        self.stats.connected = False

    def retry(self, exc: BaseException) -> Loss | None:
        """The one retry decision (:func:`retry`)."""
        return retry(exc)

    def _control(self, event: Any) -> None:
        if type(event) is Rows:
            if self.keep_events:
                self._events.append(event)
            return
        if isinstance(event, AuthenticationFailed):
            self.stats.errors += 1
            raise AuthenticationError(
                str(event.status or "auth"),
                f"BitMEX refused authKeyExpires: {event.error} "
                "(check api_key / api_secret, and that the local clock is right)",
            )
        if isinstance(event, VenueMessage):
            self.stats.errors += 1
            logger.warning("BitMEX error frame: %s %s", event.status, event.error)
        elif isinstance(event, SubscriptionFailed):
            self.stats.errors += 1
            logger.warning("BitMEX refused %s %s: %s", event.op, event.topic, event.error)
            if event.op == "subscribe" and not self.stream:
                raise _subscription_error(event)
            if self.keep_events:
                self._events.append(event)
        elif isinstance(event, Welcome):
            if event.limit_remaining is not None and event.limit_remaining <= 5:
                logger.warning(
                    "BitMEX connection limit nearly used: %s left", event.limit_remaining
                )
        elif isinstance(event, Subscribed):
            logger.debug("subscribed to %s", event.topic)


class Feed:
    """BitMEX realtime tables as book updates for an :class:`~marketstreams.Updater`.

    ``topics``: ``"orderBookL2:XBTUSD"``, ``["orderBookL2_25:ETHUSD", "trade:ETHUSD"]``, ...
    Books (``orderBookL2``, ``orderBookL2_25`` or ``orderBook10``, one of them per symbol) are
    :class:`~marketstreams.book.OrderBook` objects keyed ``("bitmex", symbol)``, sorted by price.
    ``trade`` rows arrive as :class:`~marketstreams.models.Trade` objects on an update of their
    symbol's book. Every other table (``quote``, ``instrument``, private tables with
    credentials) is kept in :attr:`storage`.

    ``url`` picks the network (``TESTNET_URL`` for testnet). The feed pings after
    ``ping_interval`` seconds of silence and reconnects when nothing answers within
    ``pong_timeout``; after any drop it authenticates first, then resubscribes every topic,
    and the books stay invalid until their new partial. Raises
    :class:`~marketstreams.exceptions.AuthenticationError` for refused credentials and
    :class:`~marketstreams.exceptions.SubscriptionError` for a refused topic (an unknown table
    or symbol): retrying cannot fix either.
    """

    venue = "bitmex"
    _stream = False  # replays a connect() stream (see _StreamReplay)

    def __init__(
        self,
        topics: str | Iterable[str],
        api_key: str | None = None,
        api_secret: str | Secret | None = None,
        url: str = DEFAULT_URL,
        *,
        ping_interval: float = 5.0,
        pong_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        max_frame_bytes: int = 16 * MiB,
        auth_expiry: float = 60.0,
        backoff: Backoff | None = None,
        session: aiohttp.ClientSession | None = None,
        record: Recorder | str | os.PathLike[str] | None = None,
    ) -> None:
        topic_list = [topics] if isinstance(topics, str) else list(topics)
        if not topic_list and not self._stream:
            raise ConfigurationError("give at least one topic, e.g. 'orderBookL2:XBTUSD'")
        try:
            self.protocol = BitmexProtocol(
                topic_list,
                api_key=api_key,
                api_secret=api_secret,
                auth_path=url_path(url),
                auth_expiry=auth_expiry,
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self.url = url
        self.stats = FeedStats()
        #: what the live connection and a replay of the recording share
        self.core = BitmexSessionCore(self.protocol, self.stats, backoff, stream=self._stream)
        self.connection = Connection(
            self.core,
            url,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            connect_timeout=connect_timeout,
            max_frame_bytes=max_frame_bytes,
            session=session,
        )
        self.record = record
        self._replay = RecordReplay(self.core, closed="closed")  # replaying a recording

    def __repr__(self) -> str:
        auth = " authenticated" if self.protocol.has_credentials else ""
        return f"<bitmex.Feed{auth} {self.url} topics={list(self.protocol.topics)}>"

    @property
    def topics(self) -> list[str]:
        return list(self.protocol.topics)

    @property
    def books(self) -> dict[str, OrderBook]:
        """Books by symbol."""
        return self.protocol.books

    @property
    def storage(self) -> Storage:
        """Every table received (see :class:`~.protocol.Storage`)."""
        return self.protocol.storage

    @property
    def counters(self) -> Counters:
        """BitMEX-specific counters (discarded rows, unknown keys, partials, crossed books)."""
        return self.protocol.counters

    async def updates(self) -> AsyncIterator[Update]:
        """Book updates, across reconnects, until cancelled (see the class docstring)."""
        channel, owned = self._recording()
        self.connection.recording = channel
        try:
            async for update in self.connection.events():
                yield update
        finally:
            self.connection.recording = None
            if channel is not None:
                channel.close()
            if owned is not None:
                owned.close()

    # -- recording and replay ---------------------------------------------------------------------

    def _recording(self) -> tuple[Channel | None, Recorder | None]:
        return open_recording(self.record, self.url, self.protocol, self.topics)

    @classmethod
    def from_recording(cls, header: Header) -> Feed:
        """A feed that replays a recording made by a ``bitmex.Feed`` or a ``bitmex.connect()``
        stream (see :meth:`replay_record`)."""
        info = header.feed
        url = str(info.get("url") or header.endpoint or DEFAULT_URL)
        if info.get("stream"):
            return _StreamReplay([], url=url)
        topics = info.get("topics") or header.subscriptions
        if not topics or not all(isinstance(t, str) for t in topics):
            raise ConfigurationError("the recording does not name its BitMEX topics")
        return cls(topics, url=url)

    def replay_record(self, record: Record) -> list[Update]:
        """Apply one recorded record exactly as the live feed applied the event it records:
        frames through the same :class:`BitmexSessionCore`, connection losses as they happened.
        Raises what the live feed raised (refused credentials or topics)."""
        return self._replay.apply(record)


class _StreamReplay(Feed):
    """Replays a recording of a ``connect()`` stream. The stream subscribed as listeners came
    and the protocol core applies every table that arrives, so it needs no topics of its own;
    a topic BitMEX refused ended only that topic's listeners, so it does not end the replay."""

    _stream = True


def open_recording(
    record: Recorder | str | os.PathLike[str] | None,
    url: str,
    protocol: BitmexProtocol,
    topics: list[str],
    *,
    stream: bool = False,
) -> tuple[Channel | None, Recorder | None]:
    """The recording channel of a BitMEX connection (``record=`` of a feed or a stream), and
    the recorder it had to open (the caller closes both)."""
    if record is None:
        return None, None
    recorder, owned = resolve_recorder(record)
    info: dict[str, Any] = {
        "topics": topics,
        "url": public_endpoint(url),
        "authenticated": protocol.has_credentials,
    }
    if stream:
        info["stream"] = True
    channel = recorder.channel(
        "bitmex",
        url,
        topics,
        feed=info,
        secrets=protocol.credentials(),
        redact=_redact_auth_echo if protocol.has_credentials else None,
        redact_when=b'"authKey',
    )
    return channel, owned


# Errors after which the connection is replaced (the replay of a recording does the same).
_RETRIED = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    ConnectionLostError,
    MalformedFrameError,
    FrameTooLargeError,
)
_FATAL = (AuthenticationError, SubscriptionError, ConfigurationError)  # no retry fixes these
_AUTH_PREFIX = '{"op":"authKey'


def retry(exc: BaseException) -> Loss | None:
    """The one retry decision of a BitMEX connection: a :class:`Loss` to reconnect after, None
    to give up."""
    if isinstance(exc, _FATAL) or not isinstance(exc, _RETRIED):
        return None
    return Loss(
        str(exc) or type(exc).__name__, "silences" if isinstance(exc, SilenceError) else None
    )


def _subscription_error(event: SubscriptionFailed) -> SubscriptionError:
    return SubscriptionError(str(event.status or "subscribe"), f"{event.topic}: {event.error}")


def _redact_auth_echo(kind: str, payload: bytes) -> bytes:
    """BitMEX echoes ``authKeyExpires`` (key, expiry, signature) in its answer: blank the
    arguments before the frame is written (writer thread)."""
    if b'"authKey' not in payload:
        return payload
    try:
        msg = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return payload
    request = msg.get("request") if isinstance(msg, dict) else None
    if isinstance(request, dict) and str(request.get("op", "")).startswith("authKey"):
        request["args"] = ["***"]
        return orjson.dumps(msg)
    return payload

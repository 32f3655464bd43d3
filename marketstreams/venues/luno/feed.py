"""The Luno market-stream feed: the one place where sockets meet :class:`LunoProtocol`."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl as ssl_module
import time
from collections.abc import AsyncIterator

import aiohttp

from ...book import OrderBook
from ...exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    FrameTooLargeError,
    MalformedFrameError,
    ProtocolError,
    SilenceError,
    VenueError,
    excerpt,
)
from ...feed import FeedStats
from ...models import Update
from ...recording.format import Header, Record, public_endpoint
from ...recording.writer import Channel, Recorder, resolve_recorder
from ...secret import Secret
from ...session import Loss, RecordReplay
from ...transport.backoff import Backoff
from ...transport.websocket import connect, receive_frames
from .protocol import Keepalive, LunoProtocol, Snapshot

__all__ = ["DEFAULT_URL", "Feed", "LunoSessionCore", "retry"]

logger = logging.getLogger("marketstreams.luno")

DEFAULT_URL = "wss://ws.luno.com"
MiB = 1024 * 1024
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_close=2.0)


class Feed:
    """Luno's order-level market stream for one pair, kept as a consolidated :class:`OrderBook`.

    ``async for update in feed.updates()`` yields an update per applied message (and per
    snapshot). On a sequence gap, an out-of-sync trade, a close or ``silence`` seconds without a
    frame, the book is marked invalid at once (an update with ``book.is_valid == False`` is
    yielded), and the feed reconnects with capped, jittered backoff and resumes from the new
    snapshot; so does a connection attempt that has no open websocket after ``connect_timeout``
    seconds, and a frame the protocol fails on with an exception it does not document (logged
    with the frame, counted in ``stats.malformed``). When the iteration ends (cancelled or
    fatal) the book is marked invalid. Refused credentials (:class:`AuthenticationError`) and
    an unknown pair (:class:`ConfigurationError`) are raised: no retry fixes them.

    Several pairs run side by side as several feeds in one :class:`~marketstreams.Updater`
    (Luno allows 50 stream sessions per account).

    ``record`` (a :class:`~marketstreams.recording.Recorder`, or a folder for a recorder of its
    own) records every frame received and sent, with its receive time, and every connect and
    disconnect; the credentials frame is never written. ``marketstreams.replay`` plays such a
    recording back through this same feed logic (see docs/recording.md).
    """

    venue = "luno"

    def __init__(
        self,
        pair: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        url: str = DEFAULT_URL,
        *,
        ssl: ssl_module.SSLContext | bool = True,
        max_frame_bytes: int = 8 * MiB,
        keepalive_interval: float = 15.0,
        silence_timeout: float = 45.0,
        connect_timeout: float = 10.0,
        backoff: Backoff | None = None,
        record: Recorder | str | os.PathLike[str] | None = None,
    ) -> None:
        if max_frame_bytes < 2 * MiB:
            raise ConfigurationError("max_frame_bytes must allow frames of at least 2 MiB")
        if silence_timeout <= 0 or keepalive_interval <= 0 or connect_timeout <= 0:
            raise ConfigurationError(
                "silence_timeout, keepalive_interval and connect_timeout must be positive"
            )
        self.pair = pair.upper()
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._api_secret = Secret(api_secret) if api_secret is not None else None
        self.ssl = ssl
        self.max_frame_bytes = max_frame_bytes
        self.keepalive_interval = keepalive_interval
        self.silence_timeout = silence_timeout
        self.connect_timeout = connect_timeout
        self.stats = FeedStats()
        #: what the live connections and a replay of the recording share
        self.core = LunoSessionCore(
            LunoProtocol(self.pair), self.stats, backoff or Backoff(initial=0.2, maximum=30.0)
        )
        self.record = record
        self._replay = RecordReplay(self.core)  # replaying a recording of this feed

    @property
    def protocol(self) -> LunoProtocol:
        """The pair's protocol core (its book, its resting orders)."""
        return self.core.protocol

    @protocol.setter
    def protocol(self, protocol: LunoProtocol) -> None:
        self.core.protocol = protocol

    @property
    def backoff(self) -> Backoff:
        """The reconnect delays (reset by each snapshot)."""
        return self.core.backoff

    @property
    def book(self) -> OrderBook:
        return self.protocol.book

    @property
    def endpoint(self) -> str:
        return f"{self.url}/api/1/stream/{self.pair}"

    def __repr__(self) -> str:
        key = "none" if self._api_key is None else "***"
        return f"<luno.Feed {self.pair} {self.endpoint} api_key={key}>"

    async def updates(self) -> AsyncIterator[Update]:
        channel, owned = self._recording()
        core = self.core
        try:
            async with aiohttp.ClientSession() as session:
                while True:
                    try:
                        ws = await self._connect(session)
                        async with ws:
                            core.on_connect(time.time())
                            logger.info("luno %s: connected to %s", self.pair, self.endpoint)
                            secret = self._api_secret.value if self._api_secret else None
                            credentials = self.protocol.credentials_frame(self._api_key, secret)
                            if channel is not None:
                                now = time.time_ns()
                                channel.connected(now)
                                channel.withheld(now, {"frame": "credentials"})
                            await ws.send_str(credentials)
                            async for update in self._session(ws, channel):
                                yield update
                    except Exception as exc:
                        loss = core.retry(exc)
                        if loss is None:
                            core.on_fatal()
                            if channel is not None:
                                channel.disconnected(
                                    time.time_ns(),
                                    _reason(exc),
                                    error=type(exc).__name__,
                                    fatal=True,
                                )
                            raise
                        if channel is not None:
                            channel.disconnected(
                                time.time_ns(),
                                loss.reason,
                                error=type(exc).__name__,
                                counter=loss.counter,
                            )
                        for lost in core.on_lost(loss):  # tell the hooks once: the book is invalid
                            yield lost
                        delay = core.backoff.next_delay()
                        logger.warning("luno %s: %s; reconnecting in %.2f s", self.pair, exc, delay)
                        await asyncio.sleep(delay)
        finally:
            # Cancelled or fatal: nothing keeps the book in sync any more.
            self.stats.connected = False
            if self.protocol.book.is_valid:
                self.protocol.connection_lost("feed stopped")
            if channel is not None:
                channel.close()
            if owned is not None:
                owned.close()

    async def _connect(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        """Open the websocket (:func:`~marketstreams.transport.websocket.connect`: a stalled
        upgrade is a lost connection, an untrusted certificate a fatal TLSVerificationError)."""
        ws: aiohttp.ClientWebSocketResponse = await connect(
            session,
            self.endpoint,
            handshake_timeout=self.connect_timeout,
            max_msg_size=self.max_frame_bytes,
            ssl=self.ssl,
            autoping=True,
            heartbeat=None,
            timeout=_WS_TIMEOUT,
        )
        return ws

    async def _session(
        self, ws: aiohttp.ClientWebSocketResponse, channel: Channel | None
    ) -> AsyncIterator[Update]:
        on_data = self.core.on_data

        async def keepalive() -> None:
            await ws.send_str('""')
            if channel is not None:
                channel.sent(time.time_ns(), '""')

        async for frame in receive_frames(
            ws,
            silence=self.silence_timeout,
            keepalive_interval=self.keepalive_interval,
            send_keepalive=keepalive,
        ):
            # One clock reading per frame: the recording holds it exactly, and the book's
            # ``received`` is derived from it the same way when the recording is replayed.
            now = time.time_ns()
            if channel is not None:
                channel.received(now, frame)
            for update in on_data(frame, now / 1e9):
                yield update

    # -- recording and replay ---------------------------------------------------------------------

    def _recording(self) -> tuple[Channel | None, Recorder | None]:
        record = self.record
        if record is None:
            return None, None
        record, owned = resolve_recorder(record)
        secret = self._api_secret.value if self._api_secret else None
        channel = record.channel(
            self.venue,
            self.endpoint,
            [self.pair],
            feed={"pair": self.pair, "url": public_endpoint(self.url)},
            name=self.pair,
            secrets=[self._api_key, secret],
        )
        return channel, owned

    @classmethod
    def from_recording(cls, header: Header) -> Feed:
        """A feed that replays a recording made by a ``luno.Feed`` (see :meth:`replay_record`)."""
        info = header.feed
        pair = info.get("pair") or (header.subscriptions[0] if header.subscriptions else None)
        if not isinstance(pair, str):
            raise ConfigurationError("the recording does not name its Luno pair")
        return cls(pair, url=str(info.get("url") or DEFAULT_URL))

    def replay_record(self, record: Record) -> list[Update]:
        """Apply one recorded record exactly as the live feed applied the event it records:
        frames through the same :class:`LunoSessionCore`, connection losses as they happened.
        Raises what the live feed raised (refused credentials, an unknown pair)."""
        return self._replay.apply(record)


class LunoSessionCore:
    """One Luno pair's stream connections without I/O (see :mod:`marketstreams.session`):
    frames through :class:`LunoProtocol`, an update per snapshot or applied message, one
    update telling the hooks the book is invalid per loss. The feed's live loop and the replay
    of its recording drive it alike."""

    __slots__ = ("_told_valid", "backoff", "pair", "protocol", "stats")

    def __init__(self, protocol: LunoProtocol, stats: FeedStats, backoff: Backoff) -> None:
        self.protocol = protocol
        self.pair = protocol.pair
        self.stats = stats
        self.backoff = backoff
        self._told_valid = False  # the last update handed on showed a valid book

    def on_connect(self, now: float) -> list[Update]:
        """A connection opened."""
        stats = self.stats
        stats.connects += 1
        if stats.connects > 1:
            stats.reconnects += 1
        stats.connected = True
        return []

    def on_data(self, data: str | bytes, now: float) -> list[Update]:
        """Apply one frame received at ``now``: the update for the hooks, if any. Raises what
        :meth:`LunoProtocol.receive` raises, except for malformed frames (counted, skipped);
        any other exception becomes :class:`_Unexpected` (a resynchronisation)."""
        self.stats.messages += 1
        try:
            event = self.protocol.receive(data)
        except MalformedFrameError as exc:
            self.stats.malformed += 1
            logger.warning("luno %s: skipped a malformed frame: %s", self.pair, exc)
            return []
        except _DOCUMENTED:
            raise
        except Exception as exc:
            # A bug, not a venue fault: the book may hold part of the frame, so it is dropped
            # and rebuilt from a new snapshot instead of ending the feed (and its Updater).
            logger.error(
                "luno %s: %s while applying a frame, resynchronising: %s",
                self.pair,
                type(exc).__name__,
                excerpt(data),
                exc_info=True,
            )
            raise _Unexpected(f"{type(exc).__name__}: {exc}", data) from exc
        if event.__class__ is Keepalive:
            return []
        book = self.protocol.book
        book.received = now
        self.stats.updates += 1
        self._told_valid = True
        if event.__class__ is Snapshot:
            self.backoff.reset()
            logger.info(
                "luno %s: snapshot at sequence %s, %d orders",
                self.pair,
                book.sequence,
                len(self.protocol.orders),
            )
            return [Update(book, [], snapshot=True)]
        return [Update(book, event.trades)]  # type: ignore[union-attr]

    def on_lost(self, loss: Loss) -> list[Update]:
        """The connection is gone: the update that tells the hooks the book is invalid, once."""
        self.stats.connected = False
        loss.count(self.stats)
        self.protocol.connection_lost(loss.reason)
        if self._told_valid:
            self._told_valid = False
            return [Update(self.protocol.book)]
        return []

    def on_fatal(self) -> None:
        """The feed gives up (refused credentials, an unknown pair)."""
        self.stats.errors += 1
        self.stats.connected = False

    def retry(self, exc: BaseException) -> Loss | None:
        """The one retry decision (:func:`retry`)."""
        return retry(exc)

    def data_to_send(self) -> list[str]:
        """Nothing: the feed sends the credentials frame and the keepalives itself."""
        return []


def retry(exc: BaseException) -> Loss | None:
    """The one retry decision of a Luno connection: a :class:`Loss` to reconnect after, None to
    give up (refused credentials, an unknown pair, a bug outside the frame path)."""
    if not isinstance(exc, _RETRIED) or isinstance(exc, _FATAL):
        return None
    counter = None
    if isinstance(exc, _Unexpected):
        counter = "malformed"
    elif isinstance(exc, SilenceError):
        counter = "silences"
    elif isinstance(exc, VenueError):
        counter = "errors"
    elif isinstance(exc, ProtocolError) and not isinstance(exc, FrameTooLargeError):
        counter = "gaps"
    return Loss(_reason(exc), counter)


# Errors after which the live feed reconnects (the replay of a recording does the same).
_RETRIED = (
    ConnectionLostError,
    ProtocolError,
    VenueError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)
_FATAL = (AuthenticationError, ConfigurationError)  # no retry can fix these
# What LunoProtocol.receive documents raising; anything else is a bug met on a frame.
_DOCUMENTED = (ProtocolError, VenueError, ConfigurationError)


class _Unexpected(ProtocolError):
    """The protocol failed on a frame with an exception it does not document."""


def _reason(exc: BaseException) -> str:
    """The book's invalid reason for an exception."""
    return f"{type(exc).__name__}: {exc}"

"""The BitMEX feed: the one place where the aiohttp websocket meets :class:`BitmexProtocol`.

:class:`Connection` keeps one logical connection alive (connect, authenticate, subscribe, read,
ping after silence, reconnect with backoff) and yields the protocol's events; :class:`Feed`
turns them into book updates for an :class:`~marketstreams.Updater`, and
:mod:`.stream` into ``listen()`` rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, Literal

import aiohttp

from ...book import OrderBook
from ...exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    FrameTooLargeError,
    MalformedFrameError,
    SubscriptionError,
)
from ...feed import FeedStats
from ...models import Update
from ...secret import Secret
from ...transport.backoff import Backoff
from .parse import url_path
from .protocol import (
    AuthenticationFailed,
    BitmexProtocol,
    Counters,
    Storage,
    Subscribed,
    SubscriptionFailed,
    VenueMessage,
    Welcome,
)

__all__ = ["DEFAULT_URL", "TESTNET_URL", "Connection", "Feed"]

logger = logging.getLogger("marketstreams.bitmex")

DEFAULT_URL = "wss://ws.bitmex.com/realtime"
TESTNET_URL = "wss://ws.testnet.bitmex.com/realtime"
MiB = 1024 * 1024
WebSocket = aiohttp.ClientWebSocketResponse[Literal[False]]  # frames as bytes (decode_text=False)


class Connection:
    """One logical BitMEX connection across reconnects, driving a :class:`BitmexProtocol`.

    :meth:`events` connects and yields every protocol event until cancelled. After
    ``ping_interval`` seconds without a frame it sends the text ``ping``; when nothing (no
    ``pong``, nothing else) comes within ``pong_timeout`` more seconds, the connection is
    replaced. On every (re)connection the protocol authenticates first, then resubscribes;
    books are invalid until their new partial. Refused credentials raise
    :class:`~marketstreams.exceptions.AuthenticationError` (never retried).
    """

    def __init__(
        self,
        protocol: BitmexProtocol,
        url: str,
        stats: FeedStats,
        *,
        ping_interval: float = 5.0,
        pong_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        max_frame_bytes: int = 16 * MiB,
        backoff: Backoff | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if ping_interval <= 0 or pong_timeout <= 0 or connect_timeout <= 0:
            raise ConfigurationError("ping_interval, pong_timeout, connect_timeout must be > 0")
        self.protocol = protocol
        self.url = url
        self.stats = stats
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout
        self.connect_timeout = connect_timeout
        self.max_frame_bytes = max_frame_bytes
        self.backoff = backoff or Backoff()
        self._session = session
        self._ws: WebSocket | None = None
        self.pings = 0

    @property
    def websocket(self) -> WebSocket | None:
        """The open aiohttp websocket, or None between connections."""
        return self._ws

    async def flush(self) -> None:
        """Send the frames the protocol has queued (no-op while disconnected: the protocol
        sends everything again on the next connection)."""
        ws = self._ws
        frames = self.protocol.data_to_send()
        if ws is None or ws.closed:
            return
        for frame in frames:
            await ws.send_str(frame)

    async def events(self) -> AsyncIterator[Any]:
        """Connect and yield protocol events (updates included) until cancelled."""
        own_session = self._session is None
        session = self._session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout
            )
        )
        try:
            while True:
                reason = "closed"
                try:
                    async with session.ws_connect(
                        self.url,
                        autoping=True,
                        heartbeat=None,
                        decode_text=False,  # orjson reads the bytes: no str to build first
                        max_msg_size=self.max_frame_bytes,
                        timeout=aiohttp.ClientWSTimeout(ws_close=self.connect_timeout),
                    ) as ws:
                        self._connected(ws)
                        async for event in self._read(ws):
                            yield event
                except (AuthenticationError, SubscriptionError, ConfigurationError):
                    raise
                except (
                    aiohttp.ClientError,
                    OSError,
                    TimeoutError,
                    ConnectionLostError,
                    MalformedFrameError,
                    FrameTooLargeError,
                ) as exc:
                    reason = str(exc) or type(exc).__name__
                    logger.warning("connection to %s lost: %s", self.url, reason)
                finally:
                    self._ws = None
                    self.stats.connected = False
                for update in self.protocol.connection_lost(reason):
                    yield update
                delay = self.backoff.next_delay()
                logger.info("reconnecting to %s in %.2f s", self.url, delay)
                await asyncio.sleep(delay)
        finally:
            self._ws = None
            self.stats.connected = False
            if self.protocol.connected:
                self.protocol.connection_lost("feed stopped")  # its books are stale from now on
            if own_session:
                await session.close()

    def _connected(self, ws: WebSocket) -> None:
        stats = self.stats
        if stats.connects:
            stats.reconnects += 1
        stats.connects += 1
        stats.connected = True
        self._ws = ws
        logger.info("connected to %s", self.url)
        self.protocol.connection_made(time.time())

    async def _read(self, ws: WebSocket) -> AsyncIterator[Any]:
        await self.flush()
        protocol = self.protocol
        stats = self.stats
        counters = protocol.counters
        text = aiohttp.WSMsgType.TEXT
        binary = aiohttp.WSMsgType.BINARY
        while True:
            try:
                msg = await ws.receive(timeout=self.ping_interval)
            except TimeoutError:
                # Silence: ask for a pong; anything arriving in time proves the line alive.
                self.pings += 1
                await ws.send_str("ping")
                try:
                    msg = await ws.receive(timeout=self.pong_timeout)
                except TimeoutError:
                    stats.silences += 1
                    raise ConnectionLostError(
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
            stats.messages += 1
            try:
                events = protocol.receive(msg.data, time.time())
            except MalformedFrameError as exc:
                # The frame may have carried book rows: resynchronise from fresh partials.
                stats.malformed += 1
                raise MalformedFrameError("unusable frame, resynchronising", exc.frame) from None
            for event in events:
                if type(event) is Update:
                    stats.updates += 1
                    if event.snapshot:
                        self.backoff.reset()  # the connection has proved healthy
                else:
                    self._control(event)
                yield event
            stats.skipped = counters.discarded_rows + counters.unknown_keys
            if protocol.has_data_to_send:
                await self.flush()

    def _control(self, event: Any) -> None:
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
    ) -> None:
        topic_list = [topics] if isinstance(topics, str) else list(topics)
        if not topic_list:
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
        self.connection = Connection(
            self.protocol,
            url,
            self.stats,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            connect_timeout=connect_timeout,
            max_frame_bytes=max_frame_bytes,
            backoff=backoff,
            session=session,
        )

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
        async for event in self.connection.events():
            if type(event) is Update:
                yield event
            elif isinstance(event, SubscriptionFailed) and event.op == "subscribe":
                raise SubscriptionError(
                    str(event.status or "subscribe"), f"{event.topic}: {event.error}"
                )

"""The Luno market-stream feed: the one place where sockets meet :class:`LunoProtocol`."""

from __future__ import annotations

import asyncio
import logging
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
    VenueError,
)
from ...feed import FeedStats
from ...models import Update
from ...secret import Secret
from ...transport.backoff import Backoff
from ...transport.websocket import receive_frames
from .protocol import Keepalive, LunoProtocol, Snapshot

__all__ = ["DEFAULT_URL", "Feed"]

logger = logging.getLogger("marketstreams.luno")

DEFAULT_URL = "wss://ws.luno.com"
MiB = 1024 * 1024


class Feed:
    """Luno's order-level market stream for one pair, kept as a consolidated :class:`OrderBook`.

    ``async for update in feed.updates()`` yields an update per applied message (and per
    snapshot). On a sequence gap, an out-of-sync trade, a close or ``silence`` seconds without a
    frame, the book is marked invalid at once (an update with ``book.is_valid == False`` is
    yielded), and the feed reconnects with capped, jittered backoff and resumes from the new
    snapshot. Refused credentials (:class:`AuthenticationError`) and an unknown pair
    (:class:`ConfigurationError`) are raised: no retry fixes them.

    Several pairs run side by side as several feeds in one :class:`~marketstreams.Updater`
    (Luno allows 50 stream sessions per account).
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
    ) -> None:
        if max_frame_bytes < 2 * MiB:
            raise ConfigurationError("max_frame_bytes must allow frames of at least 2 MiB")
        if silence_timeout <= 0 or keepalive_interval <= 0:
            raise ConfigurationError("silence_timeout and keepalive_interval must be positive")
        self.pair = pair.upper()
        self.url = url.rstrip("/")
        self._api_key = api_key
        self._api_secret = Secret(api_secret) if api_secret is not None else None
        self.ssl = ssl
        self.max_frame_bytes = max_frame_bytes
        self.keepalive_interval = keepalive_interval
        self.silence_timeout = silence_timeout
        self.connect_timeout = connect_timeout
        self.backoff = backoff or Backoff(initial=0.2, maximum=30.0)
        self.protocol = LunoProtocol(self.pair)
        self.stats = FeedStats()
        self._told_valid = False  # the last update yielded showed a valid book

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
        stats = self.stats
        book = self.protocol.book
        timeout = aiohttp.ClientWSTimeout(ws_close=2.0)
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(
                        self.endpoint,
                        max_msg_size=self.max_frame_bytes,
                        ssl=self.ssl,
                        autoping=True,
                        heartbeat=None,
                        timeout=timeout,
                    ) as ws:
                        stats.connects += 1
                        if stats.connects > 1:
                            stats.reconnects += 1
                        stats.connected = True
                        logger.info("luno %s: connected to %s", self.pair, self.endpoint)
                        secret = self._api_secret.value if self._api_secret else None
                        await ws.send_str(self.protocol.credentials_frame(self._api_key, secret))
                        async for update in self._session(ws):
                            yield update
                except (AuthenticationError, ConfigurationError):
                    stats.errors += 1
                    stats.connected = False
                    raise
                except (
                    ConnectionLostError,
                    ProtocolError,
                    VenueError,
                    aiohttp.ClientError,
                    OSError,
                    TimeoutError,
                ) as exc:
                    stats.connected = False
                    if isinstance(exc, ConnectionLostError) and "no frame" in str(exc):
                        stats.silences += 1
                    elif isinstance(exc, VenueError):
                        stats.errors += 1
                    elif isinstance(exc, ProtocolError) and not isinstance(exc, FrameTooLargeError):
                        stats.gaps += 1
                    self.protocol.connection_lost(f"{type(exc).__name__}: {exc}")
                    if self._told_valid:  # tell the hooks once that the book is out of sync
                        self._told_valid = False
                        yield Update(book)
                    delay = self.backoff.next_delay()
                    logger.warning("luno %s: %s; reconnecting in %.2f s", self.pair, exc, delay)
                    await asyncio.sleep(delay)

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> AsyncIterator[Update]:
        stats = self.stats
        receive = self.protocol.receive
        book = self.protocol.book

        async def keepalive() -> None:
            await ws.send_str('""')

        async for frame in receive_frames(
            ws,
            silence=self.silence_timeout,
            keepalive_interval=self.keepalive_interval,
            send_keepalive=keepalive,
        ):
            stats.messages += 1
            try:
                event = receive(frame)
            except MalformedFrameError as exc:
                stats.malformed += 1
                logger.warning("luno %s: skipped a malformed frame: %s", self.pair, exc)
                continue
            if event.__class__ is Keepalive:
                continue
            book.received = time.time()
            stats.updates += 1
            self._told_valid = True
            if event.__class__ is Snapshot:
                self.backoff.reset()
                logger.info(
                    "luno %s: snapshot at sequence %s, %d orders",
                    self.pair,
                    book.sequence,
                    len(self.protocol.orders),
                )
                yield Update(book, [], snapshot=True)
            else:
                yield Update(book, event.trades)  # type: ignore[union-attr]

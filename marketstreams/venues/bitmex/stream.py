"""The ``listen()`` API bitmex-trio-websocket users know, on asyncio::

More in docs/modules.md (``marketstreams.venues.bitmex.stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncGenerator
from typing import Any

import aiohttp

from ...book import OrderBook
from ...exceptions import ConfigurationError, SubscriptionError
from ...feed import FeedStats
from ...recording.writer import Channel, Recorder
from ...secret import Secret
from ...transport.backoff import Backoff
from .feed import DEFAULT_URL, BitmexSessionCore, Connection, MiB, WebSocket, open_recording
from .parse import make_topic, url_path
from .protocol import BitmexProtocol, Rows, Storage, SubscriptionFailed

__all__ = ["BitmexStream", "connect"]

logger = logging.getLogger("marketstreams.bitmex")


class _End:
    """Queue marker: the stream closed (``error`` None) or failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Listener:
    __slots__ = ("queue", "symbol", "table")

    def __init__(self, table: str, symbol: str | None, maxsize: int) -> None:
        self.table = table
        self.symbol = symbol
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize)


class BitmexStream:
    """A BitMEX connection whose tables you :meth:`listen` to (see the module docstring).

    Use :func:`connect` (``async with bitmex.connect(...) as ws``). ``storage`` holds every
    table received, ``books`` the price-sorted books. A listener that falls more than
    ``maxsize`` rows behind loses its oldest rows (counted in :attr:`dropped_rows`).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        api_key: str | None = None,
        api_secret: str | Secret | None = None,
        *,
        maxsize: int = 100_000,
        ping_interval: float = 5.0,
        pong_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        max_frame_bytes: int = 16 * MiB,
        auth_expiry: float = 60.0,
        backoff: Backoff | None = None,
        session: aiohttp.ClientSession | None = None,
        record: Recorder | str | os.PathLike[str] | None = None,
    ) -> None:
        try:
            self.protocol = BitmexProtocol(
                api_key=api_key,
                api_secret=api_secret,
                auth_path=url_path(url),
                auth_expiry=auth_expiry,
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self.url = url
        self.maxsize = maxsize
        self.stats = FeedStats()
        core = BitmexSessionCore(self.protocol, self.stats, backoff, stream=True, keep_events=True)
        self.connection = Connection(
            core,
            url,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            connect_timeout=connect_timeout,
            max_frame_bytes=max_frame_bytes,
            session=session,
        )
        self.dropped_rows = 0
        self.record = record
        self._recording: tuple[Channel | None, Recorder | None] = (None, None)
        self._listeners: dict[str, list[_Listener]] = {}
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._closed = False

    def __repr__(self) -> str:
        auth = " authenticated" if self.protocol.has_credentials else ""
        return f"<bitmex.BitmexStream{auth} {self.url} topics={list(self._listeners)}>"

    @property
    def storage(self) -> Storage:
        """Every table received: ``storage.tables``, ``storage.rows(table, symbol)``, ``keys``."""
        return self.protocol.storage

    @property
    def books(self) -> dict[str, OrderBook]:
        """Books by symbol, for the book tables listened to."""
        return self.protocol.books

    @property
    def ws(self) -> WebSocket | None:
        """The underlying aiohttp websocket while connected."""
        return self.connection.websocket

    def listeners(self, table: str, symbol: str | None = None) -> int:
        """How many listeners share the subscription of ``table`` / ``symbol``."""
        return len(self._listeners.get(make_topic(table, symbol), ()))

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> BitmexStream:
        if self._task is not None:
            raise RuntimeError("this stream is already open")
        self._recording = open_recording(self.record, self.url, self.protocol, [], stream=True)
        self.connection.recording = self._recording[0]
        self._task = asyncio.create_task(self._run(), name=f"marketstreams-bitmex {self.url}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; every listener ends."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._end_all(_End(self._error))
        channel, owned = self._recording
        self._recording = (None, None)
        self.connection.recording = None
        if channel is not None:
            channel.close()
        if owned is not None:
            owned.close()

    async def _run(self) -> None:
        try:
            async for event in self.connection.events():
                if type(event) is Rows:
                    self._rows(event)
                elif isinstance(event, SubscriptionFailed) and event.op == "subscribe":
                    error = SubscriptionError(
                        str(event.status or "subscribe"), f"{event.topic}: {event.error}"
                    )
                    for listener in self._listeners.get(event.topic, ()):
                        self._put(listener, _End(error))
        except Exception as exc:  # a fatal error (refused credentials): every listener raises it
            logger.error("BitMEX stream stopped: %s", exc)
            self._error = exc
            self._end_all(_End(exc))

    def _end_all(self, end: _End) -> None:
        for listeners in self._listeners.values():
            for listener in listeners:
                self._put(listener, end)

    def _put(self, listener: _Listener, item: Any) -> None:
        queue = listener.queue
        if queue.full():
            queue.get_nowait()
            self.dropped_rows += 1
        queue.put_nowait(item)

    def _rows(self, event: Rows) -> None:
        if event.action == "delete":
            return
        rows = event.rows
        if event.action == "update":
            rows = [dict(row) for row in rows]  # merged rows live on in storage: hand out copies
        for listeners in self._listeners.values():
            for listener in listeners:
                if listener.table != event.table:
                    continue
                symbol = listener.symbol
                for row in rows:
                    if symbol is None or row.get("symbol") == symbol:
                        self._put(listener, row)

    # -- listening --------------------------------------------------------------------------

    async def listen(
        self, table: str, symbol: str | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Rows of ``table`` (of ``symbol`` only, when given), as they arrive.

        Raises :class:`~marketstreams.exceptions.SubscriptionError` if BitMEX refuses the topic
        and :class:`~marketstreams.exceptions.AuthenticationError` if it refuses the
        credentials. Ends when the stream is closed.
        """
        if self._task is None or self._closed:
            raise RuntimeError("use the stream inside 'async with bitmex.connect(...)'")
        if self._error is not None:
            raise self._error
        topic = make_topic(table, symbol)
        listener = _Listener(table, symbol, self.maxsize)
        listeners = self._listeners.setdefault(topic, [])
        listeners.append(listener)
        try:
            if len(listeners) == 1:
                self.protocol.row_tables.add(table)
                try:
                    self.protocol.subscribe(topic)
                except ValueError as exc:
                    raise ConfigurationError(str(exc)) from None
                await self.connection.flush()
            while True:
                item = await listener.queue.get()
                if type(item) is _End:
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            listeners.remove(listener)
            if not listeners:
                del self._listeners[topic]
                if not any(lst[0].table == table for lst in self._listeners.values() if lst):
                    self.protocol.row_tables.discard(table)
                self.protocol.unsubscribe(topic)
                if not self._closed:
                    with contextlib.suppress(Exception):
                        await self.connection.flush()


def connect(
    url: str = DEFAULT_URL,
    api_key: str | None = None,
    api_secret: str | Secret | None = None,
    **options: Any,
) -> BitmexStream:
    """``async with bitmex.connect(url, api_key, api_secret) as ws: ...`` (see
    :class:`BitmexStream` for ``options``: ``ping_interval``, ``pong_timeout``, ``maxsize``...)."""
    return BitmexStream(url, api_key, api_secret, **options)

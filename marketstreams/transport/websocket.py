"""Websocket frames in with silence detection and client keepalives (aiohttp client).

The only job here is moving frames: no venue logic. Venue feeds wrap :func:`receive_frames`
around a connected :class:`aiohttp.ClientWebSocketResponse`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp

from ..exceptions import ConnectionLostError, FrameTooLargeError, SilenceError

__all__ = ["receive_frames"]


async def receive_frames(
    ws: aiohttp.ClientWebSocketResponse,
    *,
    silence: float,
    keepalive_interval: float | None = None,
    send_keepalive: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[str | bytes]:
    """Yield text and binary frames until the connection ends.

    Raises :class:`~marketstreams.exceptions.ConnectionLostError` when the server closes or the
    connection fails, :class:`~marketstreams.exceptions.SilenceError` when nothing arrives for
    ``silence`` seconds; raises
    :class:`~marketstreams.exceptions.FrameTooLargeError` for a frame over the connection's
    ``max_msg_size``. Calls ``send_keepalive`` whenever the client has not sent one for
    ``keepalive_interval`` seconds.
    """
    loop = asyncio.get_running_loop()
    last_received = last_sent = loop.time()
    wait = silence if keepalive_interval is None else min(silence, keepalive_interval)
    while True:
        now = loop.time()
        if send_keepalive is not None and keepalive_interval is not None:
            if now - last_sent >= keepalive_interval:
                await send_keepalive()
                last_sent = now
        timeout = max(0.01, min(wait, silence - (now - last_received)))
        try:
            msg = await ws.receive(timeout=timeout)
        except TimeoutError:
            if loop.time() - last_received >= silence:
                raise SilenceError(f"no frame for {silence:g} s") from None
            continue
        last_received = loop.time()
        kind = msg.type
        if kind is aiohttp.WSMsgType.TEXT or kind is aiohttp.WSMsgType.BINARY:
            yield msg.data
        elif kind is aiohttp.WSMsgType.ERROR:
            exc = ws.exception()
            if (
                isinstance(exc, aiohttp.WebSocketError)
                and exc.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            ):
                raise FrameTooLargeError(str(exc))
            raise ConnectionLostError(f"websocket error: {exc!r}")
        elif kind in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            raise ConnectionLostError(f"closed by the server (code {ws.close_code})")

"""Websocket frames in with silence detection and client keepalives (aiohttp client).

The only job here is moving frames: no venue logic. Venue feeds wrap :func:`receive_frames`
around a connected :class:`aiohttp.ClientWebSocketResponse`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from ..exceptions import (
    ConnectionLostError,
    FrameTooLargeError,
    SilenceError,
    TLSVerificationError,
)

__all__ = ["connect", "receive_frames"]


async def connect(
    session: aiohttp.ClientSession, url: str, *, handshake_timeout: float, **options: Any
) -> Any:  # a ClientWebSocketResponse, typed by ``decode_text`` at the caller
    """Open a websocket. aiohttp's ``connect`` timeout ends with the TCP (and TLS) connection,
    so the upgrade itself is bounded here: a server that accepts but never answers is a
    :class:`ConnectionLostError` after ``handshake_timeout`` seconds. A certificate that does
    not verify is a :class:`TLSVerificationError` naming the host (a set-up error: retrying
    cannot make it valid)."""
    try:
        async with asyncio.timeout(handshake_timeout):
            return await session.ws_connect(url, **options)
    except TimeoutError:
        raise ConnectionLostError(
            f"no websocket handshake within {handshake_timeout:g} s"
        ) from None
    except aiohttp.ClientConnectorCertificateError as exc:
        cert = exc.certificate_error
        reason = getattr(cert, "verify_message", None) or str(cert)
        raise TLSVerificationError(f"{exc.host}:{exc.port}", reason) from None


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

"""The proxy's aiohttp server: ``/ws`` (the protocol), ``/health``, ``/metrics``, the viewer.

::

    updater = Updater(luno.Feed("XBTZAR"), bitmex.Feed(["orderBookL2:XBTUSD", "trade:XBTUSD"]))
    proxy = Proxy(updater, port=8765, app=True)
    await proxy.run()          # serves until cancelled; runs the updater too

Each websocket client gets a writer task of its own that sends, as one frame, whatever its
:class:`~marketstreams.proxy.hub.Client` queue holds whenever the connection accepts more. The
feeds never wait for a client: when a socket is full its writer waits and the client's queue
conflates meanwhile. A ticker every ``tick`` seconds announces venue state changes and cuts
clients over their limits (:class:`~marketstreams.proxy.hub.ClientLimits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ..hooks import Hook
from ..metrics import Metrics
from ..secret import Secret
from ..updater import Updater
from .hub import Client, ClientLimits, Hub
from .metrics import prometheus_text
from .protocol import encode

__all__ = ["STATIC_DIR", "Proxy"]

logger = logging.getLogger("marketstreams.proxy")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_REQUEST_BYTES = 64 * 1024
_JSON = "application/json"
_PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"


def _json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=encode(data), status=status, content_type=_JSON)


class Proxy:
    """Rebroadcast an :class:`~marketstreams.Updater`'s books to websocket clients.

    ``host`` / ``port``: where to listen (127.0.0.1 by default; port 0 picks a free one, see
    :attr:`port`). ``depth``: levels a side in book messages. ``token``: when set, ``/ws`` and
    ``/metrics`` require it (``Authorization: Bearer <token>`` or ``?token=<token>``), compared
    in constant time and never logged. ``app``: also serve the viewer at ``/``. ``limits``: what
    a client may cost before it is cut off. ``heartbeat``: seconds between websocket pings (a
    client that does not answer is closed). ``compress``: permessage-deflate when the client
    offers it (saves bandwidth, costs CPU per client). ``evict_closed_after``: seconds after
    which a closed market (Betfair) leaves the book list and the per-book metrics.
    """

    def __init__(
        self,
        updater: Updater,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        depth: int = 20,
        token: str | Secret | None = None,
        app: bool = False,
        limits: ClientLimits | None = None,
        heartbeat: float = 20.0,
        compress: bool = False,
        max_clients: int = 10_000,
        tick: float = 0.5,
        evict_closed_after: float = 600.0,
    ) -> None:
        self.updater = updater
        self.host = host
        self._port = port
        self.hub = Hub(depth, limits, updater.feeds, evict_closed_after=evict_closed_after)
        self.hook = updater.add_hook(Hook(self.hub.on_update, name="proxy"))
        # Per venue and book: updates/s, lag, reconnects, gaps, conflated deliveries.
        self.book_metrics = Metrics.for_updater(updater)
        # Closed markets leave the metrics when they leave the hub: memory stays flat.
        self.book_metrics.expire_closed_after = evict_closed_after
        if isinstance(token, str):
            token = Secret(token) if token else None
        self._token = token
        self.app_enabled = app
        self.heartbeat = heartbeat
        self.compress = compress
        self.max_clients = max_clients
        self.tick = tick
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        self._sockets: set[web.WebSocketResponse] = set()

    def __repr__(self) -> str:
        token = "***" if self._token else "none"
        return f"<Proxy {self.host}:{self._port} depth={self.hub.depth} token={token}>"

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the real one when constructed with port 0)."""
        if self._site is not None and self._runner is not None:
            for server in self._runner.addresses:
                return int(server[1])
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port/`` (the viewer, with ``app=True``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def ws_url(self) -> str:
        """``ws://host:port/ws``."""
        return "ws" + self.url[4:] + "ws"

    def make_app(self) -> web.Application:
        """The aiohttp application (for embedding in your own server or ``TestServer``)."""
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/metrics.json", self._metrics_json)
        if self.app_enabled:
            app.router.add_get("/", self._index)
            app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        else:
            app.router.add_get("/", self._root)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self) -> None:
        """Listen and start the ticker (the updater is run by :meth:`run`, or by you)."""
        if self._runner is not None:
            raise RuntimeError("this Proxy is already started")
        self.hook.start()
        # No access log: query strings may carry the token.
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self._port)
        try:
            await self._site.start()
        except BaseException:
            await self._runner.cleanup()
            self._runner = self._site = None
            raise
        self._ticker = asyncio.create_task(self._tick_loop(), name="marketstreams-proxy-tick")
        logger.info("proxy: listening on %s (websocket %s)", self.url, self.ws_url)

    async def stop(self) -> None:
        """Close every client and stop listening."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None
        for task in list(self._writers):
            task.cancel()
        for task in list(self._writers):
            with contextlib.suppress(BaseException):
                await task

    async def __aenter__(self) -> Proxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Serve and run the updater until cancelled (or until a feed fails for good)."""
        await self.start()
        try:
            await self.updater.run()
        finally:
            await self.stop()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.hub.tick()
            except Exception:  # never let housekeeping die silently
                logger.exception("proxy: tick failed")

    async def _on_shutdown(self, app: web.Application) -> None:
        async def close(ws: web.WebSocketResponse) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), 1.0)

        await asyncio.gather(*(close(ws) for ws in list(self._sockets)))

    # -- auth ----------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        given = ""
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            given = header[7:].strip()
        elif "token" in request.query:
            given = request.query["token"]
        return hmac.compare_digest(given.encode(), self._token.value.encode())

    def _refuse(self, reason: str, status: int, message: str) -> web.Response:
        self.hub.refused[reason] += 1
        return _json_response({"error": reason, "message": message}, status)

    # -- handlers ------------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            logger.info("proxy: refused a client from %s: no or wrong token", request.remote)
            return self._refuse("token", 401, "a valid token is required")
        if len(self.hub.clients) >= self.max_clients:
            return self._refuse("full", 503, f"at most {self.max_clients} clients")
        ws = web.WebSocketResponse(
            heartbeat=self.heartbeat,
            max_msg_size=MAX_REQUEST_BYTES,
            compress=self.compress,
        )
        await ws.prepare(request)
        transport = request.transport

        def abort() -> None:
            if transport is not None:
                transport.abort()

        def buffered() -> int:
            if transport is None or transport.is_closing():
                return 0
            return int(transport.get_write_buffer_size())

        client = self.hub.connect(request.remote, abort, buffered)
        logger.info("proxy: client %d connected from %s", client.id, request.remote)
        self._sockets.add(ws)
        writer = asyncio.create_task(self._write_loop(client, ws), name=f"proxy-client-{client.id}")
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self.hub.receive(client, msg.data)
                if client.closed:
                    break
        finally:
            self._sockets.discard(ws)
            self.hub.disconnect(client)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
            logger.info("proxy: client %d gone (%s)", client.id, client.close_reason or "closed")
        return ws

    async def _write_loop(self, client: Client, ws: web.WebSocketResponse) -> None:
        wakeup = client.wakeup
        try:
            while not client.closed:
                await wakeup.wait()
                wakeup.clear()
                frame = client.take(time.monotonic())
                if frame is None:
                    continue
                await ws.send_frame(frame, WSMsgType.TEXT)
                client.sent()
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("proxy: client %d: send failed: %s", client.id, exc)
        finally:
            if not client.closed and not ws.closed:
                client.cut("lost", "the connection failed while sending")

    async def _health(self, request: web.Request) -> web.Response:
        health = self.hub.health()
        strict = request.query.get("strict") in ("1", "true", "yes")
        status = 503 if strict and health["status"] != "ok" else 200
        return _json_response(health, status)

    async def _metrics(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._refuse("token", 401, "a valid token is required")
        if request.query.get("format") == "json":
            return _json_response(self._metrics_dict())
        return web.Response(
            text=prometheus_text(self.hub.metrics()) + self.book_metrics.render_prometheus(),
            headers={"Content-Type": _PROMETHEUS},
        )

    def _metrics_dict(self) -> dict[str, Any]:
        return {**self.hub.metrics(), "books": self.book_metrics.snapshot()}

    async def _metrics_json(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._refuse("token", 401, "a valid token is required")
        return _json_response(self._metrics_dict())

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response(
            text="marketstreams proxy: websocket at /ws, /health, /metrics "
            "(start with --app for the viewer)\n"
        )

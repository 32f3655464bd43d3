"""The Luno mock server: websockets on the common base, the venue's protocol, the generator.

More in docs/mock_servers.md (``mock_servers.luno``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import ClassVar, Final

import orjson
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..base import MockServer
from .clients import ERROR_CLOSE_CODE, Client, CloseRequest, pair_from_path
from .faults import LunoFaults
from .markets import Market

logger = logging.getLogger("marketstreams.mock.luno")


_MIN_SLEEP: Final = 0.001  # lets high rates generate in batches instead of one wake-up per update


_KEEPALIVE: Final = '""'  # the two characters, as Luno sends them (a JSON empty string)
# What counts as a keepalive from a client: Luno's ``""``, and an empty frame from lenient clients.
_CLIENT_KEEPALIVES: Final = frozenset({'""', b'""', "", b""})


class LunoMockServer(LunoFaults, MockServer[Client]):
    """A Luno market-stream websocket server over synthetic, deterministic markets.

    ``pairs`` are the markets served (any other pair gets ``invalid_market``); ``seed`` makes the
    books and the update stream reproducible (timestamps aside); ``credentials`` maps API key ids
    to secrets, ``None`` accepts any JSON object, ``{}`` included. ``orders`` resting orders per
    pair to start with; ``rate`` updates per second per pair from a background task (0 disables
    it; :meth:`pause` and :meth:`step` give full control). ``keepalive_interval`` seconds of quiet
    bring a ``""`` frame (the two characters, as Luno sends them), ``ping_interval`` a websocket
    ping (``None`` disables either).
    ``snapshot_padding_bytes`` adds far-from-mid resting orders until the snapshot frame is larger
    than that, for testing clients' frame limits.

    Use as ``async with LunoMockServer(...) as server:``, then connect to
    ``f"{server.url}/api/1/stream/XBTZAR"``.
    """

    venue: ClassVar[str] = "luno"

    def __init__(
        self,
        pairs: Iterable[str] = ("XBTZAR", "ETHZAR"),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        credentials: Mapping[str, str] | None = None,
        orders: int = 2000,
        rate: float = 50.0,
        keepalive_interval: float | None = 20.0,
        auth_timeout: float = 10.0,
        snapshot_padding_bytes: int = 0,
        ping_interval: float | None = 20.0,
    ) -> None:
        pair_list = list(dict.fromkeys(pairs))
        if not pair_list or not all(isinstance(p, str) and p for p in pair_list):
            raise ValueError(f"pairs must be non-empty strings, got {pair_list!r}")
        if orders < 0 or rate < 0 or auth_timeout <= 0 or snapshot_padding_bytes < 0:
            raise ValueError("orders, rate and snapshot_padding_bytes >= 0, auth_timeout > 0")
        if keepalive_interval is not None and keepalive_interval <= 0:
            raise ValueError("keepalive_interval must be positive or None")
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError("ping_interval must be positive or None")
        super().__init__(host, port)
        self._credentials = dict(credentials) if credentials is not None else None
        self._rate = float(rate)
        self._keepalive = keepalive_interval
        self._ping_interval = ping_interval
        self._auth_timeout = auth_timeout
        self._markets = {
            pair: Market(pair, seed, orders, snapshot_padding_bytes) for pair in pair_list
        }
        self._subscribers: dict[str, dict[Client, None]] = {pair: {} for pair in pair_list}
        self._running = asyncio.Event()
        self._paused = False
        self._server: Server | None = None
        self._generators: list[asyncio.Task[None]] = []
        self._frames_sent = 0
        self._updates_generated = 0
        self._keepalives_sent = 0
        self._keepalive_sent = asyncio.Condition()

    # -- lifecycle

    async def _listen(self) -> int:
        """Listen, and start generating updates unless paused."""
        self._server = await ws_serve(
            self._handle,
            self.host,
            self.requested_port,
            process_request=self._check_path,
            compression=None,
            ping_interval=None,  # our own pings, so that silence() can hold them back
            max_size=2**20,  # what clients send is small; the big frames go the other way
            logger=logging.getLogger("marketstreams.mock.luno.websockets"),
        )
        if self._rate > 0:
            for market in self._markets.values():
                task = asyncio.create_task(
                    self._generate(market), name=f"luno-mock-generator-{market.pair}"
                )
                self._generators.append(task)
        if not self._paused:
            self._running.set()
        return int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        """Stop generating, close every connection (code 1001) and stop listening."""
        self._running.clear()
        for task in self._generators:
            task.cancel()
        await asyncio.gather(*self._generators, return_exceptions=True)
        self._generators.clear()
        server, self._server = self._server, None
        if server is None:
            return
        for client in self.clients:
            client.silent_until = 0.0  # a silenced client would never answer the close
            client.ws.transport.resume_reading()
        server.close()
        await server.wait_closed()

    # -- introspection

    @property
    def url(self) -> str:
        """Base URL; clients append ``/api/1/stream/{PAIR}``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def pairs(self) -> tuple[str, ...]:
        return tuple(self._markets)

    @property
    def frames_sent(self) -> int:
        """Every websocket message sent: errors, snapshots, updates, keepalives, junk."""
        return self._frames_sent

    @property
    def updates_generated(self) -> int:
        return self._updates_generated

    @property
    def keepalives_sent(self) -> int:
        """``""`` keepalive frames sent, to every client together."""
        return self._keepalives_sent

    async def wait_keepalives(self, n: int) -> None:
        """Return once :attr:`keepalives_sent` has reached ``n`` (a test's synchronisation)."""
        async with self._keepalive_sent:
            await self._keepalive_sent.wait_for(lambda: self._keepalives_sent >= n)

    def connections(self, pair: str | None = None) -> int:
        """Open connections (authenticating ones included), of ``pair`` or of all pairs."""
        return sum(1 for _ in self._targets(pair))

    def sequence(self, pair: str) -> int:
        """The sequence of the last update applied to the true book."""
        return self._market(pair).sequence

    def true_depth(self, pair: str) -> dict[str, list[list[Decimal]]]:
        """The true price levels: bids highest first, asks lowest first, exact volumes."""
        return self._market(pair).book.depth()

    def true_queue(self, pair: str, side: str, price: Decimal) -> list[tuple[str, Decimal]]:
        """The orders resting at ``price`` on ``side`` ("bid"/"ask") in time priority (the
        order the generator's takers fill them in): ``[(order_id, volume), ...]``."""
        levels = self._market(pair).book._side(side == "bid")[0]
        level = levels.get(Decimal(price))
        return [] if level is None else [(o.order_id, o.volume) for o in level.orders.values()]

    def true_trades(self, pair: str, after: int) -> list[tuple[int, str, str, Decimal, Decimal]]:
        """Every trade in updates after sequence ``after`` (the last 20000 updates at most), in
        the order filled: ``(sequence, maker order id, maker side "bid"/"ask", price, base)``."""
        return [
            (seq, oid, "bid" if is_bid else "ask", price, base)
            for seq, oid, is_bid, price, base in self._market(pair).trade_log
            if seq > after
        ]

    def digest(self, pair: str, sequence: int) -> str | None:
        """:func:`book_digest` of the true book right after ``sequence``; ``None`` if that is
        in the future or more than 20000 updates ago."""
        return self._market(pair).digest(sequence)

    # -- the generator

    def pause(self) -> None:
        """Stop the background generator; :meth:`step` still works."""
        self._paused = True
        self._running.clear()

    def resume(self) -> None:
        self._paused = False
        if self._server is not None:
            self._running.set()

    async def step(self, n: int = 1, pair: str | None = None) -> None:
        """Generate ``n`` updates now (per pair, or for every pair) and queue them to clients.

        Works while paused. A client that falls 100000 frames behind is closed (1008).
        """
        markets = [self._market(pair)] if pair is not None else list(self._markets.values())
        for _ in range(n):
            for market in markets:
                self._emit(market)
        await asyncio.sleep(0)

    def _emit(self, market: Market) -> None:
        data = orjson.dumps(market.next_update())
        self._updates_generated += 1
        subscribers = self._subscribers[market.pair]
        if subscribers:
            now = asyncio.get_running_loop().time()
            for client in subscribers:
                client.push_update(data, now)

    async def _generate(self, market: Market) -> None:
        loop = asyncio.get_running_loop()
        rate = self._rate
        max_batch = max(1, math.ceil(rate / 4))
        try:
            while True:
                await self._running.wait()
                start, made = loop.time(), 0
                while self._running.is_set():
                    due = int((loop.time() - start) * rate) - made
                    if due > max_batch:  # we cannot keep up: skip ahead, do not pile up
                        made += due - max_batch
                        due = max_batch
                    for _ in range(due):
                        self._emit(market)
                    made += max(due, 0)
                    await asyncio.sleep(max(_MIN_SLEEP, start + (made + 1) / rate - loop.time()))
        except Exception:
            logger.exception("luno mock: the %s generator failed", market.pair)
            raise

    # -- connections

    def _market(self, pair: str) -> Market:
        try:
            return self._markets[pair]
        except KeyError:
            raise ValueError(f"unknown pair {pair!r}; serving {list(self._markets)}") from None

    def _targets(self, pair: str | None) -> Iterable[Client]:
        if pair is None:
            return list(self.clients)
        self._market(pair)
        return [client for client in self.clients if client.pair == pair]

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        if pair_from_path(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        path = ws.request.path if ws.request is not None else ""
        client = Client(ws, pair_from_path(path) or "", loop.time())
        self._connected(client)
        try:
            market = self._markets.get(client.pair)
            if market is None:
                await self._refuse(client, "invalid_market", client.pair)
            elif await self._authenticate(client):
                # Snapshot and subscription in one synchronous step: nothing can fall between.
                client.push(market.snapshot())
                self._subscribers[client.pair][client] = None
                await self._stream(client)
        except ConnectionClosed:
            pass
        finally:
            self._subscribers.get(client.pair, {}).pop(client, None)
            self._disconnected(client)
            client.done.set()

    async def _refuse(self, client: Client, code: str, message: str) -> None:
        await client.ws.send(orjson.dumps({"error_code": code, "error": message}), text=True)
        self._frames_sent += 1
        await client.ws.close(ERROR_CLOSE_CODE, code)

    async def _authenticate(self, client: Client) -> bool:
        try:
            async with asyncio.timeout(self._auth_timeout):
                message = await client.ws.recv()
                while message in _CLIENT_KEEPALIVES:  # a keepalive is not the credentials
                    message = await client.ws.recv()
        except TimeoutError:
            await self._refuse(client, "auth_timeout", "you took too long to provide credentials")
            return False
        if not self._credentials_ok(message):
            await self._refuse(
                client, "invalid_credentials", "you provided an invalid credentials message"
            )
            return False
        return True

    def _credentials_ok(self, message: str | bytes) -> bool:
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        if self._credentials is None:
            return True
        key_id, secret = data.get("api_key_id"), data.get("api_key_secret")
        if not isinstance(key_id, str) or not isinstance(secret, str):
            return False
        expected = self._credentials.get(key_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    async def _stream(self, client: Client) -> None:
        tasks = [asyncio.create_task(self._send_loop(client))]
        if self._ping_interval is not None:
            tasks.append(asyncio.create_task(self._ping_loop(client, self._ping_interval)))
        try:
            async for message in client.ws:  # keepalives and anything else: ignored
                if message not in _CLIENT_KEEPALIVES and logger.isEnabledFor(logging.DEBUG):
                    logger.debug("luno mock: ignoring client frame %.80r", message)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_loop(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        ws, queue = client.ws, client.queue
        try:
            while True:
                if not queue:
                    client.wake.clear()
                    now = loop.time()
                    deadline = client.silent_until if now < client.silent_until else None
                    if self._keepalive is not None:
                        deadline = max(client.last_sent + self._keepalive, deadline or 0.0)
                    if deadline is None or deadline > now:
                        try:
                            async with asyncio.timeout_at(deadline):
                                await client.wake.wait()
                        except TimeoutError:
                            pass
                        continue
                    await ws.send(_KEEPALIVE)
                    self._frames_sent += 1
                    client.last_sent = loop.time()
                    self._keepalives_sent += 1
                    async with self._keepalive_sent:
                        self._keepalive_sent.notify_all()
                    continue
                item = queue.popleft()
                if loop.time() < client.silent_until:
                    continue  # silenced: lost to this client
                if isinstance(item, CloseRequest):
                    await ws.close(item.code, item.reason)
                    return
                await ws.send(item, text=True)
                self._frames_sent += 1
                client.last_sent = loop.time()
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("luno mock: sending to a %s client failed", client.pair)
            ws.transport.abort()
            raise

    async def _ping_loop(self, client: Client, interval: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(interval)
                if loop.time() < client.silent_until:
                    continue
                pong = await client.ws.ping()
                sent_at = loop.time()
                try:
                    async with asyncio.timeout(interval):
                        await pong
                except TimeoutError:
                    if client.silent_until > sent_at:
                        continue  # we stopped reading ourselves
                    logger.info("luno mock: a %s client missed a pong, closing", client.pair)
                    await client.ws.close(1011, "keepalive ping timeout")
                    return
        except ConnectionClosed:
            return

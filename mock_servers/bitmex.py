"""A mock BitMEX realtime server: real websockets, the real protocol, a synthetic market, faults.

In process::

    async with MockBitmexServer(["XBTUSD", "ETHUSD"], interval=None) as server:
        feed = bitmex.Feed(["orderBookL2:XBTUSD"], url=server.url)
        server.step(10)                  # advance the market deterministically
        server.book("XBTUSD")            # the true book: {"bids": [[p, s], ...], "asks": [...]}
        await server.drop_connections()  # a fault

Alone: ``python -m mock_servers.bitmex --port 8765`` (or ``marketstreams mock bitmex --port P``).

What it speaks: the welcome message; ``help``; ``subscribe`` / ``unsubscribe`` with one ack per
topic and BitMEX-style error frames (unknown table, unknown symbol, already subscribed, private
table without authentication); ``authKeyExpires`` verified by HMAC against the configured
credentials; text ``ping`` / ``pong``. Tables: ``orderBookL2`` (current format: every row has
``price`` and ``timestamp``; or, switchable, the pre-2023 format whose update and delete rows carry
only the id), ``orderBookL2_25``, ``orderBook10``, ``trade``, ``quote``, ``instrument``, and an
empty private ``order`` table.

Fault switches: :meth:`drop_connections`, :meth:`silence`, :meth:`repeat_partial`,
:meth:`send_unknown_id_update`, :meth:`send_malformed`, :meth:`send_error`,
:meth:`set_legacy_ids`, :meth:`pause` / :meth:`resume`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["DEFAULT_SYMBOLS", "MockBitmexServer", "main", "start_mock", "trade_values"]

logger = logging.getLogger("marketstreams.mock.bitmex")

DEFAULT_SYMBOLS = ("XBTUSD", "ETHUSD", "SOLUSDT")
PUBLIC_TABLES = ("orderBookL2", "orderBookL2_25", "orderBook10", "trade", "quote", "instrument")
PRIVATE_TABLES = ("order",)
HELP = {
    "info": "See https://www.bitmex.com/app/wsAPI and https://www.bitmex.com/explorer for more "
    "documentation.",
    "usage": 'Send a message in the format: {"op": string, "args": Array<string>}',
    "ops": ["authKeyExpires", "cancelAllAfter", "subscribe", "unsubscribe"],
    "subscribe": 'To subscribe, send: {"op": "subscribe", "args": [subscriptionTopic, ...]}.',
    "subscriptionSubjects": {
        "authenticationRequired": list(PRIVATE_TABLES),
        "public": list(PUBLIC_TABLES),
    },
}
# symbol -> (tick size, start price in ticks)
_INSTRUMENTS = {
    "XBTUSD": (0.5, 120_000),
    "ETHUSD": (0.05, 60_000),
    "SOLUSDT": (0.001, 150_000),
    "XRPUSD": (0.0001, 6_000),
    "ADAUSDT": (0.00001, 40_000),
}
# Quanto contracts: satoshis per contract per 1.0 of price (the multipliers real trade rows show:
# grossValue = size x price x multiplier). Every other symbol is inverse like XBTUSD: one contract
# is 1 USD, grossValue = size / price in satoshis.
_QUANTO_MULTIPLIERS = {"ETHUSD": 100, "XRPUSD": 20_000, "SOLUSDT": 1_000, "ADAUSDT": 1_000_000}
_SATOSHIS_PER_XBT = 100_000_000
_XBT_USD = _INSTRUMENTS["XBTUSD"][0] * _INSTRUMENTS["XBTUSD"][1]  # quanto notionals' XBT price
L2_KEYS = ["symbol", "id", "side"]
L2_TYPES = {
    "symbol": "symbol",
    "id": "long",
    "side": "symbol",
    "size": "long",
    "price": "float",
    "timestamp": "timestamp",
    "transactTime": "timestamp",
}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trade_values(symbol: str, size: int, price: float) -> dict[str, Any]:
    """``grossValue`` (satoshis), ``homeNotional`` and ``foreignNotional`` of a trade, as BitMEX
    computes them: for XBTUSD ``grossValue`` is ``size / price`` XBT in satoshis and
    ``homeNotional`` that in XBT (``grossValue / 1e8``), ``foreignNotional`` the USD size."""
    multiplier = _QUANTO_MULTIPLIERS.get(symbol)
    if multiplier is None:
        gross = round(size * _SATOSHIS_PER_XBT / price)
        return {
            "grossValue": gross,
            "homeNotional": gross / _SATOSHIS_PER_XBT,
            "foreignNotional": float(size),
        }
    gross = round(size * price * multiplier)
    foreign = gross / _SATOSHIS_PER_XBT * _XBT_USD
    return {"grossValue": gross, "homeNotional": foreign / price, "foreignNotional": foreign}


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@dataclass(slots=True)
class _Level:
    id: int
    side: str  # "Buy" / "Sell"
    ticks: int
    size: int


class _Market:
    """The true book of one symbol and its random walk."""

    def __init__(self, symbol: str, index: int, rng: random.Random, depth: int) -> None:
        self.symbol = symbol
        self.index = index
        self.tick, mid = _INSTRUMENTS.get(symbol, (0.01, 10_000 + 1_000 * index))
        self.rng = rng
        self.levels: dict[int, _Level] = {}
        self.last_ticks = mid
        self._next_id = rng.randrange(10**9, 2 * 10**9)
        for i in range(depth):
            self._add("Buy", mid - 1 - i, self._size())
            self._add("Sell", mid + 1 + i, self._size())

    # -- ids and prices ---------------------------------------------------------------------

    def legacy_id(self, ticks: int) -> int:
        # The pre-2023 scheme: the id encodes instrument and price.
        return 100_000_000 * (88 + self.index) - ticks

    def price(self, ticks: int) -> float:
        return round(ticks * self.tick, 10)

    def _size(self) -> int:
        return self.rng.randrange(1, 50) * 100

    def _add(self, side: str, ticks: int, size: int) -> _Level:
        self._next_id += self.rng.randrange(1, 1000)
        level = _Level(self._next_id, side, ticks, size)
        self.levels[level.id] = level
        return level

    def side_levels(self, side: str) -> list[_Level]:
        levels = [lv for lv in self.levels.values() if lv.side == side]
        levels.sort(key=lambda lv: -lv.ticks if side == "Buy" else lv.ticks)
        return levels

    def best(self, side: str) -> _Level | None:
        levels = self.side_levels(side)
        return levels[0] if levels else None

    def book(self) -> dict[str, list[list[Any]]]:
        return {
            "bids": [[self.price(lv.ticks), lv.size] for lv in self.side_levels("Buy")],
            "asks": [[self.price(lv.ticks), lv.size] for lv in self.side_levels("Sell")],
        }

    # -- one random change ------------------------------------------------------------------

    def step(self) -> tuple[str, list[_Level], dict[str, Any] | None]:
        """Change the book once: ``(action, levels changed, trade row or None)``.

        Deleted levels are returned with their last state."""
        rng = self.rng
        roll = rng.random()
        side = rng.choice(("Buy", "Sell"))
        levels = self.side_levels(side)
        if roll < 0.45 and levels:
            level = rng.choice(levels)
            level.size = self._size()
            return "update", [level], None
        if roll < 0.65 or len(levels) < 4:
            bid, ask = self.best("Buy"), self.best("Sell")
            assert bid is not None and ask is not None
            for _ in range(20):
                if side == "Buy":
                    ticks = bid.ticks + rng.randrange(-30, 2)
                    ok = ticks < ask.ticks
                else:
                    ticks = ask.ticks + rng.randrange(-1, 30)
                    ok = ticks > bid.ticks
                if ok and not any(lv.ticks == ticks and lv.side == side for lv in levels):
                    return "insert", [self._add(side, ticks, self._size())], None
            level = levels[-1]
            level.size = self._size()
            return "update", [level], None
        if roll < 0.82:
            level = rng.choice(levels[1:])
            del self.levels[level.id]
            return "delete", [level], None
        # A trade: the taker takes (part of) the best level on the other side.
        taker = "Sell" if side == "Buy" else "Buy"
        level = levels[0]
        size = min(level.size, rng.randrange(1, 30) * 100)
        level.size -= size
        self.last_ticks = level.ticks
        price = self.price(level.ticks)
        trade = {
            "timestamp": _now_iso(),
            "symbol": self.symbol,
            "side": taker,
            "size": size,
            "price": price,
            "tickDirection": "ZeroPlusTick",
            "trdMatchID": str(uuid.UUID(int=rng.getrandbits(128))),
            **trade_values(self.symbol, size, price),
            "trdType": "Regular",
        }
        if level.size <= 0:
            del self.levels[level.id]
            return "delete", [level], trade
        return "update", [level], trade


@dataclass(eq=False)
class _Client:
    ws: ServerConnection
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    topics: set[tuple[str, str | None]] = field(default_factory=set)
    authenticated: bool = False
    silent: bool = False
    book25: dict[str, dict[int, tuple[str, int, int]]] = field(default_factory=dict)
    book10: dict[str, Any] = field(default_factory=dict)

    def wants(self, table: str, symbol: str) -> bool:
        return (table, symbol) in self.topics or (table, None) in self.topics


class MockBitmexServer:
    """A BitMEX realtime server on ``host:port`` (port 0 picks a free one; see :attr:`url`).

    ``interval``: seconds between automatic market steps, or None to step only by
    :meth:`step`. ``credentials``: ``{api_key: api_secret}`` accepted by ``authKeyExpires``.
    ``legacy_ids``: send orderBookL2 updates and deletes with the id only (the pre-2023 format).
    """

    def __init__(
        self,
        symbols: Iterable[str] = DEFAULT_SYMBOLS,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        interval: float | None = 0.2,
        seed: int = 1,
        depth: int = 30,
        legacy_ids: bool = False,
        credentials: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self.interval = interval
        self.legacy_ids = legacy_ids
        self.credentials = dict(credentials or {})
        self._rng = random.Random(seed)
        self.markets = {
            s: _Market(s, i, random.Random(f"{seed}:{s}"), depth) for i, s in enumerate(symbols)
        }
        self.clients: set[_Client] = set()
        self.connects = 0
        self.commands: list[dict[str, Any]] = []  # every command received, in order
        self.steps = 0
        self.pings = 0  # text pings received
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = interval is None
        self._changed = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not started")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://host:port/realtime``."""
        return f"ws://{self.host}:{self.port}/realtime"

    async def start(self) -> MockBitmexServer:
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            ping_interval=None,
            compression=None,
            max_size=2**20,
            process_request=self._check_path,
        )
        if self.interval is not None:
            self._ticker = asyncio.create_task(self._tick(self.interval), name="mock-bitmex-tick")
        logger.info("mock BitMEX listening on %s", self.url)
        return self

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> MockBitmexServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.split("?")[0] in ("/realtime", "/realtime/"):
            return None
        return Response(404, "Not Found", Headers(), b"only /realtime here\n")

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if not self._paused:
                self.step()

    # -- synchronisation for tests ----------------------------------------------------------

    async def wait_for(self, predicate: Any) -> None:
        """Return once ``predicate()`` holds; re-checked after every connection, disconnection,
        command and ping the server sees."""
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    async def wait_for_connects(self, n: int) -> None:
        """Return once ``n`` connections in total have been accepted."""
        await self.wait_for(lambda: self.connects >= n)

    async def wait_for_command(self, predicate: Any) -> dict[str, Any]:
        """Return the first command received (ever) for which ``predicate(cmd)`` is true."""
        seen = 0
        while True:
            for cmd in self.commands[seen:]:
                if predicate(cmd):
                    return cmd
            seen = len(self.commands)
            self._changed.clear()
            await self._changed.wait()

    def _signal(self) -> None:
        self._changed.set()

    # -- the market -------------------------------------------------------------------------

    def book(self, symbol: str) -> dict[str, list[list[Any]]]:
        """The true book: ``{"bids": [[price, size], ...], "asks": ...}``, best first."""
        return self.markets[symbol].book()

    def pause(self) -> None:
        """Stop the automatic steps (the market only moves by :meth:`step`)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def set_legacy_ids(self, on: bool = True) -> None:
        """Switch orderBookL2 to the pre-2023 format (update/delete rows carry only the id)."""
        self.legacy_ids = on

    def step(self, n: int = 1) -> None:
        """Advance every symbol's market ``n`` times and queue the messages for subscribers."""
        for _ in range(n):
            self.steps += 1
            for market in self.markets.values():
                action, levels, trade = market.step()
                self._publish_l2(market, action, levels)
                if trade is not None:
                    self._publish_trade(market, trade)
                self._publish_derived(market)

    def _l2_row(self, market: _Market, level: _Level, action: str) -> dict[str, Any]:
        lid = market.legacy_id(level.ticks) if self.legacy_ids else level.id
        row: dict[str, Any] = {"symbol": market.symbol, "id": lid, "side": level.side}
        if action != "delete":
            row["size"] = level.size
        if not self.legacy_ids or action == "insert":
            row["price"] = market.price(level.ticks)
        if not self.legacy_ids:
            row["timestamp"] = row["transactTime"] = _now_iso()
        return row

    def _publish_l2(
        self,
        market: _Market,
        action: str,
        levels: Sequence[_Level],
        extra: Sequence[dict[str, Any]] = (),
        middle: Sequence[dict[str, Any]] = (),
    ) -> None:
        rows = [self._l2_row(market, lv, action) for lv in levels]
        if middle:
            rows = rows[:1] + list(middle) + rows[1:]
        rows.extend(extra)
        text = _dumps({"table": "orderBookL2", "action": action, "data": rows})
        for client in self.clients:
            if client.wants("orderBookL2", market.symbol):
                client.queue.put_nowait(text)

    def _publish_trade(self, market: _Market, trade: dict[str, Any]) -> None:
        text = _dumps({"table": "trade", "action": "insert", "data": [trade]})
        inst = _dumps(
            {
                "table": "instrument",
                "action": "update",
                "data": [
                    {
                        "symbol": market.symbol,
                        "lastPrice": trade["price"],
                        "timestamp": trade["timestamp"],
                    }
                ],
            }
        )
        for client in self.clients:
            if client.wants("trade", market.symbol):
                client.queue.put_nowait(text)
            if client.wants("instrument", market.symbol):
                client.queue.put_nowait(inst)

    def _top25(self, market: _Market) -> dict[int, tuple[str, int, int]]:
        out = {}
        for side in ("Buy", "Sell"):
            for lv in market.side_levels(side)[:25]:
                out[lv.id] = (side, lv.ticks, lv.size)
        return out

    def _book10_row(self, market: _Market) -> dict[str, Any]:
        return {
            "symbol": market.symbol,
            "bids": [[market.price(lv.ticks), lv.size] for lv in market.side_levels("Buy")[:10]],
            "asks": [[market.price(lv.ticks), lv.size] for lv in market.side_levels("Sell")[:10]],
            "timestamp": _now_iso(),
        }

    def _quote_row(self, market: _Market) -> dict[str, Any]:
        bid, ask = market.best("Buy"), market.best("Sell")
        return {
            "timestamp": _now_iso(),
            "symbol": market.symbol,
            "bidSize": bid.size if bid else None,
            "bidPrice": market.price(bid.ticks) if bid else None,
            "askPrice": market.price(ask.ticks) if ask else None,
            "askSize": ask.size if ask else None,
        }

    def _publish_derived(self, market: _Market) -> None:
        """orderBookL2_25 diffs, orderBook10 and quote rows after a change of ``market``."""
        symbol = market.symbol
        top25: dict[int, tuple[str, int, int]] | None = None
        book10: dict[str, Any] | None = None
        for client in self.clients:
            if client.wants("orderBookL2_25", symbol):
                top25 = top25 or self._top25(market)
                before = client.book25.get(symbol, {})
                client.book25[symbol] = top25
                for _action, text in self._diff25(market, before, top25):
                    client.queue.put_nowait(text)
            if client.wants("orderBook10", symbol) or client.wants("quote", symbol):
                book10 = book10 or self._book10_row(market)
                previous = client.book10.get(symbol)
                if previous is not None and (
                    previous["bids"] == book10["bids"] and previous["asks"] == book10["asks"]
                ):
                    continue
                client.book10[symbol] = book10
                if client.wants("orderBook10", symbol):
                    client.queue.put_nowait(
                        _dumps({"table": "orderBook10", "action": "update", "data": [book10]})
                    )
                if client.wants("quote", symbol) and (
                    previous is None
                    or previous["bids"][:1] != book10["bids"][:1]
                    or previous["asks"][:1] != book10["asks"][:1]
                ):
                    client.queue.put_nowait(
                        _dumps(
                            {
                                "table": "quote",
                                "action": "insert",
                                "data": [self._quote_row(market)],
                            }
                        )
                    )

    def _diff25(
        self,
        market: _Market,
        before: dict[int, tuple[str, int, int]],
        after: dict[int, tuple[str, int, int]],
    ) -> list[tuple[str, str]]:
        gone = [_Level(i, *before[i]) for i in before if i not in after]
        new = [_Level(i, *after[i]) for i in after if i not in before]
        changed = [_Level(i, *after[i]) for i in after if i in before and before[i] != after[i]]
        out = []
        for action, levels in (("delete", gone), ("insert", new), ("update", changed)):
            if levels:
                rows = [self._l2_row(market, lv, action) for lv in levels]
                out.append(
                    (action, _dumps({"table": "orderBookL2_25", "action": action, "data": rows}))
                )
        return out

    # -- faults -----------------------------------------------------------------------------

    async def drop_connections(self) -> int:
        """Abort every open connection (no close frame). Returns how many were dropped."""
        clients = list(self.clients)
        for client in clients:
            transport = client.ws.transport
            if transport is not None:
                transport.abort()
        return len(clients)

    def silence(self, on: bool = True) -> None:
        """Stop (or restart) sending anything, pongs included, on the connections open now.
        The market goes on; new connections are served normally."""
        for client in self.clients:
            client.silent = on

    def repeat_partial(self, symbol: str | None = None) -> None:
        """Send a fresh orderBookL2 partial (the true book) to its subscribers, unasked."""
        for client in self.clients:
            for market in self.markets.values():
                if (symbol is None or market.symbol == symbol) and client.wants(
                    "orderBookL2", market.symbol
                ):
                    client.queue.put_nowait(self._partial("orderBookL2", market.symbol))

    def send_unknown_id_update(self, symbol: str) -> int:
        """Change two levels of ``symbol`` and send them in one orderBookL2 update with a row
        for an id that never existed between them. Returns the unknown id."""
        market = self.markets[symbol]
        bids = market.side_levels("Buy")
        asks = market.side_levels("Sell")
        changed = [bids[len(bids) // 2], asks[len(asks) // 2]]
        for level in changed:
            level.size = market._size()
        unknown_id = 7_777_777_777
        ghost: dict[str, Any] = {"symbol": symbol, "id": unknown_id, "side": "Buy", "size": 4200}
        if not self.legacy_ids:
            ghost["price"] = market.price(bids[0].ticks)
            ghost["timestamp"] = _now_iso()
        self._publish_l2(market, "update", changed, middle=[ghost])
        self._publish_derived(market)
        return unknown_id

    def send_malformed(self, text: str = '{"table":"orderBookL2","action":"upd') -> None:
        """Send a frame that is not JSON to every client."""
        for client in self.clients:
            client.queue.put_nowait(text)

    def send_error(self, status: int = 503, error: str = "Service temporarily unavailable") -> None:
        """Send an error frame tied to no request to every client."""
        text = _dumps({"status": status, "error": error, "meta": {}})
        for client in self.clients:
            client.queue.put_nowait(text)

    # -- connections ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        client = _Client(ws)
        self.clients.add(client)
        self.connects += 1
        writer = asyncio.create_task(self._write(client), name="mock-bitmex-writer")
        self._tasks.add(writer)
        writer.add_done_callback(self._tasks.discard)
        self._signal()
        client.queue.put_nowait(
            _dumps(
                {
                    "info": "Welcome to the BitMEX Realtime API.",
                    "version": "mock",
                    "timestamp": _now_iso(),
                    "docs": "https://www.bitmex.com/app/wsAPI",
                    "limit": {"remaining": 39},
                }
            )
        )
        try:
            async for message in ws:
                self._on_message(client, message)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            client.queue.put_nowait(None)
            self._signal()

    async def _write(self, client: _Client) -> None:
        while True:
            text = await client.queue.get()
            if text is None:
                return
            if client.silent:
                continue
            try:
                await client.ws.send(text)
            except ConnectionClosed:
                return

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if message == "ping":
            self.pings += 1
            self._signal()
            client.queue.put_nowait("pong")
            return
        try:
            cmd = orjson.loads(message)
        except orjson.JSONDecodeError:
            client.queue.put_nowait(
                _dumps({"status": 400, "error": "Unable to parse request.", "meta": {}})
            )
            return
        if not isinstance(cmd, dict):
            cmd = {"op": None}
        self.commands.append(cmd)
        self._signal()
        op = cmd.get("op")
        args = cmd.get("args")
        args = [args] if isinstance(args, str | int) else list(args or [])
        if op == "help":
            client.queue.put_nowait(_dumps(HELP))
        elif op == "subscribe":
            for topic in args:
                self._subscribe(client, str(topic), cmd)
        elif op == "unsubscribe":
            for topic in args:
                self._unsubscribe(client, str(topic), cmd)
        elif op in ("authKeyExpires", "authKey"):
            self._authenticate(client, args, cmd)
        elif op == "cancelAllAfter":
            client.queue.put_nowait(
                _dumps({"now": _now_iso(), "cancelTime": _now_iso(), "request": cmd})
            )
        else:
            self._error(client, 400, f"Unknown or unsupported op: {op}", cmd)

    def _error(self, client: _Client, status: int, error: str, request: Any) -> None:
        client.queue.put_nowait(
            _dumps({"status": status, "error": error, "meta": {}, "request": request})
        )

    def _authenticate(self, client: _Client, args: list[Any], cmd: dict[str, Any]) -> None:
        if len(args) != 3:
            self._error(client, 400, "authKeyExpires takes key, expires and signature.", cmd)
            return
        key, expires, sig = args
        secret = self.credentials.get(str(key))
        if secret is None:
            self._error(client, 401, "Invalid API Key.", cmd)
            return
        if not isinstance(expires, int) or expires < time.time():
            self._error(client, 401, "Signature expired.", cmd)
            return
        message = f"GET/realtime{expires}".encode()
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, str(sig)):
            self._error(client, 401, "Signature not valid.", cmd)
            return
        client.authenticated = True
        client.queue.put_nowait(_dumps({"success": True, "request": cmd}))

    def _subscribe(self, client: _Client, topic: str, cmd: dict[str, Any]) -> None:
        table, _, symbol_text = topic.partition(":")
        symbol = symbol_text or None
        if table not in PUBLIC_TABLES and table not in PRIVATE_TABLES:
            self._error(client, 400, f"Unknown table: {table}", cmd)
            return
        if symbol is not None and symbol not in self.markets:
            self._error(client, 400, f"Unknown or expired symbol: {symbol}", cmd)
            return
        if table in PRIVATE_TABLES and not client.authenticated:
            self._error(
                client,
                401,
                "You are not authenticated. Please authenticate before subscribing to "
                f"private topic {topic}.",
                cmd,
            )
            return
        if (table, symbol) in client.topics:
            self._error(client, 400, f"You are already subscribed to this topic: {topic}", cmd)
            return
        client.topics.add((table, symbol))
        client.queue.put_nowait(_dumps({"success": True, "subscribe": topic, "request": cmd}))
        symbols = [symbol] if symbol is not None else list(self.markets)
        client.queue.put_nowait(self._partial(table, symbol))
        if table == "orderBookL2_25":
            for sym in symbols:
                client.book25[sym] = self._top25(self.markets[sym])
        if table in ("orderBook10", "quote"):
            for sym in symbols:
                client.book10[sym] = self._book10_row(self.markets[sym])

    def _unsubscribe(self, client: _Client, topic: str, cmd: dict[str, Any]) -> None:
        table, _, symbol_text = topic.partition(":")
        key = (table, symbol_text or None)
        if key not in client.topics:
            self._error(client, 400, f"You are not subscribed to this topic: {topic}", cmd)
            return
        client.topics.discard(key)
        client.queue.put_nowait(_dumps({"success": True, "unsubscribe": topic, "request": cmd}))

    def _partial(self, table: str, symbol: str | None) -> str:
        markets = [self.markets[symbol]] if symbol is not None else list(self.markets.values())
        filt: dict[str, Any] = {"symbol": symbol} if symbol is not None else {}
        rows: list[dict[str, Any]] = []
        keys: list[str] = []
        if table in ("orderBookL2", "orderBookL2_25"):
            keys = L2_KEYS
            for m in markets:
                for side in ("Sell", "Buy"):
                    levels = m.side_levels(side)
                    if table == "orderBookL2_25":
                        levels = levels[:25]
                    if side == "Sell":
                        levels = levels[::-1]  # BitMEX lists the book from the top price down
                    for lv in levels:
                        lid = m.legacy_id(lv.ticks) if self.legacy_ids else lv.id
                        rows.append(
                            {
                                "symbol": m.symbol,
                                "id": lid,
                                "side": side,
                                "size": lv.size,
                                "price": m.price(lv.ticks),
                                "timestamp": _now_iso(),
                            }
                        )
            return _dumps(
                {
                    "table": table,
                    "action": "partial",
                    "keys": keys,
                    "types": L2_TYPES,
                    "foreignKeys": {"symbol": "instrument", "side": "side"},
                    "attributes": {"symbol": "parted", "id": "sorted"},
                    "filter": filt,
                    "data": rows,
                }
            )
        if table == "orderBook10":
            keys = ["symbol"]
            rows = [self._book10_row(m) for m in markets]
        elif table == "quote":
            rows = [self._quote_row(m) for m in markets]
        elif table == "trade":
            rows = []
        elif table == "instrument":
            keys = ["symbol"]
            rows = [
                {
                    "symbol": m.symbol,
                    "state": "Open",
                    "tickSize": m.tick,
                    "lastPrice": m.price(m.last_ticks),
                    "timestamp": _now_iso(),
                }
                for m in markets
            ]
        elif table == "order":
            keys = ["orderID"]
            filt = {"account": 1}
        return _dumps(
            {"table": table, "action": "partial", "keys": keys, "filter": filt, "data": rows}
        )


async def start_mock(**kwargs: Any) -> MockBitmexServer:
    """Start a :class:`MockBitmexServer` (same arguments) and return it; ``await .stop()`` it."""
    return await MockBitmexServer(**kwargs).start()


def main(argv: Sequence[str] | None = None) -> int:
    """``marketstreams mock bitmex --port P``: run the mock server until interrupted."""
    parser = argparse.ArgumentParser(
        prog="marketstreams mock bitmex", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between steps")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--legacy-ids", action="store_true", help="pre-2023 id-only updates")
    parser.add_argument("--api-key", help="accept authKeyExpires with this key ...")
    parser.add_argument("--api-secret", help="... and this secret")
    args = parser.parse_args(argv)
    credentials = {args.api_key: args.api_secret} if args.api_key and args.api_secret else {}

    async def run() -> None:
        server = MockBitmexServer(
            [s.strip() for s in args.symbols.split(",") if s.strip()],
            host=args.host,
            port=args.port,
            interval=args.interval,
            seed=args.seed,
            legacy_ids=args.legacy_ids,
            credentials=credentials,
        )
        await server.start()
        print(f"mock BitMEX listening on {server.url}", flush=True)
        try:
            await server.serve_forever()
        finally:
            await server.stop()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, the host is not ours...: one line, no traceback
        print(f"bitmex mock: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The BitMEX mock server: websockets on the common base, the realtime protocol, its tables.

More in docs/mock_servers.md (``mock_servers.bitmex``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..base import MockServer
from .faults import BitmexFaults
from .markets import L2_KEYS, L2_TYPES, Level, Market, dumps, now_iso

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


@dataclass(eq=False)
class Client:
    ws: ServerConnection
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    topics: set[tuple[str, str | None]] = field(default_factory=set)
    authenticated: bool = False
    silent: bool = False
    book25: dict[str, dict[int, tuple[str, int, int]]] = field(default_factory=dict)
    book10: dict[str, Any] = field(default_factory=dict)

    def wants(self, table: str, symbol: str) -> bool:
        return (table, symbol) in self.topics or (table, None) in self.topics


class BitmexMockServer(BitmexFaults, MockServer[Client]):
    """A BitMEX realtime server on ``host:port`` (port 0 picks a free one; see :attr:`url`).

    ``interval``: seconds between automatic market steps, or None to step only by
    :meth:`step`. ``credentials``: ``{api_key: api_secret}`` accepted by ``authKeyExpires``.
    ``legacy_ids``: send orderBookL2 updates and deletes with the id only (the pre-2023 format).
    """

    venue: ClassVar[str] = "bitmex"

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
        super().__init__(host, port)
        self.interval = interval
        self.legacy_ids = legacy_ids
        self.credentials = dict(credentials or {})
        self._rng = random.Random(seed)
        self.markets = {
            s: Market(s, i, random.Random(f"{seed}:{s}"), depth) for i, s in enumerate(symbols)
        }
        self.commands: list[dict[str, Any]] = []  # every command received, in order
        self.steps = 0
        self.pings = 0  # text pings received
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._paused = interval is None

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port/realtime``."""
        return f"ws://{self.host}:{self.port}/realtime"

    async def _listen(self) -> int:
        self._server = await serve(
            self._handle,
            self.host,
            self.requested_port,
            ping_interval=None,
            compression=None,
            max_size=2**20,
            process_request=self._check_path,
        )
        if self.interval is not None:
            self._ticker = asyncio.create_task(self._tick(self.interval), name="mock-bitmex-tick")
        port: int = next(iter(self._server.sockets)).getsockname()[1]
        return port

    async def _shutdown(self) -> None:
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

    def _l2_row(self, market: Market, level: Level, action: str) -> dict[str, Any]:
        lid = market.legacy_id(level.ticks) if self.legacy_ids else level.id
        row: dict[str, Any] = {"symbol": market.symbol, "id": lid, "side": level.side}
        if action != "delete":
            row["size"] = level.size
        if not self.legacy_ids or action == "insert":
            row["price"] = market.price(level.ticks)
        if not self.legacy_ids:
            row["timestamp"] = row["transactTime"] = now_iso()
        return row

    def _publish_l2(
        self,
        market: Market,
        action: str,
        levels: Sequence[Level],
        extra: Sequence[dict[str, Any]] = (),
        middle: Sequence[dict[str, Any]] = (),
    ) -> None:
        rows = [self._l2_row(market, lv, action) for lv in levels]
        if middle:
            rows = rows[:1] + list(middle) + rows[1:]
        rows.extend(extra)
        text = dumps({"table": "orderBookL2", "action": action, "data": rows})
        for client in self.clients:
            if client.wants("orderBookL2", market.symbol):
                client.queue.put_nowait(text)

    def _publish_trade(self, market: Market, trade: dict[str, Any]) -> None:
        text = dumps({"table": "trade", "action": "insert", "data": [trade]})
        inst = dumps(
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

    def _top25(self, market: Market) -> dict[int, tuple[str, int, int]]:
        out = {}
        for side in ("Buy", "Sell"):
            for lv in market.side_levels(side)[:25]:
                out[lv.id] = (side, lv.ticks, lv.size)
        return out

    def _book10_row(self, market: Market) -> dict[str, Any]:
        return {
            "symbol": market.symbol,
            "bids": [[market.price(lv.ticks), lv.size] for lv in market.side_levels("Buy")[:10]],
            "asks": [[market.price(lv.ticks), lv.size] for lv in market.side_levels("Sell")[:10]],
            "timestamp": now_iso(),
        }

    def _quote_row(self, market: Market) -> dict[str, Any]:
        bid, ask = market.best("Buy"), market.best("Sell")
        return {
            "timestamp": now_iso(),
            "symbol": market.symbol,
            "bidSize": bid.size if bid else None,
            "bidPrice": market.price(bid.ticks) if bid else None,
            "askPrice": market.price(ask.ticks) if ask else None,
            "askSize": ask.size if ask else None,
        }

    def _publish_derived(self, market: Market) -> None:
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
                        dumps({"table": "orderBook10", "action": "update", "data": [book10]})
                    )
                if client.wants("quote", symbol) and (
                    previous is None
                    or previous["bids"][:1] != book10["bids"][:1]
                    or previous["asks"][:1] != book10["asks"][:1]
                ):
                    client.queue.put_nowait(
                        dumps(
                            {
                                "table": "quote",
                                "action": "insert",
                                "data": [self._quote_row(market)],
                            }
                        )
                    )

    def _diff25(
        self,
        market: Market,
        before: dict[int, tuple[str, int, int]],
        after: dict[int, tuple[str, int, int]],
    ) -> list[tuple[str, str]]:
        gone = [Level(i, *before[i]) for i in before if i not in after]
        new = [Level(i, *after[i]) for i in after if i not in before]
        changed = [Level(i, *after[i]) for i in after if i in before and before[i] != after[i]]
        out = []
        for action, levels in (("delete", gone), ("insert", new), ("update", changed)):
            if levels:
                rows = [self._l2_row(market, lv, action) for lv in levels]
                out.append(
                    (action, dumps({"table": "orderBookL2_25", "action": action, "data": rows}))
                )
        return out

    # -- connections ------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        client = Client(ws)
        self._connected(client)
        writer = asyncio.create_task(self._write(client), name="mock-bitmex-writer")
        self._tasks.add(writer)
        writer.add_done_callback(self._tasks.discard)
        client.queue.put_nowait(
            dumps(
                {
                    "info": "Welcome to the BitMEX Realtime API.",
                    "version": "mock",
                    "timestamp": now_iso(),
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
            self._disconnected(client)
            client.queue.put_nowait(None)

    async def _write(self, client: Client) -> None:
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

    def _on_message(self, client: Client, message: str | bytes) -> None:
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
                dumps({"status": 400, "error": "Unable to parse request.", "meta": {}})
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
            client.queue.put_nowait(dumps(HELP))
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
                dumps({"now": now_iso(), "cancelTime": now_iso(), "request": cmd})
            )
        else:
            self._error(client, 400, f"Unknown or unsupported op: {op}", cmd)

    def _error(self, client: Client, status: int, error: str, request: Any) -> None:
        client.queue.put_nowait(
            dumps({"status": status, "error": error, "meta": {}, "request": request})
        )

    def _authenticate(self, client: Client, args: list[Any], cmd: dict[str, Any]) -> None:
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
        client.queue.put_nowait(dumps({"success": True, "request": cmd}))

    def _subscribe(self, client: Client, topic: str, cmd: dict[str, Any]) -> None:
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
        client.queue.put_nowait(dumps({"success": True, "subscribe": topic, "request": cmd}))
        symbols = [symbol] if symbol is not None else list(self.markets)
        client.queue.put_nowait(self._partial(table, symbol))
        if table == "orderBookL2_25":
            for sym in symbols:
                client.book25[sym] = self._top25(self.markets[sym])
        if table in ("orderBook10", "quote"):
            for sym in symbols:
                client.book10[sym] = self._book10_row(self.markets[sym])

    def _unsubscribe(self, client: Client, topic: str, cmd: dict[str, Any]) -> None:
        table, _, symbol_text = topic.partition(":")
        key = (table, symbol_text or None)
        if key not in client.topics:
            self._error(client, 400, f"You are not subscribed to this topic: {topic}", cmd)
            return
        client.topics.discard(key)
        client.queue.put_nowait(dumps({"success": True, "unsubscribe": topic, "request": cmd}))

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
                                "timestamp": now_iso(),
                            }
                        )
            return dumps(
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
                    "timestamp": now_iso(),
                }
                for m in markets
            ]
        elif table == "order":
            keys = ["orderID"]
            filt = {"account": 1}
        return dumps(
            {"table": table, "action": "partial", "keys": keys, "filter": filt, "data": rows}
        )

"""Helpers for the proxy tests: a proxy on 127.0.0.1 port 0 fed by hand, and a recording client."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from marketstreams import OrderBook, Trade, Update, Updater
from marketstreams.proxy import ClientLimits, Proxy

GUARD = 30.0  # a hang guard only: every wait ends on an event long before this


def make_book(venue: str, market: str, sequence: int = 1, levels: int = 5) -> OrderBook:
    book = OrderBook(venue, market)
    for i in range(levels):
        book.set_level("bid", Decimal(100 - i), Decimal("1.5") + i)
        book.set_level("ask", Decimal(101 + i), Decimal("2.25") + i)
    book.sequence = sequence
    book.timestamp = 1_700_000_000_000 + sequence
    book.received = book.timestamp / 1000 + 0.002
    book.mark_valid()
    return book


def trade(book: OrderBook, price: str = "100", base: str = "0.5", side: str = "buy") -> Trade:
    return Trade(
        book.venue,
        book.market,
        side,
        Decimal(price),
        Decimal(base),
        sequence=book.sequence,
        timestamp=book.timestamp,
    )


class Publisher:
    """Pushes book changes through an Updater (no feed), as a feed's updates would arrive."""

    def __init__(self, updater: Updater) -> None:
        self.updater = updater
        self.books: dict[str, OrderBook] = {}

    def book(self, venue: str, market: str, levels: int = 5) -> OrderBook:
        key = f"{venue}:{market}"
        if key not in self.books:
            self.books[key] = make_book(venue, market, levels=levels)
            self.updater.publish(Update(self.books[key], snapshot=True))
        return self.books[key]

    def step(self, key: str, trades: int = 0) -> OrderBook:
        """Advance one book by one sequence: its best bid volume becomes the sequence."""
        book = self.books[key]
        book.sequence = (book.sequence or 0) + 1
        book.timestamp = 1_700_000_000_000 + book.sequence
        book.received = book.timestamp / 1000 + 0.002
        best = book.best_bid()
        assert best is not None
        book.set_level("bid", best[0], Decimal(book.sequence))
        made = [trade(book, base=str(i + 1)) for i in range(trades)]
        self.updater.publish(Update(book, made))
        return book


class WsClient:
    """A websocket client that records every message and lets a test wait on conditions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.raw_frames: list[str] = []
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.latest: dict[str, dict[str, Any]] = {}  # book id -> last snapshot/update
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                batch = orjson.loads(msg.data)
                assert isinstance(batch, list), "every server frame is a JSON array"
                self.raw_frames.append(msg.data)
                for m in batch:
                    self.messages.append(m)
                    self.by_type[m["type"]].append(m)
                    if m["type"] in ("snapshot", "update"):
                        self.latest[m["book"]] = m
                self.changed.set()
        finally:
            self.closed.set()
            self.changed.set()

    async def send(self, obj: Any) -> None:
        """A request: an object is sent as JSON, a string as it is (to send bad ones)."""
        await self.ws.send_str(obj if isinstance(obj, str) else orjson.dumps(obj).decode())

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not predicate():
                self.changed.clear()
                if self.closed.is_set() and not predicate():
                    raise AssertionError("the connection closed before the condition held")
                await self.changed.wait()

    async def next_of(self, kind: str, start: int = 0) -> dict[str, Any]:
        await self.until(lambda: len(self.by_type[kind]) > start)
        return self.by_type[kind][start]

    def seqs(self, book: str) -> list[int]:
        return [
            m["seq"]
            for m in self.messages
            if m["type"] in ("snapshot", "update") and m["book"] == book
        ]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class Harness:
    def __init__(self, proxy: Proxy, session: aiohttp.ClientSession) -> None:
        self.proxy = proxy
        self.session = session
        self.publisher = Publisher(proxy.updater)
        self.clients: list[WsClient] = []

    async def connect(self, **kw: Any) -> WsClient:
        ws = await self.session.ws_connect(self.proxy.ws_url, **kw)
        client = WsClient(ws)
        self.clients.append(client)
        await client.next_of("hello")
        return client

    async def subscribed(self, client: WsClient, books: list[str]) -> None:
        start = len(client.by_type["subscribed"])
        await client.send({"op": "subscribe", "books": books})
        await client.next_of("subscribed", start)
        await client.until(lambda: all(b in client.latest for b in books))


@pytest.fixture
def limits() -> ClientLimits:
    return ClientLimits()


@pytest.fixture
def proxy_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def harness(limits: ClientLimits, proxy_options: dict[str, Any]) -> AsyncIterator[Harness]:
    options: dict[str, Any] = {"port": 0, "depth": 3, "limits": limits, "tick": 0.05}
    options.update(proxy_options)
    proxy = Proxy(Updater(), **options)
    async with proxy, aiohttp.ClientSession() as session:
        h = Harness(proxy, session)
        try:
            yield h
        finally:
            for c in h.clients:
                await c.close()

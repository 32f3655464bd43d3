"""Each venue's real feed, against its mock server, through the proxy to a websocket client: what
the client ends up with is exactly the venue's book, top ``depth`` levels."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp

from marketstreams import Backoff, Updater
from marketstreams.proxy import Proxy

from .conftest import WsClient

DEPTH = 5


@asynccontextmanager
async def proxied(*feeds: Any) -> AsyncIterator[tuple[Proxy, WsClient]]:
    updater = Updater(*feeds)
    async with Proxy(updater, port=0, depth=DEPTH) as proxy, aiohttp.ClientSession() as session:
        runner = asyncio.create_task(updater.run())
        client = WsClient(await session.ws_connect(proxy.ws_url))
        try:
            yield proxy, client
        finally:
            await client.close()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def subscribe_when_listed(client: WsClient, books: list[str]) -> None:
    await client.until(
        lambda: (
            bool(client.by_type["books"])
            and set(books) <= {b["book"] for b in client.by_type["books"][-1]["books"]}
        )
    )
    await client.send({"op": "subscribe", "books": books})
    await client.until(lambda: all(b in client.latest for b in books))


def exact_latest(client: WsClient, book: str) -> dict[str, Any]:
    """The client's last state of ``book`` parsed with exact decimals."""
    for frame in reversed(client.raw_frames):
        for m in reversed(json.loads(frame, parse_float=Decimal)):
            if m["type"] in ("snapshot", "update") and m["book"] == book:
                return m
    raise AssertionError(f"no state of {book}")


async def test_luno_books_arrive_exact() -> None:
    from marketstreams.venues import luno
    from mock_servers.luno import LunoMockServer

    async with LunoMockServer(pairs=("XBTZAR", "ETHZAR"), rate=200.0, seed=5) as venue:
        feeds = [luno.Feed(p, url=venue.url) for p in ("XBTZAR", "ETHZAR")]
        async with proxied(*feeds) as (_, client):
            await subscribe_when_listed(client, ["luno:XBTZAR", "luno:ETHZAR"])
            await client.until(lambda: len(client.by_type["update"]) >= 50)
            venue.pause()
            await asyncio.sleep(0)
            targets = {p: venue.sequence(p) for p in ("XBTZAR", "ETHZAR")}
            await client.until(
                lambda: all(client.latest[f"luno:{p}"]["seq"] == s for p, s in targets.items())
            )
            for pair in targets:
                state = exact_latest(client, f"luno:{pair}")
                truth = venue.true_depth(pair)
                assert state["bids"] == [list(level) for level in truth["bids"][:DEPTH]]
                assert state["asks"] == [list(level) for level in truth["asks"][:DEPTH]]
                assert state["valid"] is True
    assert client.by_type["trades"], "the market traded and the trades came through"


async def test_bitmex_books_arrive_exact() -> None:
    from marketstreams.venues.bitmex.feed import Feed
    from mock_servers.bitmex import BitmexMockServer

    async with BitmexMockServer(["XBTUSD", "ETHUSD"], interval=0.01, seed=3) as venue:
        topics = ["orderBookL2:XBTUSD", "orderBookL2:ETHUSD", "trade:XBTUSD"]
        feed = Feed(topics, url=venue.url, backoff=Backoff(initial=0.01, maximum=0.05))
        async with proxied(feed) as (_, client):
            books = ["bitmex:XBTUSD", "bitmex:ETHUSD"]
            await subscribe_when_listed(client, books)
            await client.until(lambda: len(client.by_type["update"]) >= 20)
            venue.pause()

            def converged() -> bool:
                for name in books:
                    truth = venue.book(name.split(":")[1])
                    state = client.latest[name]
                    if state["bids"] != [list(x) for x in truth["bids"][:DEPTH]]:
                        return False
                    if state["asks"] != [list(x) for x in truth["asks"][:DEPTH]]:
                        return False
                return True

            await client.until(converged)
    assert all(client.latest[b]["valid"] for b in books)


async def test_betfair_markets_arrive_as_runners_ladders() -> None:
    from marketstreams.venues.betfair import MarketSubscription
    from marketstreams.venues.betfair.feed import Feed
    from mock_servers.betfair import demo_server

    async with demo_server(markets=2, rate=None, limit=300, start_on_subscribe=True) as ep:
        feed = Feed(
            ep.app_key,
            ep.session,
            [MarketSubscription()],
            host=ep.host,
            port=ep.port,
            ssl_context=ep.ssl_context,
        )
        async with proxied(feed) as (proxy, client):
            await client.until(
                lambda: (
                    bool(client.by_type["books"]) and len(client.by_type["books"][-1]["books"]) == 2
                )
            )
            books = [b["book"] for b in client.by_type["books"][-1]["books"]]
            assert all(b["kind"] == "betfair_market" for b in client.by_type["books"][-1]["books"])
            await client.send({"op": "subscribe", "books": books})

            def converged() -> bool:
                for name in books:
                    state = client.latest.get(name)
                    market = proxy.updater.books.get(("betfair", name.split(":", 1)[1]))
                    if state is None or market is None:
                        return False
                    expected = [
                        [r.selection_id, [list(x) for x in r.best_back(DEPTH)],
                         [list(x) for x in r.best_lay(DEPTH)]]
                        for r in market.runners
                    ]  # fmt: skip
                    got = [[r["id"], r["back"], r["lay"]] for r in state["runners"]]
                    if got != expected:
                        return False
                return True

            await client.until(converged)
            state = client.latest[books[0]]
    assert state["kind"] == "betfair_market" and state["status"] == "OPEN"
    assert len(state["runners"]) == 4 and all(r["name"] for r in state["runners"])
    assert state["runners"][0]["back"] and state["runners"][0]["lay"]

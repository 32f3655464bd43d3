"""Helpers for the Betfair feed against mock_servers/betfair.py (real TLS, real protocol)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from marketstreams import Backoff
from marketstreams.venues import betfair
from mock_servers.betfair import BetfairMockServer

GUARD = 60.0  # a hang guard only: every wait ends on an event long before this

MARKETS = betfair.MarketSubscription(heartbeat_ms=500)
ORDERS = betfair.OrderSubscription(heartbeat_ms=500)


def make_feed(
    server: BetfairMockServer,
    subscriptions: list[betfair.MarketSubscription | betfair.OrderSubscription] | None = None,
    **kw: Any,
) -> betfair.Feed:
    ep = server.endpoint()
    kw.setdefault("backoff", Backoff(initial=0.01, maximum=0.05))
    return betfair.Feed(
        kw.pop("app_key", ep.app_key),
        kw.pop("session", ep.session),
        subscriptions if subscriptions is not None else [MARKETS],
        host=ep.host,
        port=ep.port,
        ssl_context=kw.pop("ssl_context", ep.ssl_context),
        **kw,
    )


def caught_up(server: BetfairMockServer, feed: betfair.Feed) -> bool:
    """Every subscription has applied every change of its stream the server has generated."""
    for state in feed.states:
        if state.initial_clk is None:
            return False
        if server.stream_total(state.initial_clk) != state.changes:
            return False
    return True


async def run_until(
    feed: betfair.Feed,
    done: Callable[[], bool],
    on_update: Callable[[Any], None] | None = None,
) -> int:
    """Iterate the feed until ``done()`` holds after an update; returns the update count."""
    count = 0
    if done():
        return count
    async with asyncio.timeout(GUARD):
        async for update in feed.updates():
            count += 1
            if on_update is not None:
                on_update(update)
            if done():
                return count
    return count


def market_state(feed: betfair.Feed) -> dict[str, Any]:
    out = {}
    for mid, book in feed.market_cache.markets.items():
        snap = book.snapshot()
        for transient in ("publish_time", "conflated", "is_valid", "stale"):
            snap.pop(transient)
        out[mid] = snap
    return out


def order_state(feed: betfair.Feed) -> dict[str, Any]:
    out = {}
    for mid, market in feed.order_cache.markets.items():
        snap = market.snapshot()
        for runner in snap["runners"]:
            for order in runner["orders"].values():
                order.pop("updated")  # the publish time of the change that set it
        out[mid] = snap
    return out


LIMIT = 1500


def server(**kw: Any) -> BetfairMockServer:
    kw.setdefault("rate", None)
    kw.setdefault("batch", 20)
    kw.setdefault("limit", LIMIT)
    kw.setdefault("seed", 7)
    return BetfairMockServer(**kw)

"""BitMEX's entry in the venue registry (see :mod:`marketstreams.venues.registry`)."""

from __future__ import annotations

import contextlib
from typing import Any

from ...exceptions import ConfigurationError
from ...feed import Feed as FeedInterface
from ...recording.writer import Recorder
from ..registry import Capabilities, VenueSpec, demo_backoff, no_more_options, plain
from .feed import DEFAULT_URL, Feed


def topics_of(markets: list[str], table: str, trades: bool) -> list[str]:
    """A bare symbol (``XBTUSD``) means its ``table`` book and (``trades``) its trades; anything
    else (``orderBook10:ETHUSD``, ``instrument``) is a topic as given."""
    topics: list[str] = []
    for market in markets:
        if ":" in market or not market.isupper():
            topics.append(market)
        else:
            topics += [f"{table}:{market}", f"trade:{market}"] if trades else [f"{table}:{market}"]
    return topics


def feeds(
    markets: list[str], options: dict[str, Any], record: Recorder | None
) -> list[FeedInterface]:
    """One feed for every topic (options: ``table`` (default orderBookL2_25), ``trades``
    (default true), ``api_key``, ``api_secret``, ``url``)."""
    table = options.pop("table", "orderBookL2_25")
    trades = bool(options.pop("trades", True))
    key, secret = plain(options.pop("api_key", None)), options.pop("api_secret", None)
    url = options.pop("url", None) or DEFAULT_URL
    no_more_options("bitmex", options)
    if (key is None) != (secret is None):
        raise ConfigurationError("set both BITMEX_API_KEY and BITMEX_API_SECRET, or neither")
    feed: FeedInterface = Feed(
        topics_of(markets, table, trades), key, secret, url=url, record=record
    )
    return [feed]


async def demo(stack: contextlib.AsyncExitStack) -> list[FeedInterface]:
    """Three symbols' books and trades against the built-in mock server."""
    from mock_servers.bitmex import BitmexMockServer

    symbols = ("XBTUSD", "ETHUSD", "SOLUSDT")
    server = await stack.enter_async_context(BitmexMockServer(symbols, interval=0.05, seed=7))
    topics = [f"orderBookL2_25:{s}" for s in symbols] + [f"trade:{s}" for s in symbols]
    feed: FeedInterface = Feed(topics, url=server.url, backoff=demo_backoff())
    return [feed]


SPEC = VenueSpec(
    name="bitmex",
    feeds=feeds,
    from_recording=Feed.from_recording,
    capabilities=Capabilities(
        transport="websocket",
        book="price levels by row id (orderBookL2), or the top 10 (orderBook10)",
        sequence="none: a partial per table and symbol, then inserts/updates/deletes",
        snapshots="a partial on each subscription",
        trades="yes (trade table)",
        authentication="optional API key (signed; public tables need none)",
    ),
    env={"api_key": "BITMEX_API_KEY", "api_secret": "BITMEX_API_SECRET"},
    record_options={"table": "orderBookL2"},  # a recording keeps the full book
    demo=demo,
    demo_requires=("mock_servers.bitmex", "websockets"),
    mock="mock_servers.bitmex",
)

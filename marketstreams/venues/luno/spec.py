"""Luno's entry in the venue registry (see :mod:`marketstreams.venues.registry`)."""

from __future__ import annotations

import contextlib
from typing import Any

from ...feed import Feed as FeedInterface
from ...recording.writer import Recorder
from ..registry import Capabilities, VenueSpec, demo_backoff, no_more_options, plain
from .feed import DEFAULT_URL, Feed


def feeds(
    markets: list[str], options: dict[str, Any], record: Recorder | None
) -> list[FeedInterface]:
    """One feed per pair (options: ``api_key``, ``api_secret``, ``url``)."""
    key, secret = plain(options.pop("api_key", None)), plain(options.pop("api_secret", None))
    url = options.pop("url", None) or DEFAULT_URL
    no_more_options("luno", options)
    return [Feed(pair, key, secret, url=url, record=record) for pair in markets]


async def demo(stack: contextlib.AsyncExitStack) -> list[FeedInterface]:
    """Two pairs against the built-in mock server."""
    from mock_servers.luno import LunoMockServer

    pairs = ("XBTZAR", "ETHZAR")
    server = await stack.enter_async_context(LunoMockServer(pairs=pairs, seed=7, rate=40.0))
    return [Feed(pair, url=server.url, backoff=demo_backoff()) for pair in pairs]


SPEC = VenueSpec(
    name="luno",
    feeds=feeds,
    from_recording=Feed.from_recording,
    capabilities=Capabilities(
        transport="websocket",
        book="order-level, summed into price levels (Decimal)",
        sequence="every message, strict (a gap resyncs)",
        snapshots="one on each connection",
        trades="yes, with maker and taker order ids",
        authentication="API key (required by the venue)",
    ),
    env={"api_key": "LUNO_API_KEY", "api_secret": "LUNO_API_SECRET"},
    demo=demo,
    demo_requires=("mock_servers.luno", "websockets"),
    mock="mock_servers.luno",
)

"""The BitMEX package's public API is what its ``__all__`` says, documented."""

from __future__ import annotations

import inspect

from marketstreams.venues import bitmex

EXPECTED = {
    "BitmexProtocol",
    "BitmexStream",
    "Connection",
    "DEFAULT_URL",
    "Feed",
    "Storage",
    "TESTNET_URL",
    "connect",
}


def test_all_is_pinned_and_every_name_exists() -> None:
    assert set(bitmex.__all__) >= EXPECTED
    for name in bitmex.__all__:
        assert hasattr(bitmex, name), name


def test_public_classes_and_functions_have_docstrings() -> None:
    for name in bitmex.__all__:
        obj = getattr(bitmex, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), name


def test_feed_satisfies_the_feed_protocol() -> None:
    from marketstreams import Feed

    feed = bitmex.Feed("orderBookL2:XBTUSD")
    assert isinstance(feed, Feed)
    assert feed.venue == "bitmex"
    assert feed.topics == ["orderBookL2:XBTUSD"]


def test_urls() -> None:
    assert bitmex.DEFAULT_URL == "wss://ws.bitmex.com/realtime"
    assert bitmex.TESTNET_URL == "wss://ws.testnet.bitmex.com/realtime"

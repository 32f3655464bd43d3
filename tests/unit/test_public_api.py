"""The public API is what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import importlib

import pytest

import marketstreams

EXPECTED = {
    "AuthenticationError",
    "Backoff",
    "Book",
    "ConfigurationError",
    "ConnectionLostError",
    "Feed",
    "FeedStats",
    "FrameTooLargeError",
    "Hook",
    "HookStats",
    "MalformedFrameError",
    "MarketStreamsError",
    "OrderBook",
    "ProtocolError",
    "ReplayError",
    "Secret",
    "SequenceGapError",
    "SubscriptionError",
    "Trade",
    "Update",
    "Updater",
    "VenueError",
    "__version__",
}


def test_top_level_all_is_pinned() -> None:
    assert EXPECTED <= set(marketstreams.__all__)
    for name in marketstreams.__all__:
        assert hasattr(marketstreams, name), name


@pytest.mark.parametrize(
    "module",
    [
        "marketstreams.venues.luno",
        "marketstreams.venues.bitmex",
        "marketstreams.venues.betfair",
        "marketstreams.proxy",
    ],
)
def test_venue_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert hasattr(mod, name), name


def test_exceptions_share_one_root() -> None:
    for name in marketstreams.__all__:
        obj = getattr(marketstreams, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, marketstreams.MarketStreamsError), name
    assert issubclass(marketstreams.ConnectionLostError, ConnectionError)


def test_secret_never_shows() -> None:
    s = marketstreams.Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and s.value == "hunter2"


def test_backoff_is_capped_jittered_and_resets() -> None:
    b = marketstreams.Backoff(initial=0.1, maximum=1.0)
    delays = [b.next_delay() for _ in range(12)]
    assert all(0 < d <= 1.0 for d in delays) and max(delays[8:]) > 0.5
    b.reset()
    assert b.next_delay() <= 0.1 and b.attempt == 1

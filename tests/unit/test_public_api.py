"""The public API is what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

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
    "FileResult",
    "FrameTooLargeError",
    "Hook",
    "HookStats",
    "MalformedFrameError",
    "MarketStreamsError",
    "OrderBook",
    "ProtocolError",
    "ReplayError",
    "ReplayFilter",
    "ReplayResult",
    "Secret",
    "SequenceGapError",
    "SubscriptionError",
    "Trade",
    "Update",
    "Updater",
    "VenueError",
    "__version__",
    "describe",
    "merge_results",
    "replay",
}


def test_top_level_all_is_pinned() -> None:
    assert set(marketstreams.__all__) == EXPECTED
    assert len(marketstreams.__all__) == len(EXPECTED)  # no name listed twice
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


def test_errors_outside_the_top_level_share_the_root_and_stay_what_they_were() -> None:
    from marketstreams.proxy import RequestError
    from marketstreams.sources import BrokenStream

    assert issubclass(RequestError, marketstreams.MarketStreamsError)
    assert issubclass(RequestError, ValueError)  # an `except ValueError` still catches it
    assert issubclass(BrokenStream, marketstreams.MarketStreamsError)
    err = RequestError("bad_json", "not JSON", op="subscribe", request_id=7)
    assert (err.code, err.message, err.op, err.request_id) == (
        "bad_json",
        "not JSON",
        "subscribe",
        7,
    )


# The exception tree is the docstring of exceptions.py; proxy/config.py belongs to the CLI work.
LONG_DOCSTRING_ALLOWED = {"marketstreams/exceptions.py"}


def test_module_docstrings_are_short() -> None:
    root = Path(marketstreams.__file__).resolve().parents[1]
    long = []
    for path in sorted([*root.glob("marketstreams/**/*.py"), *root.glob("mock_servers/**/*.py")]):
        name = path.relative_to(root).as_posix()
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
        if doc and len(doc.splitlines()) >= 15 and name not in LONG_DOCSTRING_ALLOWED:
            long.append(name)
    assert long == [], "module docstrings of 15 lines or more (move the prose to docs/)"


def test_secret_never_shows() -> None:
    s = marketstreams.Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and s.value == "hunter2"


def test_backoff_is_capped_jittered_and_resets() -> None:
    b = marketstreams.Backoff(initial=0.1, maximum=1.0)
    delays = [b.next_delay() for _ in range(12)]
    assert all(0 < d <= 1.0 for d in delays) and max(delays[8:]) > 0.5
    b.reset()
    assert b.next_delay() <= 0.1 and b.attempt == 1

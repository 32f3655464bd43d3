"""Helpers for record-then-replay tests: what hooks saw, live and replayed, compared call by call.

A live session runs a feed with ``record=`` against a mock server while faults are injected; the
:class:`Observer` hook notes, at every call, the whole book (full depth), its validity, sequence
and timestamps, and the trades. The recording is then replayed with ``marketstreams.replay``
and with :class:`~marketstreams.recording.RecordingFeed`, each with a fresh Observer; the tests
compare the observations book by book, call by call.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from marketstreams import Updater, replay
from marketstreams.recording import RecordingFeed

HANG_GUARD = 30.0  # turns a hang into a failure; nothing here asserts on time

Observation = tuple[Any, ...]


def observe(book: Any, trades: list[Any]) -> Observation:
    if not hasattr(book, "depth"):  # Betfair's MarketBook / OrderMarket: the whole market
        return (book.is_valid, book.invalid_reason, book.snapshot(), [t.as_dict() for t in trades])
    return (
        book.is_valid,
        book.invalid_reason,
        book.sequence,
        book.timestamp,
        book.received,
        book.status,
        book.depth(),  # every level of both sides
        [t.as_dict() for t in trades],
    )


class Observer:
    """A sync hook: per book (``venue:market``), what it saw at each call, in order."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Observation]] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.seen.setdefault(f"{book.venue}:{book.market}", []).append(observe(book, trades))

    def result(self) -> dict[str, list[Observation]]:
        return self.seen


class Waiter:
    """A hook that wakes ``until()`` on every update."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


def recording_bytes(folder: Path) -> bytes:
    """Every file the recorder wrote under ``folder``, decompressed and concatenated."""
    return b"".join(gzip.decompress(p.read_bytes()) for p in sorted(folder.rglob("*.gz")))


async def replay_with_feed(folder: Path) -> tuple[dict[str, list[Observation]], RecordingFeed]:
    """The recording through RecordingFeed in an Updater, as a strategy would run it."""
    observer = Observer()
    feed = RecordingFeed(folder)
    await Updater(feed, hooks=[observer]).run()
    return observer.seen, feed


def replay_with_function(folder: Path, workers: int = 1) -> dict[str, list[Observation]]:
    result = replay(folder, hooks=[Observer()], workers=workers)
    assert result.errors == []
    seen: dict[str, list[Observation]] = result.results[0]
    return seen


def assert_same(live: dict[str, list[Observation]], replayed: dict[str, list[Observation]]) -> None:
    assert sorted(replayed) == sorted(live)
    for key, calls in live.items():
        again = replayed[key]
        assert len(again) == len(calls), key
        for i, (a, b) in enumerate(zip(calls, again, strict=True)):
            assert a == b, f"{key}: hook call {i} differs"


@pytest.fixture
def waiter() -> Waiter:
    return Waiter()

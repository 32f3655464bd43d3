"""Helpers for BitMEX integration tests against mock_servers/bitmex.py (127.0.0.1, port 0).

Tests synchronise on events: a background task consumes ``feed.updates()`` and wakes waiters on
every update; ``until(predicate)`` returns once the predicate holds. The ``asyncio.timeout``
around it only turns a hang into a failure; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from marketstreams.models import Update
from marketstreams.transport.backoff import Backoff
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer

HANG_GUARD = 20.0  # seconds before a wait that never completes fails the test
# Quick pings; a pong wait generous enough that a loaded machine never looks like silence.
FAST = {"ping_interval": 0.2, "pong_timeout": 2.0, "connect_timeout": 5.0}
KEY = "mock-key-123"
SECRET = "mock-secret-456"


def fast_backoff() -> Backoff:
    return Backoff(initial=0.01, maximum=0.05)


class FeedRunner:
    """Consumes a feed in the background; ``until()`` waits for a condition."""

    def __init__(self, feed: bitmex.Feed) -> None:
        self.feed = feed
        self.updates: list[Update] = []
        # (market, is_valid, invalid_reason, snapshot) as each update was received
        self.seen: list[tuple[str, bool, str | None, bool]] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        try:
            async for update in self.feed.updates():
                self.updates.append(update)
                book = update.book
                self.seen.append((book.market, book.is_valid, book.invalid_reason, update.snapshot))
                async with self._changed:
                    self._changed.notify_all()
        except Exception as exc:
            self.error = exc
            async with self._changed:
                self._changed.notify_all()

    async def __aenter__(self) -> FeedRunner:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD), self._changed:
            await self._changed.wait_for(lambda: predicate() or self.error is not None)
        if self.error is not None and not predicate():
            raise self.error

    async def failure(self) -> BaseException:
        await self.until(lambda: False if self.error is None else True)
        assert self.error is not None
        return self.error


def books_match(
    server: BitmexMockServer, feed: bitmex.Feed, symbols: list[str], n: int | None = None
) -> bool:
    for symbol in symbols:
        book = feed.books.get(symbol)
        if book is None or not book.is_valid:
            return False
        truth = server.book(symbol)
        if book.depth(n) != {"bids": truth["bids"][:n], "asks": truth["asks"][:n]}:
            return False
    return True


@pytest.fixture
async def server() -> AsyncIterator[BitmexMockServer]:
    async with BitmexMockServer(
        ["XBTUSD", "ETHUSD", "SOLUSDT"], interval=None, credentials={KEY: SECRET}
    ) as srv:
        yield srv


def _make_feed(server: BitmexMockServer, topics: Any, **kwargs: Any) -> bitmex.Feed:
    return bitmex.Feed(topics, url=server.url, backoff=fast_backoff(), **{**FAST, **kwargs})


@pytest.fixture
def make_feed() -> Callable[..., bitmex.Feed]:
    """``make_feed(server, topics, **options)``: a feed with fast pings and backoff."""
    return _make_feed


@pytest.fixture
def runner() -> type[FeedRunner]:
    """``async with runner(feed) as run: await run.until(...)``."""
    return FeedRunner


@pytest.fixture
def match() -> Callable[..., bool]:
    """``match(server, feed, symbols, n=None)``: every book valid and equal to the true book."""
    return books_match


@pytest.fixture
def credentials() -> tuple[str, str]:
    """The key and secret the mock server accepts."""
    return KEY, SECRET

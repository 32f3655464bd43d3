"""The Updater: feeds in, books kept by (venue, market), hooks out.

Data flows one way: each feed yields :class:`~marketstreams.models.Update` values; the Updater
records the book under ``(venue, market)`` and offers the update to every hook's own delivery
path (see :mod:`marketstreams.hooks`) and to every ``async for`` iterator. Offering never blocks,
so a slow consumer never delays a feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any

from .feed import Feed
from .hooks import Hook, HookFunction
from .models import Update

__all__ = ["Updater"]

logger = logging.getLogger("marketstreams.updater")


class Updater:
    """Run feeds, keep their books and call hooks on every update.

    ::

        updater = Updater(luno.Feed("XBTZAR"), luno.Feed("ETHZAR"), hooks=[print_it])
        await updater.run()

    or pull updates yourself::

        async for update in updater:
            print(update.book.best_bid(), update.trades)

    ``hooks`` are plain functions or coroutine functions ``hook(book, trades)``, or
    :class:`~marketstreams.hooks.Hook` objects that choose a delivery policy. ``run()`` returns when
    every feed has ended (finite feeds such as replays) and every pending delivery has been made;
    it raises the first error a feed could not recover from (refused credentials, say), after
    stopping the other feeds.
    """

    def __init__(self, *feeds: Feed, hooks: Iterable[HookFunction | Hook] = ()) -> None:
        for feed in feeds:
            if not callable(getattr(feed, "updates", None)):
                raise TypeError(f"{feed!r} is not a feed: it has no updates() method")
        self.feeds: list[Feed] = list(feeds)
        self.hooks: list[Hook] = [h if isinstance(h, Hook) else Hook(h) for h in hooks]
        self.books: dict[tuple[str, str], Any] = {}
        self.updates = 0
        self._iterators: list[Hook] = []
        self._running = False

    def add_hook(self, hook: HookFunction | Hook) -> Hook:
        """Add a hook, also while running. Returns its :class:`Hook` (for its stats)."""
        h = hook if isinstance(hook, Hook) else Hook(hook)
        self.hooks.append(h)
        if self._running:
            h.start()
        return h

    def book(self, venue: str, market: str) -> Any:
        """The book of ``market`` on ``venue`` (KeyError until its feed has reported it)."""
        return self.books[(venue, market)]

    def stats(self) -> dict[str, Any]:
        """Counters of every feed and hook, for logs and metrics endpoints."""
        return {
            "updates": self.updates,
            "feeds": [{"venue": f.venue, "feed": repr(f), **f.stats.as_dict()} for f in self.feeds],
            "hooks": [{"hook": h.name, **h.stats.as_dict()} for h in self.hooks],
        }

    def publish(self, update: Update) -> None:
        """Record one update and offer it to every hook and iterator (what feeds' updates go
        through; also usable directly to push updates from your own code)."""
        self.books[update.key] = update.book
        self.updates += 1
        for hook in self.hooks:
            hook.offer(update)
        for it in self._iterators:
            it.offer(update)

    async def _pump(self, feed: Feed) -> None:
        publish = self.publish
        async for update in feed.updates():
            publish(update)

    async def run(self) -> None:
        """Run every feed until all have ended, then make the pending deliveries."""
        if self._running:
            raise RuntimeError("this Updater is already running")
        self._running = True
        for h in self.hooks:
            h.start()
        tasks = [
            asyncio.create_task(self._pump(feed), name=f"marketstreams-feed-{feed.venue}")
            for feed in self.feeds
        ]
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    exc = task.exception()
                    if exc is not None:
                        logger.error("feed %s stopped: %s", task.get_name(), exc)
                        raise exc
            for h in self.hooks:
                await h.drain()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            for h in self.hooks:
                await h.stop()
            self._running = False

    async def __aiter__(self) -> AsyncIterator[Update]:
        """Pull updates: runs the feeds (unless ``run()`` already does) while you iterate.

        Conflating like a hook: each yielded update carries the newest state of its book and the
        trades of every update merged into it.
        """
        # The iterator is a hook whose delivery waits for the consumer: while the consumer is
        # busy, updates conflate in the hook's pending deliveries instead of piling up.
        handoff: asyncio.Queue[Update] = asyncio.Queue(maxsize=1)

        async def deliver(update: Update) -> None:
            await handoff.put(update)

        sink = Hook(deliver, name="async-for")  # type: ignore[arg-type]
        sink._whole_update = True
        self._iterators.append(sink)
        sink.start()
        runner: asyncio.Task[None] | None = None
        if not self._running:
            runner = asyncio.create_task(self.run(), name="marketstreams-updater")
        try:
            while True:
                if handoff.empty() and runner is not None and runner.done():
                    if sink.idle:
                        runner.result()  # re-raises a feed's fatal error
                        return
                    await asyncio.sleep(0)  # let the sink hand over what it still holds
                    continue
                getter = asyncio.ensure_future(handoff.get())
                waits: set[asyncio.Future[Any]] = {getter}
                if runner is not None:
                    waits.add(runner)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
        finally:
            self._iterators.remove(sink)
            await sink.stop()
            if runner is not None:
                runner.cancel()
                with contextlib.suppress(BaseException):
                    await runner

"""Hook dispatch: each hook has its own delivery path, so no hook stalls the feed or another.

More in docs/modules.md (``marketstreams.hooks``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from types import FunctionType
from typing import Any, Literal

from .conflate import Conflator
from .models import Book, Trade, Update

__all__ = ["Hook", "HookFunction", "HookStats", "call_now"]

logger = logging.getLogger("marketstreams.hooks")

HookFunction = Callable[[Any, list[Trade]], Awaitable[object] | object]
Policy = Literal["conflate", "queue"]


@dataclass(slots=True)
class HookStats:
    """Counters of one hook's delivery path."""

    offered: int = 0  # updates handed to the delivery path
    calls: int = 0  # times the hook was called
    errors: int = 0  # calls that raised
    conflated: int = 0  # updates merged into a pending delivery ("conflate")
    dropped: int = 0  # updates dropped because the queue was full ("queue")
    dropped_trades: int = 0  # trades dropped beyond max_trades ("conflate")

    @property
    def pending(self) -> int:
        return self.offered - self.calls - self.conflated - self.dropped

    def as_dict(self) -> dict[str, int]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["pending"] = self.pending
        return out


def report_error(hook: Hook, where: str = "") -> None:
    """Count a hook's failure and log it: the first with its traceback, then the 10th, 100th,
    1000th... with the count, so a hook that fails on every update does not flood the log."""
    hook.stats.errors += 1
    n = hook.stats.errors
    if n == 1:
        logger.exception("hook %s raised%s; its next deliveries go on", hook.name, where)
    elif n & (n - 1) == 0 or str(n).rstrip("0") == "1":
        logger.error(
            "hook %s has raised %d times%s (first traceback logged above)", hook.name, n, where
        )


def call_now(
    hooks: Sequence[Hook], loop: asyncio.AbstractEventLoop | None, where: str = ""
) -> Callable[[Any, list[Trade]], None]:
    """A function that calls every hook with ``(book, trades)`` now, in order, and waits for each
    async one on ``loop`` (it is run to completion there): how replays call hooks, so that they
    are deterministic. A hook that raises is counted and logged (:func:`report_error`, ``where``
    added to the message) and the others are still called. ``loop`` may be None when no hook is
    async. The Updater instead hands updates to each hook's own delivery path
    (:meth:`Hook.offer`)."""
    calls = [(hook, hook.fn, hook.is_async) for hook in hooks]
    if loop is None and any(is_async for _, _, is_async in calls):
        raise ValueError("async hooks need an event loop to run on")
    if len(calls) == 1 and not calls[0][2]:
        only, fn, _ = calls[0]

        def call_one(book: Any, trades: list[Trade]) -> None:  # (a replay's usual case)
            try:
                fn(book, trades)
            except Exception:
                report_error(only, where)

        return call_one

    def call(book: Any, trades: list[Trade]) -> None:
        for hook, fn, is_async in calls:
            try:
                if is_async:
                    loop.run_until_complete(fn(book, trades))  # type: ignore[union-attr, arg-type]
                else:
                    fn(book, trades)
            except Exception:
                report_error(hook, where)

    return call


def _is_async(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - async callable objects
    return inspect.iscoroutinefunction(call)


class Hook:
    """A user hook and its own delivery path. ``Updater(hooks=[fn, Hook(fn2, policy="queue")])``."""

    def __init__(
        self,
        fn: HookFunction,
        *,
        policy: Policy = "conflate",
        maxsize: int = 10_000,
        max_trades: int = 100_000,
        thread: bool = False,
        name: str | None = None,
    ) -> None:
        if policy not in ("conflate", "queue"):
            raise ValueError(f"policy must be 'conflate' or 'queue', not {policy!r}")
        if maxsize < 1 or max_trades < 1:
            raise ValueError("maxsize and max_trades must be at least 1")
        self.fn = fn
        self.policy: Policy = policy
        self.maxsize = maxsize
        self.max_trades = max_trades
        self.thread = thread
        self.name = name or getattr(fn, "__qualname__", None) or repr(fn)
        self.is_async = _is_async(fn)
        if thread and self.is_async:
            raise ValueError("thread=True is for sync hooks; an async hook already runs apart")
        self.stats = HookStats()
        self._whole_update = False  # internal: the Updater's iterator takes Update objects
        self._copy = policy == "queue" or thread
        self._direct = not self.is_async and not thread  # may be called inside offer()
        # what offer() calls: a callable object's own __call__ as a bound method (one lookup
        # here instead of one per update), else the function itself
        call = getattr(type(fn), "__call__", None)  # noqa: B004 - the Python-level method
        self._call: Callable[[Any, list[Trade]], object] = (
            fn.__call__ if isinstance(call, FunctionType) else fn  # type: ignore[operator]
        )
        self._pending: Conflator[tuple[str, str], Book, Trade] = Conflator(max_trades, self.stats)
        self._queue: deque[Update] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set whenever the delivery task has nothing left to do
        self._idle.set()
        self._busy = False
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<Hook {self.name} policy={self.policy} {self.stats.as_dict()}>"

    # -- called by the Updater ----------------------------------------------------------------

    def offer(self, update: Update) -> None:
        """Hand one update to this hook's delivery path. Never blocks, never raises."""
        stats = self.stats
        stats.offered += 1
        # Fast path: an idle sync hook is called right here, with this very update. Inlined,
        # with the pending checks as plain attribute reads: it runs for every hook on every
        # update (docs/paper-trading.md, figures).
        if self._direct and not self._busy and not self._pending.pending and not self._queue:
            stats.calls += 1
            self._busy = True
            try:
                self._call(update.book if not self._copy else update.book.copy(), update.trades)
            except Exception:
                report_error(self)
            finally:
                self._busy = False
            return
        if self.policy == "queue":
            if len(self._queue) >= self.maxsize:
                self._queue.popleft()
                self.stats.dropped += 1
            self._queue.append(Update(update.book.copy(), list(update.trades), update.snapshot))
        else:
            self._pending.offer(update.key, update.book, update.trades, update.snapshot)
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._deliver(), name=f"marketstreams-hook-{self.name}"
            )

    @property
    def idle(self) -> bool:
        """True when no delivery is pending or in progress."""
        return not (self._busy or self._has_pending())

    async def drain(self) -> None:
        """Wait until every pending delivery has been made (no busy waiting)."""
        while not self.idle and self._task is not None and not self._task.done():
            self._idle.clear()
            self._wakeup.set()
            idle = asyncio.ensure_future(self._idle.wait())
            await asyncio.wait({idle, self._task}, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._executor is not None:
            # A call already running in the thread cannot be interrupted; nothing waits for it.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    # -- delivery -----------------------------------------------------------------------------

    def _has_pending(self) -> bool:
        return bool(self._pending.pending or self._queue)

    def _next(self) -> Update:
        if self._queue:
            return self._queue.popleft()
        _, pending = self._pending.pop_first()
        book = pending.value.copy() if self._copy else pending.value
        return Update(book, pending.trades, pending.snapshot)

    async def _deliver(self) -> None:
        while True:
            self._idle.set()
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._has_pending():
                update = self._next()
                self.stats.calls += 1
                self._busy = True
                try:
                    if self._whole_update:
                        await self.fn(update)  # type: ignore[call-arg, misc]
                    elif self.is_async:
                        await self.fn(update.book, update.trades)  # type: ignore[misc]
                    elif self.thread:
                        if self._executor is None:
                            self._executor = ThreadPoolExecutor(
                                1, f"marketstreams-hook-{self.name}"
                            )
                        await asyncio.get_running_loop().run_in_executor(
                            self._executor, self.fn, update.book, update.trades
                        )
                    else:
                        self.fn(update.book, update.trades)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    report_error(self)
                finally:
                    self._busy = False

"""What both kinds of replay job share: the hooks of one job, from their copies to their results."""

from __future__ import annotations

import asyncio
import copy
import inspect
from typing import Any

from ..hooks import Hook, call_now

__all__ = ["JobHooks", "short"]


class JobHooks:
    """The hooks of one job: a hook object is copied for it (``copy_hooks``) so it starts from
    the state it was given, every hook is wrapped in a :class:`~marketstreams.Hook`, and
    ``call(book, trades)`` calls them all, in order, waiting for async ones (one event loop per
    job, closed by :meth:`close`). :meth:`results` are the hooks' ``result()`` at the end."""

    __slots__ = ("call", "given", "hooks", "idle", "loop", "quiet")

    def __init__(self, hooks: list[Any], copy_hooks: bool, where: str) -> None:
        self.given = [copy.deepcopy(h) if copy_hooks and not is_function(h) else h for h in hooks]
        self.hooks = [h if isinstance(h, Hook) else Hook(h) for h in self.given]
        self.loop: asyncio.AbstractEventLoop | None = None
        if any(h.is_async for h in self.hooks):
            self.loop = asyncio.new_event_loop()
        self.call = call_now(self.hooks, self.loop, where)
        # A hook object may keep ``quiet_markets``, a set of market ids it needs no more lines
        # of except those with a market definition: honoured when it is the only hook.
        # ``idle_until``, a dict of market id -> publish time (ms) before which it wants no
        # book of that market unless a definition comes: such lines are applied in bulk.
        alone = self.given[0] if len(self.given) == 1 else None
        quiet = getattr(alone, "quiet_markets", None)
        self.quiet: set[str] | None = quiet if isinstance(quiet, set) else None
        idle = getattr(alone, "idle_until", None)
        self.idle: dict[str, float] | None = idle if isinstance(idle, dict) else None

    def __bool__(self) -> bool:
        return bool(self.hooks)

    def results(self, updates: int) -> list[Any]:
        """Each hook's ``result()`` (None without one); every hook saw ``updates`` updates."""
        for hook in self.hooks:
            hook.stats.offered = hook.stats.calls = updates
        return [result_of(h) for h in self.given]

    def none(self) -> list[None]:
        """The results of a job that failed: None for every hook."""
        return [None for _ in self.given]

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


def is_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)


def result_of(hook: Any) -> Any:
    fn = getattr(hook, "result", None)
    return fn() if callable(fn) and not is_function(hook) else None


def short(exc: BaseException) -> str:
    """An exception's text, cut to 300 characters for a log line or a result."""
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."

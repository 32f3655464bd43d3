"""What a feed's live loop and the replay of its recording share, without I/O.

A venue's session core answers ``on_connect`` / ``on_data`` / ``on_lost`` with the updates for
the hooks, and ``retry(exc)`` is its one pure decision per exception: a :class:`Loss` to
reconnect after, or None to give up. :class:`RecordReplay` drives a core with a recording's
records exactly as the live loop drove it with sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .models import Update
from .recording.format import Kind, Record

__all__ = ["Loss", "RecordReplay", "SessionCore"]


@dataclass(frozen=True, slots=True)
class Loss:
    """A connection loss the feed reconnects after: the books' invalid reason, and the
    :class:`~marketstreams.FeedStats` counter it counts in (None: only ``reconnects``)."""

    reason: str
    counter: str | None = None


class SessionCore(Protocol):
    """One connection's worth of a feed's logic: sync, no I/O."""

    def on_connect(self, now: float) -> list[Update]: ...

    def on_data(self, data: str | bytes, now: float) -> list[Update]: ...

    def on_lost(self, loss: Loss) -> list[Update]: ...

    def on_fatal(self) -> None: ...

    def retry(self, exc: BaseException) -> Loss | None: ...


class RecordReplay:
    """Replays a recorded channel through a :class:`SessionCore`: frames through ``on_data``,
    a failure on a frame through ``retry`` (as live: the connection ends there, and its
    recorded disconnect is then skipped), connects, disconnects and the recorder's losses where
    they happened. Raises what the live feed raised. ``closed``: the invalid reason of a
    recorded disconnect without one."""

    __slots__ = ("_down", "_lost", "closed", "core")

    def __init__(self, core: SessionCore, closed: str = "disconnected") -> None:
        self.core = core
        self.closed = closed
        self._down = False  # the recorded connection is gone: the live feed read no more
        self._lost = False  # a frame ended it: skip its disconnect record

    def apply(self, record: Record) -> list[Update]:
        """The updates the live feed handed on at this record."""
        kind = record.kind
        core = self.core
        if kind in Kind.received:
            if self._down:
                return []
            try:
                return core.on_data(record.data, record.time)
            except Exception as exc:
                loss = core.retry(exc)
                if loss is None:
                    core.on_fatal()
                    raise
                self._down = self._lost = True
                return core.on_lost(loss)
        if kind == Kind.CONNECTED:
            self._down = self._lost = False
            return core.on_connect(record.time)
        if kind == Kind.DISCONNECTED:
            if self._lost:
                self._lost = False
                return []
            info = record.info()
            if info.get("fatal"):
                core.on_fatal()
                return []
            self._down = True
            counter = info.get("counter")
            reason = str(info.get("reason", self.closed))
            return core.on_lost(Loss(reason, counter if isinstance(counter, str) else None))
        if kind == Kind.LOST and not self._down:
            # The recorder dropped frames here: the books cannot be trusted past this point.
            self._down = True
            return core.on_lost(Loss(f"the recording lost {record.info().get('frames')} frame(s)"))
        return []

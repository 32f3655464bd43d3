"""What a feed's live loop and the replay of its recording share, without I/O.

A venue's session core answers ``on_connect`` / ``on_data`` / ``on_lost`` with the updates for
the hooks, and ``retry(exc)`` is its one pure decision per exception: a :class:`Loss` to
reconnect after, or None to give up. The live loop drives one core per connection with sockets;
:class:`RecordReplay` drives the same core with a recording's records. More in
docs/architecture.md ("Session cores").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from .exceptions import MarketStreamsError
from .feed import FeedStats
from .models import Update
from .recording.format import Kind, Record

__all__ = ["Batch", "Loss", "RecordReplay", "SessionCore"]


@dataclass(frozen=True, slots=True)
class Loss:
    """A connection loss the feed reconnects after: the books' invalid reason, and the
    :class:`~marketstreams.FeedStats` counter it counts in (None: only ``reconnects``)."""

    reason: str
    counter: str | None = None

    def count(self, stats: FeedStats) -> None:
        """Add one to the loss's counter in ``stats``; a name that is no loss counter (a
        recording is input too) counts nowhere."""
        counter = self.counter
        if counter in _COUNTERS:
            setattr(stats, counter, getattr(stats, counter) + 1)


# the FeedStats counters a loss may count in
_COUNTERS = frozenset({"gaps", "malformed", "errors", "silences"})


class Batch(Protocol):
    """The updates a core hands on at one call: a list, or an object that makes them as it is
    iterated (Betfair's, whose updates wait in a queue: short-lived objects are cheaper)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Update]: ...


class SessionCore(Protocol):
    """One connection's worth of a feed's logic: sync, no I/O. The feed writes what
    ``data_to_send`` returns after each call; a replay drops it (the recording holds it)."""

    def on_connect(self, now: float) -> Batch: ...

    def on_data(self, data: str | bytes, now: float) -> Batch: ...

    def on_lost(self, loss: Loss) -> Batch: ...

    def on_fatal(self) -> None: ...

    def retry(self, exc: BaseException) -> Loss | None: ...

    def data_to_send(self) -> bytes | list[str]: ...


class RecordReplay:
    """Replays a recorded channel through a :class:`SessionCore`: frames through ``on_data``,
    a failure on a frame through ``retry`` (as live: the connection ends there, and its
    recorded disconnect is then skipped), connects, disconnects and the recorder's losses where
    they happened. Raises what the live feed raised; a recorded fatal end that no frame
    explains raises :class:`~marketstreams.exceptions.MarketStreamsError`. ``closed``: the
    invalid reason of a recorded disconnect without one.

    ``queued``: the live feed handed the core's updates on through a queue, recording each
    batch it handed on (a ``DELIVERED`` record); they are held here and returned at those
    records, so hooks see the books in the state the live hooks saw."""

    __slots__ = ("_down", "_lost", "_pending", "closed", "core")

    def __init__(
        self, core: SessionCore, closed: str = "disconnected", *, queued: bool = False
    ) -> None:
        self.core = core
        self.closed = closed
        self._down = False  # the recorded connection is gone: the live feed read no more
        self._lost = False  # a frame ended it: skip its disconnect record
        # batches made but not yet handed on (queued feeds only)
        self._pending: deque[Batch] | None = deque() if queued else None

    def apply(self, record: Record) -> list[Update]:
        """The updates the live feed handed on at this record."""
        pending = self._pending
        if pending is None:
            updates = self._apply(record)
            return updates if isinstance(updates, list) else list(updates)
        if record.kind == Kind.DELIVERED:
            return list(pending.popleft()) if pending else []
        batch = self._apply(record)
        if len(batch):
            pending.append(batch)
        return []

    def _apply(self, record: Record) -> Batch:
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
            finally:
                core.data_to_send()  # the recording holds what the live feed sent
        if kind == Kind.CONNECTED:
            self._down = self._lost = False
            try:
                return core.on_connect(record.time)
            finally:
                core.data_to_send()
        if kind == Kind.DISCONNECTED:
            if self._lost:
                self._lost = False
                return []
            info = record.info()
            if info.get("fatal"):
                core.on_fatal()
                raise MarketStreamsError(f"the live feed stopped: {info.get('reason')}")
            self._down = True
            counter = info.get("counter")
            reason = str(info.get("reason", self.closed))
            return core.on_lost(Loss(reason, counter if isinstance(counter, str) else None))
        if kind == Kind.LOST and not self._down:
            # The recorder dropped frames here: the books cannot be trusted past this point.
            self._down = True
            return core.on_lost(Loss(f"the recording lost {record.info().get('frames')} frame(s)"))
        return []

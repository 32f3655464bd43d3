"""The interface every venue feed implements, and the counters every feed keeps.

A feed is any object with a ``venue`` name, a ``stats`` :class:`FeedStats` and an ``updates()``
method returning an async iterator of :class:`~marketstreams.models.Update`. The feed owns its
connections: it reconnects by itself, marks its books invalid the moment it loses sync, and keeps
yielding for as long as it is iterated. It raises only for errors a retry cannot fix (refused
credentials, an unknown market). Cancelling the iteration closes its connections.

A minimal feed is in docs/architecture.md (the feed interface).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Protocol, runtime_checkable

from .models import Update

__all__ = ["Feed", "FeedStats"]


@dataclass(slots=True)
class FeedStats:
    """Counters a feed keeps; read them at any time (``feed.stats``)."""

    connects: int = 0  # successful connections, the first one included
    reconnects: int = 0  # connections after the first
    messages: int = 0  # venue messages received
    updates: int = 0  # book updates emitted
    gaps: int = 0  # sequence gaps / out-of-sync detections
    malformed: int = 0  # frames skipped because they could not be parsed or applied
    errors: int = 0  # venue error frames / statuses
    silences: int = 0  # connections replaced because the venue went quiet
    skipped: int = 0  # well-formed messages ignored on purpose (before a snapshot, old ids)
    connected: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@runtime_checkable
class Feed(Protocol):
    """A source of book updates (see the module docstring)."""

    venue: str
    stats: FeedStats

    def updates(self) -> AsyncIterator[Update]: ...

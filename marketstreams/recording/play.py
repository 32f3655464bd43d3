"""Playing recordings back through the venues' own feed logic.

Each recorded channel is replayed by a feed of its venue built from the header
(``Feed.from_recording(header)``), whose ``replay_record(record)`` applies a record exactly as
the live feed applied the event it records: the same protocol core or cache, connection losses
and reconnects where they happened. :func:`merged` interleaves several channels by receive
time; :class:`RecordingFeed` is a feed for the :class:`~marketstreams.Updater`, at full speed or
at the recorded pace.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import time
from collections.abc import AsyncIterator, Iterable, Iterator

from ..exceptions import ConfigurationError
from ..feed import FeedStats
from ..models import Update
from ..sources import Source, discover
from ..venues import registry
from ..venues.registry import Replayable
from .format import Header, Record
from .reader import RecordingFile, channel_records, group_channels, peek_header

__all__ = [
    "ChannelPlayer",
    "Pacer",
    "RecordingFeed",
    "Replayable",
    "feed_for",
    "find_recordings",
    "merged",
]


def feed_for(header: Header) -> Replayable:
    """A feed of the header's venue, ready to replay that channel (never connects)."""
    try:
        spec = registry.get(header.venue)
    except ConfigurationError:
        raise ConfigurationError(f"no replay for recordings of venue {header.venue!r}") from None
    return spec.from_recording(header)


def find_recordings(sources: Iterable[Source]) -> tuple[list[list[RecordingFile]], list[Source]]:
    """Split sources into recordings (grouped by channel, see :func:`group_channels`) and the
    rest (Betfair historical files), each in the order given."""
    recordings: list[RecordingFile] = []
    others: list[Source] = []
    for source in sources:
        header = peek_header(source)
        if header is None:
            others.append(source)
        else:
            recordings.append(RecordingFile(source, header))
    return group_channels(recordings), others


class ChannelPlayer:
    """One recorded channel: its files, its records in order, and the feed that replays them."""

    def __init__(self, files: list[RecordingFile]) -> None:
        if not files:
            raise ConfigurationError("a channel needs at least one file")
        self.files = files
        self.header = files[0].header
        self.feed = feed_for(self.header)
        self.records = 0

    @property
    def name(self) -> str:
        return self.files[0].source.name

    def __iter__(self) -> Iterator[Record]:
        for record in channel_records(self.files):
            self.records += 1
            yield record

    def play(self, record: Record) -> list[Update]:
        return self.feed.replay_record(record)


def merged(players: list[ChannelPlayer]) -> Iterator[tuple[ChannelPlayer, Record]]:
    """Records of every channel, in receive-time order (a channel's own order kept on ties).

    Records are read ahead, never applied ahead: a record is played only when it is next."""
    heap: list[tuple[float, int, int, Record]] = []
    iterators = [iter(p) for p in players]
    counter = 0
    for index, it in enumerate(iterators):
        first = next(it, None)
        if first is not None:
            heap.append((first.time, counter, index, first))
            counter += 1
    heapq.heapify(heap)
    while heap:
        _, _, index, record = heap[0]
        yield players[index], record
        following = next(iterators[index], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following.time, counter, index, following))
            counter += 1


class Pacer:
    """Recorded pace: ``delay(t)`` says how long to wait before the event recorded at ``t``
    (epoch seconds) is due, at ``speed`` times the recorded pace (1: as recorded)."""

    __slots__ = ("_start", "_t0", "speed")

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ConfigurationError("speed must be positive (1 is the recorded pace)")
        self.speed = speed
        self._t0: float | None = None
        self._start = 0.0

    def delay(self, t: float) -> float:
        now = time.monotonic()
        if self._t0 is None:
            self._t0, self._start = t, now
            return 0.0
        return self._start + (t - self._t0) / self.speed - now

    def wait(self, t: float) -> None:
        """Sleep (blocking) until ``t`` is due."""
        pause = self.delay(t)
        if pause > 0:
            time.sleep(pause)


class RecordingFeed:
    """Recordings as a feed for the :class:`~marketstreams.Updater`::

        await Updater(RecordingFeed("recordings/", speed=10), hooks=[strategy]).run()

    Every channel found under ``paths`` is replayed through its venue's feed logic, all of them
    interleaved by receive time; ``speed`` None plays as fast as possible, 1 at the recorded
    pace, 10 ten times faster. The iteration ends at the end of the recordings. ``feeds`` are
    the venue feeds doing the replay (their ``stats`` count as the live ones did).
    """

    venue = "replay"

    def __init__(
        self,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        speed: float | None = None,
    ) -> None:
        groups, others = find_recordings(discover(paths))
        if not groups:
            raise ConfigurationError("no marketstreams recordings found")
        self.ignored = [s.name for s in others]
        self.players = [ChannelPlayer(g) for g in groups]
        self.feeds = [p.feed for p in self.players]
        self.speed = speed
        self.stats = FeedStats()
        if speed is not None:
            Pacer(speed)  # validates

    def __repr__(self) -> str:
        return f"<RecordingFeed channels={len(self.players)} speed={self.speed}>"

    async def updates(self) -> AsyncIterator[Update]:
        pacer = Pacer(self.speed) if self.speed else None
        stats = self.stats
        for player, record in merged(self.players):
            if pacer is not None:
                pause = pacer.delay(record.time)
                if pause > 0:
                    await asyncio.sleep(pause)
            stats.messages += 1
            for update in player.play(record):
                stats.updates += 1
                yield update

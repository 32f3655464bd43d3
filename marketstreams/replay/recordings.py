"""Recordings played back through the venues' own feed logic, as a replay job or as a feed.

Each recorded channel (all the files of one recorded connection, in order, across rotations and
days) is replayed by a feed of its venue built from the header (the venue registry's
``from_recording``), whose ``replay_record(record)`` applies a record exactly as the live feed
applied the event it records: the same protocol core or cache, connection losses and reconnects
where they happened. :func:`run_recording_job` is one channel as a :func:`~marketstreams.replay`
job; :class:`RecordingFeed` plays channels interleaved by receive time (:func:`merged`) as a feed
for the :class:`~marketstreams.Updater`.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..exceptions import ConfigurationError, MarketStreamsError, ReplayError
from ..feed import FeedStats
from ..models import Update
from ..recording.format import Header, Record
from ..recording.reader import RecordingFile, channel_records, group_channels, peek_header
from ..sources import Source, discover
from ..venues import registry
from ..venues.registry import Replayable
from .filters import ReplayFilter
from .jobs import JobHooks
from .pacing import Pacer, pacer
from .results import FileResult

__all__ = [
    "ChannelPlayer",
    "RecordingFeed",
    "RecordingJob",
    "Replayable",
    "SideBySideJob",
    "feed_for",
    "find_recordings",
    "merge_streams",
    "merged",
    "run_recording_job",
    "run_side_by_side",
]

logger = logging.getLogger("marketstreams.replay")


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
    for index, record in merge_streams(players):
        yield players[index], record


def merge_streams(streams: Sequence[Iterable[Record]]) -> Iterator[tuple[int, Record]]:
    """``(stream index, record)`` of every stream, in receive-time order; on equal times the
    earlier stream first, and a stream's own order always kept."""
    heap: list[tuple[float, int, int, Record]] = []
    iterators = [iter(s) for s in streams]
    counter = 0
    for index, it in enumerate(iterators):
        first = next(it, None)
        if first is not None:
            heap.append((first.time, counter, index, first))
            counter += 1
    heapq.heapify(heap)
    while heap:
        _, _, index, record = heap[0]
        yield index, record
        following = next(iterators[index], None)
        if following is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (following.time, counter, index, following))
            counter += 1


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
        pace = pacer(self.speed)
        stats = self.stats
        for player, record in merged(self.players):
            if pace is not None:
                pause = pace.delay(record.time)
                if pause > 0:
                    await asyncio.sleep(pause)
            stats.messages += 1
            for update in player.play(record):
                stats.updates += 1
                yield update


# -- one channel as a replay job --------------------------------------------------------------


@dataclass(slots=True)
class RecordingJob:
    """One recorded channel: its files in order (what a worker is sent)."""

    files: list[RecordingFile]
    hooks: list[Any]
    market_filter: ReplayFilter | None
    strict: bool
    copy_hooks: bool
    speed: float | None = None
    tick: Callable[[float], None] | None = None  # in-process only: see Pacer

    @property
    def source(self) -> Source:
        return self.files[0].source


def run_recording_job(job: RecordingJob) -> FileResult:
    """Replay one recorded channel through its venue's feed logic (in a worker process, on a
    cluster node, or in-process). ``lines`` counts records, ``skipped`` the frames the live feed
    skipped as well; the market filter's ``market_ids`` apply (the others are Betfair's)."""
    first = job.files[0].source
    result = FileResult(first.name, bytes=sum(f.source.size for f in job.files))
    hooks = JobHooks(job.hooks, job.copy_hooks, f" on {first.name}")
    wanted = job.market_filter.market_ids if job.market_filter is not None else None
    seen: set[tuple[str, str]] = set()
    pace = pacer(job.speed, job.tick)
    call = hooks.call
    started = time.perf_counter()
    try:
        player = ChannelPlayer(job.files)
        play = player.play
        for record in player:
            result.lines += 1
            if pace is not None:
                pace.wait(record.time)
            for update in play(record):
                book = update.book
                if wanted is not None and book.market not in wanted:
                    continue
                seen.add((book.venue, book.market))
                result.updates += 1
                call(book, update.trades)
        result.markets = len(seen)
        result.skipped = player.feed.stats.malformed
        result.results = hooks.results(result.updates)
    except ReplayError as exc:
        result.error, result.error_line = exc.cause, exc.line
        if exc.path != first.name:
            result.error = f"{exc.path}: {exc.cause}"
        result.results = hooks.none()
    except Exception as exc:  # what the live feed raised too (refused credentials...), or a bug
        result.error = f"{type(exc).__name__}: {exc}"
        result.error_line = result.lines or None
        result.results = hooks.none()
        if not isinstance(exc, MarketStreamsError):
            logger.exception("%s failed", first.name)
    finally:
        hooks.close()
    result.seconds = time.perf_counter() - started
    return result


# -- channels recorded side by side, played together ------------------------------------------


@dataclass(slots=True)
class SideBySideJob:
    """Recorded channels played together at a pace (``replay(..., speed=X)`` over several
    channels): one clock, records in receive-time order across channels, one copy of each hook
    seeing every channel, as the live hooks did."""

    channels: list[RecordingJob]

    @property
    def source(self) -> Source:
        return self.channels[0].source


def run_side_by_side(job: SideBySideJob) -> list[FileResult]:
    """Play the channels of ``job`` merged by receive time (see :func:`merge_streams`), paced by
    one pacer; a FileResult per channel, in order. The hooks' results go to the first channel's
    (the others get None, which the default reducer ignores). A channel that fails stops alone."""
    first = job.channels[0]
    results = [
        FileResult(c.source.name, bytes=sum(f.source.size for f in c.files)) for c in job.channels
    ]
    hooks = JobHooks(first.hooks, first.copy_hooks, f" on {first.source.name} and others")
    wanted = first.market_filter.market_ids if first.market_filter is not None else None
    seen: list[set[tuple[str, str]]] = [set() for _ in job.channels]
    players: list[ChannelPlayer | None] = []
    for channel, result in zip(job.channels, results, strict=True):
        try:
            players.append(ChannelPlayer(channel.files))
        except MarketStreamsError as exc:
            result.error = str(exc)
            players.append(None)

    def records(index: int, player: ChannelPlayer | None) -> Iterator[Record]:
        if player is None:
            return
        try:
            yield from player
        except ReplayError as exc:
            _fail(results[index], exc, player.name)

    pace = pacer(first.speed, first.tick)
    call = hooks.call
    started = time.perf_counter()
    try:
        for index, record in merge_streams([records(i, p) for i, p in enumerate(players)]):
            result = results[index]
            result.lines += 1
            if result.error is not None:
                continue  # (its player failed: the rest of its records are read, not played)
            if pace is not None:
                pace.wait(record.time)
            try:
                updates = players[index].play(record)  # type: ignore[union-attr]
            except Exception as exc:  # what the live feed raised too, or a bug
                _fail(results[index], exc, result.source)
                continue
            for update in updates:
                book = update.book
                if wanted is not None and book.market not in wanted:
                    continue
                seen[index].add((book.venue, book.market))
                result.updates += 1
                call(book, update.trades)
        for result, player, markets in zip(results, players, seen, strict=True):
            result.markets = len(markets)
            result.skipped = player.feed.stats.malformed if player is not None else 0
            result.results = hooks.none()
        results[0].results = hooks.results(sum(r.updates for r in results))
    finally:
        hooks.close()
    elapsed = time.perf_counter() - started
    for result in results:
        result.seconds = elapsed
    return results


def _fail(result: FileResult, exc: BaseException, name: str) -> None:
    """Mark one channel of a side-by-side job failed."""
    if isinstance(exc, ReplayError):
        result.error, result.error_line = exc.cause, exc.line
        if exc.path != name:
            result.error = f"{exc.path}: {exc.cause}"
        return
    result.error = f"{type(exc).__name__}: {exc}"
    result.error_line = result.lines or None
    if not isinstance(exc, MarketStreamsError):
        logger.error("%s failed", name, exc_info=exc)

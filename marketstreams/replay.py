"""Historical replay: Betfair files through the same MarketCache and hooks as live data, and
marketstreams recordings of any venue through that venue's own feed logic; filtered, at full
speed or at the recorded pace, in parallel across processes, or across machines through any
``concurrent.futures.Executor``.

::

    from marketstreams import replay, ReplayFilter

    result = replay(["data/2026-10/"], hooks=[MyStrategy()], workers=4,
                    market_filter=ReplayFilter(market_types=["WIN"], seconds_to_start=600))
    print(result.results[0])     # MyStrategy's per-file results, merged

How hooks and results work, in every mode alike:

* Every source file is replayed on its own, from a fresh cache, in line order. Betfair's files hold
  one market each, so the order within a market is the order of its file.
* A hook is any ``hook(book, trades)`` (plain or async: an async hook is awaited before the next
  update, so replays are deterministic). A hook *object* is copied (``copy.deepcopy``) for each
  file, so it starts every file with the state you gave it; if it has a ``result()`` method, that
  is called at the end of each file. A hook *function* is called as it is (with ``workers > 1`` it
  runs in another process: return results through ``result()``, not through globals).
* ``ReplayResult.results[i]`` is hook ``i``'s per-file results merged, in source order, by
  ``reducer`` (default :func:`merge_results`: dicts updated, lists concatenated, numbers summed,
  anything else listed). Hooks without ``result()`` give None.
* A file that fails (a corrupt line, a truncated archive) is reported in ``ReplayResult.errors``
  with its path and line, and the other files' results still arrive. ``strict=True`` stops at the
  first bad line; by default bad lines are counted and logged (``FileResult.skipped``).

Recordings (files written by :class:`~marketstreams.recording.Recorder`, found by their header,
in any folder given) are replayed per *channel*: all the files of one recorded connection, in
order, across rotations and days, as one job. Each record goes through a feed of its venue built
from the header (``luno.Feed``, ``bitmex.Feed``...): every received frame through the same
protocol core as live, every recorded disconnect and reconnect where it happened, so the hooks
get the same updates, books (full depth) and trades as the live hooks got. ``FileResult.lines``
counts records there, ``skipped`` the frames the live feed skipped as well. Betfair
historical files the recorder wrote beside a recording are skipped when the recording itself is
replayed in the same call (they hold the same data).

``speed`` paces the replay: None (the default) goes as fast as it can, 1 at the recorded pace
(receive times of recordings, publish times ``pt`` of Betfair files), 10 ten times faster.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import copy
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

import orjson

from .exceptions import ConfigurationError, MalformedFrameError, MarketStreamsError, ReplayError
from .hooks import Hook, report_error
from .recording.play import RecordingFeed
from .sources import Source, discover, iter_line_runs
from .venues import registry
from .venues.registry import HistoricalCache

if TYPE_CHECKING:
    from .recording.reader import RecordingFile

__all__ = [
    "FileResult",
    "RecordingFeed",
    "ReplayFilter",
    "ReplayResult",
    "merge_results",
    "replay",
]

logger = logging.getLogger("marketstreams.replay")


# -- filters ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which markets, and which moments of them, reach the hooks.

    The first six fields select markets from their market definition (None = any); markets that
    fail them are dropped as soon as their definition is seen and never get a book. ``inplay``
    (True: in-play only; False: pre-play only) and ``seconds_to_start`` (only the last N seconds
    before the scheduled start, and never in play) select moments: the book is kept up to date,
    hooks are called only inside the window (flumine's ``inplay`` / ``seconds_to_start``).
    """

    market_ids: frozenset[str] | None = None
    event_type_ids: frozenset[str] | None = None
    country_codes: frozenset[str] | None = None
    market_types: frozenset[str] | None = None
    venues: frozenset[str] | None = None
    event_ids: frozenset[str] | None = None
    inplay: bool | None = None
    seconds_to_start: float | None = None

    @classmethod
    def make(
        cls,
        *,
        market_ids: Iterable[str] | None = None,
        event_type_ids: Iterable[str | int] | None = None,
        country_codes: Iterable[str] | None = None,
        market_types: Iterable[str] | None = None,
        venues: Iterable[str] | None = None,
        event_ids: Iterable[str | int] | None = None,
        inplay: bool | None = None,
        seconds_to_start: float | None = None,
    ) -> ReplayFilter:
        """Build a filter from any iterables (ids may be ints or strings)."""

        def norm(values: Iterable[Any] | None) -> frozenset[str] | None:
            if values is None:
                return None
            if isinstance(values, str | int):
                values = [values]
            return frozenset(str(v) for v in values)

        if seconds_to_start is not None and seconds_to_start < 0:
            raise ConfigurationError("seconds_to_start must be >= 0")
        return cls(
            norm(market_ids),
            norm(event_type_ids),
            norm(country_codes),
            norm(market_types),
            norm(venues),
            norm(event_ids),
            inplay,
            seconds_to_start,
        )

    def accepts_definition(self, market_id: str, definition: dict[str, Any] | None) -> bool | None:
        """True/False when the market is in/out; None when it needs a definition to decide."""
        if self.market_ids is not None and market_id not in self.market_ids:
            return False
        checks = (
            (self.event_type_ids, "eventTypeId"),
            (self.country_codes, "countryCode"),
            (self.market_types, "marketType"),
            (self.venues, "venue"),
            (self.event_ids, "eventId"),
        )
        if all(wanted is None for wanted, _ in checks):
            return True
        if definition is None:
            return None
        for wanted, key in checks:
            if wanted is not None:
                value = definition.get(key)
                if value is None or str(value) not in wanted:
                    return False
        return True

    @property
    def has_window(self) -> bool:
        return self.inplay is not None or self.seconds_to_start is not None

    def in_window(self, book: Any) -> bool:
        """Whether hooks see ``book`` now (in-play / pre-play / seconds before the start)."""
        inplay = bool(book.inplay)
        if self.inplay is not None and inplay != self.inplay:
            return False
        if self.seconds_to_start is not None:
            if inplay:
                return False
            start = _market_start_ms(book)
            now = book.publish_time
            if start is None or now is None:
                return False
            if (start - now) / 1000.0 > self.seconds_to_start:
                return False
        return True


def _market_start_ms(book: Any) -> int | None:
    definition = book.market_definition
    if not definition:
        return None
    cached = definition.get("_marketstreams_start_ms")
    if cached is not None:
        return int(cached)
    value = definition.get("marketTime")
    if not value:
        return None
    from datetime import datetime

    try:
        ms = int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
    definition["_marketstreams_start_ms"] = ms
    return ms


# -- results ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FileResult:
    """What one source gave: counts, the hooks' per-file results, and its error if it failed.

    ``lines``: lines of data read (blank ones not counted); ``markets``: distinct markets the
    source made a book for (a Betfair file: a market the cache held, a bad line's included);
    ``updates``: books handed to the hooks; ``skipped``: bad lines skipped."""

    source: str
    lines: int = 0
    markets: int = 0
    updates: int = 0
    skipped: int = 0
    filtered_markets: int = 0
    seconds: float = 0.0
    bytes: int = 0
    results: list[Any] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None


@dataclass(slots=True)
class ReplayResult:
    """The whole replay: per-file results in source order, merged hook results, totals."""

    files: list[FileResult]
    results: list[Any]
    seconds: float

    @property
    def errors(self) -> list[ReplayError]:
        return [
            ReplayError(f.source, f.error_line, f.error) for f in self.files if f.error is not None
        ]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def markets(self) -> int:
        return sum(f.markets for f in self.files)

    @property
    def updates(self) -> int:
        return sum(f.updates for f in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "markets": self.markets,
            "updates": self.updates,
            "lines": self.lines,
            "skipped": sum(f.skipped for f in self.files),
            "errors": [str(e) for e in self.errors],
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines / self.seconds) if self.seconds else None,
        }

    def as_dict(self) -> dict[str, Any]:
        out = self.summary()
        out["per_file"] = [asdict(f) for f in self.files]
        return out


def merge_results(values: Sequence[Any]) -> Any:
    """The default reducer: per-file results of one hook, in source order, into one value.

    Dicts are merged (later files win on equal keys), lists concatenated, numbers summed; None
    values are ignored; anything else comes back as the list of values.
    """
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        merged: dict[Any, Any] = {}
        for v in present:
            merged.update(v)
        return merged
    if all(isinstance(v, list) for v in present):
        return [x for v in present for x in v]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return sum(present)
    return present


# -- one file -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    source: Source
    hooks: list[Any]
    market_filter: ReplayFilter | None
    strict: bool
    copy_hooks: bool
    speed: float | None = None


@dataclass(slots=True)
class _RecordingJob:
    """One recorded channel: its files in order."""

    files: list[RecordingFile]
    hooks: list[Any]
    market_filter: ReplayFilter | None
    strict: bool
    copy_hooks: bool
    speed: float | None = None

    @property
    def source(self) -> Source:
        return self.files[0].source


def _run_any(job: _Job | _RecordingJob) -> FileResult:
    """Replay one job of either kind (what workers run)."""
    if isinstance(job, _RecordingJob):
        return _run_recording_job(job)
    return _run_job(job)


def _run_job(job: _Job) -> FileResult:
    """Replay one source (runs in a worker process, on a cluster node, or in-process)."""
    source = job.source
    result = FileResult(source.name, bytes=source.size)
    hooks_in = [
        copy.deepcopy(h) if job.copy_hooks and not _is_function(h) else h for h in job.hooks
    ]
    hooks = [h if isinstance(h, Hook) else Hook(h) for h in hooks_in]
    calls = [(h, h.fn, h.is_async) for h in hooks]
    flt = job.market_filter
    window = flt is not None and flt.has_window
    loop: asyncio.AbstractEventLoop | None = None
    if any(h.is_async for h in hooks):
        loop = asyncio.new_event_loop()
    cache = _historical_cache()
    apply = cache.apply
    decided: dict[str, bool] = {}  # market id -> passes the market filter
    excluded = 0
    started = time.perf_counter()
    loads = orjson.loads
    bad_line = (orjson.JSONDecodeError, MalformedFrameError, AttributeError)
    empty: list[Any] = []
    lineno = blank = updates = 0  # counted in locals: this loop runs once per line
    seen: set[str] = set()  # markets the cache made a book for (evicted ones included)
    created = 0  # cache.created when `seen` was last brought up to date
    pacer = _pacer(job.speed)
    decode_first = pacer is not None or flt is not None  # they read the message first

    def filtered(line: bytes) -> list[Any]:
        """Pace and filter one line, then apply what is left."""
        nonlocal excluded
        message = loads(line)
        if pacer is not None and message.__class__ is dict:
            pt = message.get("pt")
            if isinstance(pt, int | float):
                pacer.wait(pt / 1000.0)
        if flt is not None:
            mcs = message.get("mc") if message.__class__ is dict else None
            if mcs:
                kept = []
                for mc in mcs:
                    mid = mc.get("id")
                    ok = decided.get(mid)
                    if ok is None:
                        ok = flt.accepts_definition(mid, mc.get("marketDefinition"))
                        if ok is not None:
                            decided[mid] = ok
                            if not ok:
                                excluded += 1
                                cache.markets.pop(mid, None)
                    if ok is not False:
                        kept.append(mc)
                if not kept:
                    return []
                message["mc"] = kept
        return apply(message)

    # the cache decodes the line itself unless the filter or the pacer read it first
    apply_line = filtered if decode_first else apply
    dispatch = bool(calls) or flt is not None

    try:
        for before, block in iter_line_runs(source):
            for lineno, line in enumerate(block, before + 1):
                if not line:
                    blank += 1
                    continue
                try:
                    books = apply_line(line)
                except bad_line as exc:
                    if line.isspace():  # blank lines are not lines of data
                        blank += 1
                        continue
                    if cache.created != created:  # it made a book before it failed
                        created = cache.created
                        seen.update(cache.markets)
                    if job.strict:
                        raise ReplayError(source.name, lineno, _short(exc)) from None
                    result.skipped += 1
                    logger.warning(
                        "%s:%d: skipped a bad line: %s", source.name, lineno, _short(exc)
                    )
                    continue
                if cache.created != created:  # a new market: its book is among these
                    created = cache.created
                    seen.update([book.market_id for book in books])
                if not dispatch:  # no hook, no filter: nothing to do per book
                    updates += len(books)
                    continue
                for book in books:
                    if flt is not None:
                        if window and not flt.in_window(book):
                            continue
                        if decided.get(book.market_id) is None:
                            continue  # no definition yet: cannot tell whether it is wanted
                    updates += 1
                    for hook, fn, is_async in calls:
                        # Replays wait for every hook (async ones too): they are deterministic.
                        try:
                            if is_async:
                                loop.run_until_complete(fn(book, empty))  # type: ignore[union-attr, arg-type]
                            else:
                                fn(book, empty)
                        except Exception:
                            report_error(hook, f" on {source.name}")
        result.lines, result.updates = lineno - blank, updates
        result.markets = len(seen)
        for hook in hooks:
            hook.stats.offered = hook.stats.calls = result.updates
        result.filtered_markets = excluded
        result.results = [_result_of(h) for h in hooks_in]
    except ReplayError as exc:
        result.lines, result.updates = lineno - blank, updates
        result.error, result.error_line = exc.cause, exc.line
        result.results = [None for _ in hooks_in]
    except Exception as exc:  # a bug or a hook's result() failing: report, keep the others
        result.lines, result.updates = lineno - blank, updates
        result.error, result.error_line = f"{type(exc).__name__}: {exc}", lineno or None
        result.results = [None for _ in hooks_in]
        logger.exception("%s failed", source.name)
    finally:
        if loop is not None:
            loop.close()
    result.seconds = time.perf_counter() - started
    return result


def _historical_cache() -> HistoricalCache:
    """The cache that reads historical files (Betfair's: the only venue that publishes them)."""
    make = registry.get("betfair").historical
    if make is None:  # pragma: no cover - the registry's Betfair entry has one
        raise ConfigurationError("no venue reads historical files")
    return make()


def _pacer(speed: float | None) -> Any:
    if not speed:
        return None
    from .recording.play import Pacer

    return Pacer(speed)


def _run_recording_job(job: _RecordingJob) -> FileResult:
    """Replay one recorded channel through its venue's feed logic (see the module docstring)."""
    from .recording.play import ChannelPlayer

    first = job.files[0].source
    result = FileResult(first.name, bytes=sum(f.source.size for f in job.files))
    hooks_in = [
        copy.deepcopy(h) if job.copy_hooks and not _is_function(h) else h for h in job.hooks
    ]
    hooks = [h if isinstance(h, Hook) else Hook(h) for h in hooks_in]
    wanted = job.market_filter.market_ids if job.market_filter is not None else None
    loop: asyncio.AbstractEventLoop | None = None
    if any(h.is_async for h in hooks):
        loop = asyncio.new_event_loop()
    seen: set[tuple[str, str]] = set()
    pacer = _pacer(job.speed)
    started = time.perf_counter()
    player: ChannelPlayer | None = None
    try:
        player = ChannelPlayer(job.files)
        play = player.play
        for record in player:
            result.lines += 1
            if pacer is not None:
                pacer.wait(record.time)
            for update in play(record):
                book = update.book
                if wanted is not None and book.market not in wanted:
                    continue
                seen.add((book.venue, book.market))
                result.updates += 1
                trades = update.trades
                for hook in hooks:
                    if hook.is_async:
                        try:
                            coro = hook.fn(book, trades)
                            loop.run_until_complete(coro)  # type: ignore[union-attr, arg-type]
                            hook.stats.calls += 1
                        except Exception:
                            hook.stats.errors += 1
                            logger.exception("hook %s raised on %s", hook.name, first.name)
                    else:
                        hook._call_sync(book, trades)
        result.markets = len(seen)
        for hook in hooks:
            hook.stats.offered = hook.stats.calls = result.updates
        result.skipped = player.feed.stats.malformed
        result.results = [_result_of(h) for h in hooks_in]
    except ReplayError as exc:
        result.error, result.error_line = exc.cause, exc.line
        if exc.path != first.name:
            result.error = f"{exc.path}: {exc.cause}"
        result.results = [None for _ in hooks_in]
    except Exception as exc:  # what the live feed raised too (refused credentials...), or a bug
        result.error = f"{type(exc).__name__}: {exc}"
        result.error_line = result.lines or None
        result.results = [None for _ in hooks_in]
        if not isinstance(exc, MarketStreamsError):
            logger.exception("%s failed", first.name)
    finally:
        if loop is not None:
            loop.close()
    result.seconds = time.perf_counter() - started
    return result


def _is_function(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isbuiltin(obj)


def _result_of(hook: Any) -> Any:
    fn = getattr(hook, "result", None)
    return fn() if callable(fn) and not _is_function(hook) else None


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "..."


# -- the whole replay ---------------------------------------------------------------------------


def replay(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    hooks: Iterable[Any] = (),
    *,
    market_filter: ReplayFilter | dict[str, Any] | None = None,
    workers: int = 1,
    executor: cf.Executor | None = None,
    reducer: Callable[[Sequence[Any]], Any] = merge_results,
    strict: bool = False,
    progress: Callable[[FileResult, int, int], None] | None = None,
    speed: float | None = None,
) -> ReplayResult:
    """Replay Betfair historical files and marketstreams recordings (files, folders, .tar
    archives) through hooks.

    ``workers`` > 1 spreads the files over that many processes; ``executor`` takes any
    ``concurrent.futures.Executor`` instead (a Dask ``Client.get_executor()`` runs the same call
    across a cluster). ``progress(file_result, done, total)`` is called as each file finishes.
    ``speed``: None as fast as possible, 1 the recorded pace, 10 ten times faster. See the module
    docstring for how hooks and results behave, and for recordings.
    """
    started = time.perf_counter()
    if isinstance(market_filter, dict):
        market_filter = ReplayFilter.make(**market_filter)
    if workers < 1:
        raise ConfigurationError("workers must be at least 1")
    if speed is not None and not speed > 0:
        raise ConfigurationError("speed must be positive (1 is the recorded pace)")
    found = discover(sources)
    hook_list = list(hooks)
    parallel = executor is not None or workers > 1
    jobs = _jobs(found, hook_list, market_filter, strict, speed)
    results: list[FileResult | None] = [None] * len(jobs)
    total = len(jobs)

    def finish(i: int, fr: FileResult, done: int) -> None:
        results[i] = fr
        if fr.error is not None:
            logger.error("%s: %s", fr.source, fr.error)
        if progress is not None:
            progress(fr, done, total)

    if not parallel:
        for i, job in enumerate(jobs):
            finish(i, _run_any(job), i + 1)
    else:
        own = executor is None
        if own:
            _preload(jobs)
        pool: cf.Executor = executor or cf.ProcessPoolExecutor(max_workers=workers)
        try:
            # Largest files first, so one big file does not finish last on its own.
            order = sorted(range(len(jobs)), key=lambda i: -_job_size(jobs[i]))
            futures = {pool.submit(_run_any, jobs[i]): i for i in order}
            for done, fut in enumerate(cf.as_completed(futures), 1):
                i = futures[fut]
                try:
                    fr = fut.result()
                except Exception as exc:  # the worker died or could not unpickle the job
                    fr = FileResult(jobs[i].source.name, error=f"{type(exc).__name__}: {exc}")
                    fr.results = [None for _ in hook_list]
                finish(i, fr, done)
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
    files = [r for r in results if r is not None]
    merged = [reducer([f.results[k] for f in files if f.results]) for k in range(len(hook_list))]
    return ReplayResult(files, merged, time.perf_counter() - started)


def _jobs(
    found: list[Source],
    hooks: list[Any],
    market_filter: ReplayFilter | None,
    strict: bool,
    speed: float | None,
) -> list[_Job | _RecordingJob]:
    """A job per Betfair file and per recorded channel, in the order of their first source."""
    from .recording.play import find_recordings

    groups, others = find_recordings(found)
    if groups and others:
        # Betfair historical files written beside a recording hold the same data: the recording
        # (with its reconnects) is what is replayed.
        channels = [f"-{g[0].header.channel}-" for g in groups]
        companions = [s for s in others if any(c in s.basename for c in channels)]
        if companions:
            logger.info("skipping %d historical file(s) of replayed recordings", len(companions))
            others = [s for s in others if s not in companions]
    position = {s: i for i, s in enumerate(found)}
    jobs: list[_Job | _RecordingJob] = [
        _Job(s, hooks, market_filter, strict, True, speed) for s in others
    ]
    jobs.extend(_RecordingJob(g, hooks, market_filter, strict, True, speed) for g in groups)
    jobs.sort(key=lambda j: position[j.source])
    return jobs


def _preload(jobs: Sequence[_Job | _RecordingJob]) -> None:
    """Import what the jobs run on before the pool starts: its workers are forked from this
    process (on Linux) and inherit it, instead of each importing it again (~0.15 s a worker)."""
    venues = set()
    for job in jobs:
        if isinstance(job, _Job):
            venues.add("betfair")  # its historical files
        elif job.files[0].header.venue in registry.names():  # (else: the job says)
            venues.add(job.files[0].header.venue)
    for name in sorted(venues):
        registry.get(name)  # imports its feed (and cache)


def _job_size(job: _Job | _RecordingJob) -> int:
    if isinstance(job, _RecordingJob):
        return sum(f.source.size for f in job.files)
    return job.source.size


# -- command line -------------------------------------------------------------------------------


class ProgressBar:
    """Files, lines, markets, throughput and ETA on one terminal line (silent when not a tty)."""

    def __init__(self, total_files: int, total_bytes: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.enabled = self.out.isatty()
        self.total_files = total_files
        self.total_bytes = max(total_bytes, 1)
        self.bytes = 0
        self.lines = 0
        self.markets = 0
        self.started = time.perf_counter()

    def __call__(self, fr: FileResult, done: int, total: int) -> None:
        self.bytes += fr.bytes
        self.lines += fr.lines
        self.markets += fr.markets
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.lines / elapsed if elapsed else 0.0
        frac = self.bytes / self.total_bytes
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        width = 24
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.out.write(
            f"\r[{bar}] files {done}/{total}  lines {self.lines:,}  markets {self.markets:,}"
            f"  {rate:,.0f} lines/s  ETA {eta:5.1f} s "
        )
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


def main(argv: list[str] | None = None) -> int:
    """``marketstreams replay PATH... [--workers N] [--speed X] [--json] [filters]``."""
    import argparse

    p = argparse.ArgumentParser(prog="marketstreams replay", description=replay.__doc__)
    p.add_argument("paths", nargs="+", help="files, folders or .tar archives")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--strict", action="store_true", help="fail a file at its first bad line")
    p.add_argument(
        "--speed",
        type=float,
        help="pace: 1 replays at the recorded pace, 10 ten times faster (default: full speed)",
    )
    p.add_argument("--market-ids", nargs="*")
    p.add_argument("--event-type-ids", nargs="*")
    p.add_argument("--country-codes", nargs="*")
    p.add_argument("--market-types", nargs="*")
    p.add_argument("--venues", nargs="*")
    p.add_argument("--inplay", action="store_true", help="in-play only")
    p.add_argument("--preplay", action="store_true", help="pre-play only")
    p.add_argument("--seconds-to-start", type=float, help="only the last N seconds before start")
    args = p.parse_args(argv)
    if args.inplay and args.preplay:
        p.error("--inplay and --preplay exclude each other")
    if args.speed is not None and not args.speed > 0:
        p.error("--speed must be positive")
    flt = ReplayFilter.make(
        market_ids=args.market_ids,
        event_type_ids=args.event_type_ids,
        country_codes=args.country_codes,
        market_types=args.market_types,
        venues=args.venues,
        inplay=True if args.inplay else (False if args.preplay else None),
        seconds_to_start=args.seconds_to_start,
    )
    any_filter = flt != ReplayFilter()
    try:
        found = discover(args.paths)
    except (ConfigurationError, ReplayError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(len(found), sum(s.size for s in found))
    try:
        result = replay(
            args.paths,
            market_filter=flt if any_filter else None,
            workers=args.workers,
            strict=args.strict,
            progress=bar,
            speed=args.speed,
        )
    finally:
        bar.close()
    for err in result.errors:
        print(f"replay: error: {err}", file=sys.stderr)
    if args.json:
        print(orjson.dumps(result.summary()).decode())
    print(
        f"replay: files={len(result.files)} markets={result.markets} "
        f"updates={result.updates} seconds={result.seconds:.2f}"
    )
    return 1 if result.errors else 0

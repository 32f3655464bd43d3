"""The Betfair historical-file job: one file, line by line, through the venue's own cache.

Each line goes through the same cache as a live stream's line (Betfair's ``MarketCache``, reached
through the venue registry), the market filter drops unwanted markets as soon as their
definition is seen, and the hooks get every book the line changed, in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..exceptions import ConfigurationError, MalformedFrameError, ReplayError
from ..sources import Source, iter_line_runs
from ..venues import registry
from ..venues.registry import HistoricalCache
from .filters import ReplayFilter
from .jobs import JobHooks, short
from .pacing import Pacer, pacer
from .results import FileResult

__all__ = ["FileJob", "run_file_job"]

logger = logging.getLogger("marketstreams.replay")

# what a bad line raises: not JSON, not a stream message, a message of the wrong shape
_BAD_LINE = (orjson.JSONDecodeError, MalformedFrameError, AttributeError)


@dataclass(slots=True)
class FileJob:
    """One historical file to replay (what a worker is sent)."""

    source: Source
    hooks: list[Any]
    market_filter: ReplayFilter | None
    strict: bool
    copy_hooks: bool
    speed: float | None = None
    tick: Callable[[float], None] | None = None  # in-process only: see Pacer


def historical_cache() -> HistoricalCache:
    """The cache that reads historical files (Betfair's: the only venue that publishes them)."""
    make = registry.get("betfair").historical
    if make is None:  # pragma: no cover - the registry's Betfair entry has one
        raise ConfigurationError("no venue reads historical files")
    return make()


def run_file_job(job: FileJob) -> FileResult:
    """Replay one file (in a worker process, on a cluster node, or in-process)."""
    source = job.source
    result = FileResult(source.name, bytes=source.size)
    hooks = JobHooks(job.hooks, job.copy_hooks, f" on {source.name}")
    started = time.perf_counter()
    try:
        cache = historical_cache()
        decided: dict[str, bool] = {}  # market id -> passes the market filter
        apply_line = _line_applier(cache, job.market_filter, pacer(job.speed, job.tick), decided)
        _play(job, cache, apply_line, hooks if hooks else None, decided, result)
        result.filtered_markets = sum(1 for ok in decided.values() if not ok)
        if result.lines and result.skipped == result.lines:
            # not one line was a stream message: not a stream file, not an empty replay
            raise ReplayError(source.name, None, f"none of its {result.lines} lines is valid")
        result.results = hooks.results(result.updates)
    except ReplayError as exc:
        result.error, result.error_line = exc.cause, exc.line
        result.results = hooks.none()
    except Exception as exc:  # a bug or a hook's result() failing: report, keep the others
        result.error = f"{type(exc).__name__}: {exc}"
        result.results = hooks.none()
        logger.exception("%s failed", source.name)
    finally:
        hooks.close()
    result.seconds = time.perf_counter() - started
    return result


def _line_applier(
    cache: HistoricalCache,
    flt: ReplayFilter | None,
    pace: Pacer | None,
    decided: dict[str, bool],
) -> Callable[[bytes], list[Any]]:
    """``cache.apply`` itself (it decodes the line), unless the filter or the pacer reads each
    message first: then a function that decodes, paces, drops the unwanted markets' changes
    (``decided`` keeps each market's verdict) and applies what is left."""
    apply = cache.apply
    if flt is None and pace is None:
        return apply
    loads = orjson.loads
    fast = cache.apply_line  # (Betfair: compiled, straight from the line's bytes)

    def filtered(line: bytes) -> list[Any]:
        books = fast(line)
        if books is not None:  # plain deltas to markets the cache holds (the filter let in)
            if pace is not None and isinstance(books[0].publish_time, int | float):
                pace.wait(books[0].publish_time / 1000.0)
            return books if flt is None else _decide_by_id(books, flt, decided, cache)
        message = loads(line)
        if pace is not None and message.__class__ is dict:
            pt = message.get("pt")
            if isinstance(pt, int | float):
                pace.wait(pt / 1000.0)
        if flt is not None:
            mcs = message.get("mc") if message.__class__ is dict else None
            if mcs:
                kept = []
                for mc in mcs:
                    mid = mc.get("id")
                    ok = decided.get(mid)
                    if ok is None:
                        ok = _verdict(mid, mc.get("marketDefinition"), flt, decided, cache)
                    if ok is not False:
                        kept.append(mc)
                if not kept:
                    return []
                message["mc"] = kept
        return apply(message)

    return filtered


def _is_quiet(line: bytes, markets: dict[str, Any], quiet: set[str]) -> bool:
    """Whether a line can go undecoded: the file's cache holds one market, the hook wants only
    its definitions, the line names that market and carries no definition. (A line of another
    market, say a new one whose first change has no definition, is always decoded.)"""
    if len(markets) != 1 or b'"marketDefinition"' in line:
        return False
    for mid in markets:
        return mid in quiet and b'"%s"' % mid.encode() in line
    return False  # pragma: no cover - one market, above


def _decide_by_id(
    books: list[Any], flt: ReplayFilter, decided: dict[str, bool], cache: HistoricalCache
) -> list[Any]:
    """What the decoding path decides for markets still undecided: on the definition the line
    carried (the book's, just applied), else on the market id alone for filters that can."""
    if all(decided.get(book.market_id) is not None for book in books):
        return books
    kept = []
    for book in books:
        ok = decided.get(book.market_id)
        if ok is None:
            ok = _verdict(book.market_id, book.market_definition, flt, decided, cache)
        if ok is not False:
            kept.append(book)
    return kept


def _verdict(
    mid: Any,
    definition: Any,
    flt: ReplayFilter,
    decided: dict[str, bool],
    cache: HistoricalCache,
) -> bool | None:
    """The filter's verdict on a market not yet decided, kept once given (a market it
    leaves out is dropped from the cache)."""
    ok = flt.accepts_definition(mid, definition)
    if ok is not None:
        decided[mid] = ok
        if not ok:
            cache.markets.pop(mid, None)
    return ok


_LOGGED_BAD_LINES = 10  # a file's first bad lines are logged, the others only counted


def _log_bad_line(name: str, lineno: int, exc: Exception, skipped: int) -> None:
    more = " (further bad lines of this file: counted, not logged)"
    tail = more if skipped == _LOGGED_BAD_LINES else ""
    logger.warning("%s:%d: skipped a bad line: %s%s", name, lineno, short(exc), tail)


def _play(
    job: FileJob,
    cache: HistoricalCache,
    apply_line: Callable[[bytes], list[Any]],
    hooks: JobHooks | None,
    decided: dict[str, bool],
    result: FileResult,
) -> None:
    """The hot loop: every line of the file applied, the books it changed handed to the hooks.
    Counts go to ``result`` however it ends; bad lines are skipped and counted, or (``strict``)
    raise ReplayError. A line of a market the hook wants only definitions of (its
    ``quiet_markets``) is counted and not decoded (see _is_quiet); runs of lines the hook waits
    for none of (its ``idle_until``) are applied in one call, their books not handed out."""
    call = hooks.call if hooks is not None else None
    quiet = hooks.quiet if hooks is not None else None
    idle = hooks.idle if hooks is not None and job.speed is None else None
    bulk = cache.apply_idle_lines
    source = job.source
    flt = job.market_filter
    window = flt is not None and flt.has_window
    dispatch = call is not None or flt is not None
    lineno = blank = updates = 0  # counted in locals: this loop runs once per line
    # the compiled path straight from the line's bytes when ``apply_line`` is the cache itself
    fast = cache.apply_line if apply_line == cache.apply else None
    no_trades: list[Any] = []  # historical files carry no single trades
    seen: set[str] = set()  # markets the cache made a book for (evicted ones included)
    created = 0  # cache.created when `seen` was last brought up to date
    try:
        for before, block in iter_line_runs(source):
            lineno = before
            lines = iter(block)
            for line in lines:
                lineno += 1
                if idle:
                    taken, left = bulk(line, lines, idle)
                    if taken:
                        result.idle_lines += taken
                        if left is None:  # (the block ran out)
                            lineno += taken - 1
                            continue
                        lineno += taken
                        line = left
                if not line:
                    blank += 1
                    continue
                if quiet and _is_quiet(line, cache.markets, quiet):
                    result.quiet_lines += 1
                    continue
                try:
                    books = fast(line) if fast is not None else None
                    if books is None:
                        books = apply_line(line)
                except _BAD_LINE as exc:
                    if line.isspace():  # blank lines are not lines of data
                        blank += 1
                        continue
                    if cache.created != created:  # it made a book before it failed
                        created = cache.created
                        seen.update(cache.markets)
                    if job.strict:
                        raise ReplayError(source.name, lineno, short(exc)) from None
                    result.skipped += 1
                    if result.skipped <= _LOGGED_BAD_LINES:
                        _log_bad_line(source.name, lineno, exc, result.skipped)
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
                    if call is not None:
                        call(book, no_trades)
        result.markets = len(seen)
    except ReplayError:
        raise
    except Exception:
        result.error_line = lineno or None
        raise
    finally:
        result.lines, result.updates = lineno - blank, updates

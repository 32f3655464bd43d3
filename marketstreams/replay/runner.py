"""The whole replay: sources found, one job per Betfair file or recorded channel, run in this
process, on worker processes or on any ``concurrent.futures.Executor``, results merged."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..exceptions import ConfigurationError
from ..sources import Source, discover
from ..venues import registry
from .filters import ReplayFilter
from .historical import FileJob, run_file_job
from .recordings import (
    RecordingJob,
    SideBySideJob,
    find_recordings,
    run_recording_job,
    run_side_by_side,
)
from .results import FileResult, ReplayResult, merge_results

__all__ = ["Job", "replay", "run_job"]

logger = logging.getLogger("marketstreams.replay")

Job = FileJob | RecordingJob | SideBySideJob


def run_job(job: Job) -> list[FileResult]:
    """Replay one job of any kind (what workers run): a FileResult per file or channel."""
    if isinstance(job, SideBySideJob):
        return run_side_by_side(job)
    if isinstance(job, RecordingJob):
        return [run_recording_job(job)]
    return [run_file_job(job)]


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
    on_record: Callable[[float], None] | None = None,
) -> ReplayResult:
    """Replay Betfair historical files and marketstreams recordings (files, folders, .tar
    archives) through hooks.

    ``workers`` > 1 spreads the files over that many processes; ``executor`` takes any
    ``concurrent.futures.Executor`` instead (a Dask ``Client.get_executor()`` runs the same call
    across a cluster). ``progress(file_result, done, total)`` is called as each file finishes.
    ``speed``: None as fast as possible, 1 the recorded pace, 10 ten times faster; at a speed,
    recorded channels are played together, in receive-time order across channels (see the
    module docstring for the order rules, how hooks and results behave, and recordings).
    ``on_record(t)`` is called with each record's time as a paced replay plays it (in this
    process only: not with ``workers`` > 1 or an ``executor``).
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
    jobs = _jobs(found, hook_list, market_filter, strict, speed, None if parallel else on_record)
    results: list[list[FileResult]] = [[] for _ in jobs]
    total = sum(len(j.channels) if isinstance(j, SideBySideJob) else 1 for j in jobs)
    done = 0

    def finish(i: int, frs: list[FileResult]) -> None:
        nonlocal done
        results[i] = frs
        for fr in frs:
            done += 1
            if fr.error is not None:  # (also in the result: a command reporting it drops this)
                logger.error("%s: %s", fr.source, fr.error, extra={"in_result": True})
            if progress is not None:
                progress(fr, done, total)

    if not parallel:
        for i, job in enumerate(jobs):
            finish(i, run_job(job))
    else:
        own = executor is None
        if own:
            _preload(jobs)
        # (never more processes than jobs: a fork start method starts them all at once)
        size = min(workers, max(1, len(jobs)))
        pool: cf.Executor = executor or cf.ProcessPoolExecutor(max_workers=size)
        interrupted = False
        try:
            # Largest files first, so one big file does not finish last on its own.
            order = sorted(range(len(jobs)), key=lambda i: -_job_size(jobs[i]))
            futures = {pool.submit(run_job, jobs[i]): i for i in order}
            for fut in cf.as_completed(futures):
                i = futures[fut]
                try:
                    frs = fut.result()
                except Exception as exc:  # the worker died or could not unpickle the job
                    fr = FileResult(jobs[i].source.name, error=f"{type(exc).__name__}: {exc}")
                    fr.results = [None for _ in hook_list]
                    frs = [fr]
                finish(i, frs)
        except BaseException:  # Ctrl-C, SIGINT to this process alone: stop the workers now
            interrupted = True
            raise
        finally:
            if own:
                if interrupted:
                    _stop_workers(pool)
                pool.shutdown(wait=not interrupted, cancel_futures=True)
    files = [r for frs in results for r in frs]
    merged = [reducer([f.results[k] for f in files if f.results]) for k in range(len(hook_list))]
    return ReplayResult(files, merged, time.perf_counter() - started)


def _jobs(
    found: list[Source],
    hooks: list[Any],
    market_filter: ReplayFilter | None,
    strict: bool,
    speed: float | None,
    tick: Callable[[float], None] | None,
) -> list[Job]:
    """A job per Betfair file and per recorded channel, in the order of their first source; at
    a speed, the recorded channels are one job that plays them side by side."""
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
    jobs: list[Job] = [FileJob(s, hooks, market_filter, strict, True, speed, tick) for s in others]
    recorded = [RecordingJob(g, hooks, market_filter, strict, True, speed, tick) for g in groups]
    if speed is not None and len(recorded) > 1:
        jobs.append(SideBySideJob(recorded))
    else:
        jobs.extend(recorded)
    jobs.sort(key=lambda j: position[j.source])
    return jobs


def _stop_workers(pool: cf.Executor) -> None:
    """Terminate a process pool's workers (they would finish their files first otherwise)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()


def _preload(jobs: Sequence[Job]) -> None:
    """Import what the jobs run on before the pool starts: its workers are forked from this
    process (on Linux) and inherit it, instead of each importing it again (~0.15 s a worker)."""
    venues = set()
    for job in jobs:
        if isinstance(job, FileJob):
            venues.add("betfair")  # its historical files
            continue
        for channel in job.channels if isinstance(job, SideBySideJob) else [job]:
            if channel.files[0].header.venue in registry.names():  # (else: the job says)
                venues.add(channel.files[0].header.venue)
    for name in sorted(venues):
        registry.get(name)  # imports its feed (and cache)


def _job_size(job: Job) -> int:
    if isinstance(job, SideBySideJob):
        return sum(_job_size(c) for c in job.channels)
    if isinstance(job, RecordingJob):
        return sum(f.source.size for f in job.files)
    return job.source.size

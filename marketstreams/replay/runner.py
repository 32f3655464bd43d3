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
from .recordings import RecordingJob, find_recordings, run_recording_job
from .results import FileResult, ReplayResult, merge_results

__all__ = ["Job", "replay", "run_job"]

logger = logging.getLogger("marketstreams.replay")

Job = FileJob | RecordingJob


def run_job(job: Job) -> FileResult:
    """Replay one job of either kind (what workers run)."""
    if isinstance(job, RecordingJob):
        return run_recording_job(job)
    return run_file_job(job)


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
            finish(i, run_job(job), i + 1)
    else:
        own = executor is None
        if own:
            _preload(jobs)
        pool: cf.Executor = executor or cf.ProcessPoolExecutor(max_workers=workers)
        try:
            # Largest files first, so one big file does not finish last on its own.
            order = sorted(range(len(jobs)), key=lambda i: -_job_size(jobs[i]))
            futures = {pool.submit(run_job, jobs[i]): i for i in order}
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
) -> list[Job]:
    """A job per Betfair file and per recorded channel, in the order of their first source."""
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
    jobs: list[Job] = [FileJob(s, hooks, market_filter, strict, True, speed) for s in others]
    jobs.extend(RecordingJob(g, hooks, market_filter, strict, True, speed) for g in groups)
    jobs.sort(key=lambda j: position[j.source])
    return jobs


def _preload(jobs: Sequence[Job]) -> None:
    """Import what the jobs run on before the pool starts: its workers are forked from this
    process (on Linux) and inherit it, instead of each importing it again (~0.15 s a worker)."""
    venues = set()
    for job in jobs:
        if isinstance(job, FileJob):
            venues.add("betfair")  # its historical files
        elif job.files[0].header.venue in registry.names():  # (else: the job says)
            venues.add(job.files[0].header.venue)
    for name in sorted(venues):
        registry.get(name)  # imports its feed (and cache)


def _job_size(job: Job) -> int:
    if isinstance(job, RecordingJob):
        return sum(f.source.size for f in job.files)
    return job.source.size

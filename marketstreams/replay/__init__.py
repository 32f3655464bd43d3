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
(receive times of recordings, publish times ``pt`` of Betfair files), 10 ten times faster. It
also sets the order (docs/replay.md, "Order and pace"): at None every file and channel is a job
of its own, with no order across jobs; at a speed the recorded channels play side by side, as
one job, in receive-time order across channels, with one copy of each hook seeing them all (its
``result()`` in the first channel's FileResult), as the live hooks did.

The package: :mod:`.runner` (``replay()``: jobs, workers, results), :mod:`.historical` (the
Betfair file job), :mod:`.recordings` (the recorded-channel job and :class:`RecordingFeed`),
:mod:`.filters`, :mod:`.results`, :mod:`.pacing`, :mod:`.jobs` (what both jobs share),
:mod:`.cli` and :mod:`.progress` (``marketstreams replay``).
"""

from .filters import ReplayFilter
from .recordings import RecordingFeed
from .results import FileResult, ReplayResult, merge_results
from .runner import replay

__all__ = [
    "FileResult",
    "RecordingFeed",
    "ReplayFilter",
    "ReplayResult",
    "merge_results",
    "replay",
]

"""Historical replay: Betfair files through the same MarketCache and hooks as live data, and
marketstreams recordings of any venue through that venue's own feed logic; filtered, at full
speed or at the recorded pace, in parallel across processes, or across machines through any
``concurrent.futures.Executor``.

More in docs/modules.md (``marketstreams.replay``); order and pace: docs/replay.md.
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

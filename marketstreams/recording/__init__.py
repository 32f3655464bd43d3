"""Recording any venue at the connection layer, and reading the recordings back.

::

    from marketstreams.recording import Recorder

    with Recorder("recordings/") as recorder:
        feed = luno.Feed("XBTZAR", key, secret, record=recorder)
        ...

Replay goes through :func:`marketstreams.replay` (which recognises recordings by their header)
or :class:`~marketstreams.replay.RecordingFeed` (a feed for the Updater), both in
:mod:`marketstreams.replay.recordings`. The format is described in
:mod:`marketstreams.recording.format`; see docs/recording.md.
"""

from typing import Any

from .format import Header, Kind, Record, RecordDecoder
from .reader import RecordingFile, group_channels, peek_header, read_records
from .writer import Channel, Recorder, RecorderStats

__all__ = [
    "Channel",
    "ChannelPlayer",
    "Header",
    "Kind",
    "Pacer",
    "Record",
    "RecordDecoder",
    "Recorder",
    "RecorderStats",
    "RecordingFeed",
    "RecordingFile",
    "feed_for",
    "find_recordings",
    "group_channels",
    "merged",
    "peek_header",
    "read_records",
]

# Playing recordings back lives in marketstreams.replay (which reads recordings through this
# package): these names are still found here, imported on first use so neither package
# imports the other while it loads.
_PLAYBACK = {
    "ChannelPlayer": "recordings",
    "RecordingFeed": "recordings",
    "feed_for": "recordings",
    "find_recordings": "recordings",
    "merged": "recordings",
    "Pacer": "pacing",
}


def __getattr__(name: str) -> Any:
    module = _PLAYBACK.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"marketstreams.replay.{module}"), name)

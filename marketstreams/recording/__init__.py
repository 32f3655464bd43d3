"""Recording any venue at the connection layer, and reading the recordings back.

::

    from marketstreams.recording import Recorder

    with Recorder("recordings/") as recorder:
        feed = luno.Feed("XBTZAR", key, secret, record=recorder)
        ...

Replay goes through :func:`marketstreams.replay` (which recognises recordings by their header)
or :class:`RecordingFeed` (a feed for the Updater). The format is described in
:mod:`marketstreams.recording.format`; see docs/recording.md.
"""

from .format import Header, Kind, Record, RecordDecoder
from .play import ChannelPlayer, Pacer, RecordingFeed, feed_for, find_recordings, merged
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

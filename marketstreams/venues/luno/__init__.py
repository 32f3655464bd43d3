"""Luno: order-level market stream with strict sequence numbers.

``luno.Feed(pair, api_key, api_secret)`` is the feed; :class:`LunoProtocol` is its sans-I/O core,
usable on its own with recorded frames.
"""

from .feed import DEFAULT_URL, Feed
from .protocol import Keepalive, LunoProtocol, OutOfSyncError, Snapshot, Updated

__all__ = [
    "DEFAULT_URL",
    "Feed",
    "Keepalive",
    "LunoProtocol",
    "OutOfSyncError",
    "Snapshot",
    "Updated",
]

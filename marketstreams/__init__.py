"""marketstreams: live market data from Betfair, Luno and BitMEX into consolidated order books.

Feeds (one per venue connection) go into an :class:`Updater`, which keeps the books keyed by
``(venue, market)`` and hands every update to your hooks, sync or async, each on its own delivery
path. See docs/architecture.md.
"""

from .book import OrderBook
from .exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    FrameTooLargeError,
    MalformedFrameError,
    MarketStreamsError,
    ProtocolError,
    ReplayError,
    SequenceGapError,
    SubscriptionError,
    VenueError,
)
from .feed import Feed, FeedStats
from .hooks import Hook, HookStats
from .models import Book, Trade, Update, describe
from .replay import FileResult, ReplayFilter, ReplayResult, merge_results, replay
from .secret import Secret
from .transport.backoff import Backoff
from .updater import Updater

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Backoff",
    "Book",
    "ConfigurationError",
    "ConnectionLostError",
    "Feed",
    "FeedStats",
    "FileResult",
    "FrameTooLargeError",
    "Hook",
    "HookStats",
    "MalformedFrameError",
    "MarketStreamsError",
    "OrderBook",
    "ProtocolError",
    "ReplayError",
    "ReplayFilter",
    "ReplayResult",
    "Secret",
    "SequenceGapError",
    "SubscriptionError",
    "Trade",
    "Update",
    "Updater",
    "VenueError",
    "__version__",
    "describe",
    "merge_results",
    "replay",
]

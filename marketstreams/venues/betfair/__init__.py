"""Betfair Exchange Stream API: caches for live streams and files, a TLS feed with lossless
reconnects, and the certificate login.

::

    from marketstreams.venues import betfair

    cache = betfair.MarketCache()
    for line in open("1.127236622", "rb"):
        books = cache(line)

See docs/betfair.md.
"""

from .cache import MarketCache, OrderCache
from .errors import (
    BetfairAuthenticationError,
    BetfairConfigurationError,
    BetfairStatusError,
    BetfairSubscriptionError,
    ErrorAction,
    LoginError,
    SessionExpiredError,
    classify_error,
)
from .feed import DEFAULT_HOST, DEFAULT_PORT, Feed
from .login import DEFAULT_IDENTITY_URL, BetfairSession, login
from .models import MarketBook, Order, OrderMarket, OrderRunner, RunnerBook, StartingPrice
from .protocol import LineFramer, StreamProtocol, SubscriptionState
from .subscriptions import (
    MarketDataFilter,
    MarketFilter,
    MarketSubscription,
    OrderFilter,
    OrderSubscription,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_IDENTITY_URL",
    "DEFAULT_PORT",
    "BetfairAuthenticationError",
    "BetfairConfigurationError",
    "BetfairSession",
    "BetfairStatusError",
    "BetfairSubscriptionError",
    "ErrorAction",
    "Feed",
    "LineFramer",
    "LoginError",
    "MarketBook",
    "MarketCache",
    "MarketDataFilter",
    "MarketFilter",
    "MarketSubscription",
    "Order",
    "OrderCache",
    "OrderFilter",
    "OrderMarket",
    "OrderRunner",
    "OrderSubscription",
    "RunnerBook",
    "SessionExpiredError",
    "StartingPrice",
    "StreamProtocol",
    "SubscriptionState",
    "classify_error",
    "login",
]

"""BitMEX realtime: tables, price-sorted orderBookL2 books, trades, and a listen() stream API.

``bitmex.Feed(topics)`` is the feed for an :class:`~marketstreams.Updater`;
``bitmex.connect()`` gives the ``async for row in ws.listen("trade", "XBTUSD")`` API;
:class:`BitmexProtocol` is the sans-I/O core, usable on its own with recorded frames.
"""

from .books import Book10Table, BookTable, L2Book
from .feed import DEFAULT_URL, TESTNET_URL, Connection, Feed
from .parse import make_topic, split_topic, trade_from_row
from .protocol import (
    Authenticated,
    AuthenticationFailed,
    BitmexProtocol,
    Counters,
    Info,
    Pong,
    Rows,
    Storage,
    Subscribed,
    SubscriptionFailed,
    Unsubscribed,
    VenueMessage,
    Welcome,
)
from .stream import BitmexStream, connect
from .tables import Table

__all__ = [
    "DEFAULT_URL",
    "TESTNET_URL",
    "Authenticated",
    "AuthenticationFailed",
    "BitmexProtocol",
    "BitmexStream",
    "Book10Table",
    "BookTable",
    "Connection",
    "Counters",
    "Feed",
    "Info",
    "L2Book",
    "Pong",
    "Rows",
    "Storage",
    "Subscribed",
    "SubscriptionFailed",
    "Table",
    "Unsubscribed",
    "VenueMessage",
    "Welcome",
    "connect",
    "make_topic",
    "split_topic",
    "trade_from_row",
]

"""Rebroadcast books over websocket: ``marketstreams proxy`` and the viewer (docs/proxy.md).

:class:`Proxy` serves an :class:`~marketstreams.Updater`'s books on ``/ws`` with a documented
JSON protocol (:mod:`.protocol`), per-client conflating queues (:mod:`.hub`), ``/health`` and
``/metrics``, and with ``app=True`` the single-page viewer from package data.
"""

from .hub import BookState, Client, ClientLimits, Hub
from .protocol import PROTOCOL_VERSION, Request, RequestError, book_id, parse_request
from .server import STATIC_DIR, Proxy

__all__ = [
    "PROTOCOL_VERSION",
    "STATIC_DIR",
    "BookState",
    "Client",
    "ClientLimits",
    "Hub",
    "Proxy",
    "Request",
    "RequestError",
    "book_id",
    "parse_request",
]

"""The Luno mock: ``server`` (the server), ``markets`` (the true books and their updates),
``clients`` (the connections), ``faults`` (the fault switches), ``cli`` (the command line).
More in docs/mock_servers.md."""

from .cli import main, serve
from .markets import book_digest
from .server import LunoMockServer

__all__ = ["LunoMockServer", "book_digest", "main", "serve"]

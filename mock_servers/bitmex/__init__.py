"""The BitMEX mock: ``server`` (the server and its tables), ``markets`` (the true books),
``faults`` (the fault switches), ``cli`` (the command line). More in docs/mock_servers.md."""

from .cli import main
from .markets import trade_values
from .server import DEFAULT_SYMBOLS, BitmexMockServer

__all__ = ["DEFAULT_SYMBOLS", "BitmexMockServer", "main", "trade_values"]

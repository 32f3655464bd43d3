"""The Betfair mock: ``server`` (the Exchange Stream API and its change log), ``markets`` (the
truth, synthetic and recorded sources), ``login`` (certificate login and keep-alive), ``faults``
(the fault switches), ``wire`` (clocks, status lines), ``cli``. More in docs/mock_servers.md."""

from .cli import main
from .markets import RecordedMarkets, SyntheticMarkets
from .server import BetfairMockServer, MockEndpoint, demo_server

__all__ = [
    "BetfairMockServer",
    "MockEndpoint",
    "RecordedMarkets",
    "SyntheticMarkets",
    "demo_server",
    "main",
]

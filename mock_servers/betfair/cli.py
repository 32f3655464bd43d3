"""``python -m mock_servers.betfair`` / ``marketstreams mock betfair``."""

from __future__ import annotations

import argparse
import logging

from ..base import run_until_interrupted
from .server import BetfairMockServer

logger = logging.getLogger("marketstreams.mock.betfair")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketstreams mock betfair", description="A mock Betfair Exchange Stream API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="stream port (0: any free port)")
    parser.add_argument("--app-key", action="append", default=None, help="accepted app key(s)")
    parser.add_argument("--session", action="append", default=None, help="accepted session(s)")
    parser.add_argument("--markets", type=int, default=3, help="synthetic markets")
    parser.add_argument("--runners", type=int, default=4, help="runners per synthetic market")
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second (0: max)")
    parser.add_argument("--source", default=None, help="serve a recorded file instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="stop after N changes")
    parser.add_argument("--batch", type=int, default=1, help="changes generated per wake-up")
    parser.add_argument("--repeat", type=int, default=1, help="serve --source N times over")
    parser.add_argument("--prefill", type=int, default=0, help="generate N changes before serving")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="every new stream starts from the opening state and gets every change as a delta",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """``marketstreams mock betfair --port P --app-key K --session S``: serve until interrupted."""
    args = _parser().parse_args(argv)
    return run_until_interrupted(
        "betfair",
        lambda: BetfairMockServer(
            host=args.host,
            port=args.port,
            app_keys=args.app_key or ["mock-app-key"],
            sessions=args.session or ["mock-session"],
            markets=args.markets,
            runners=args.runners,
            seed=args.seed,
            source=args.source,
            rate=args.rate or None,
            limit=args.limit,
            batch=args.batch,
            repeat=args.repeat,
            prefill=args.prefill,
            replay=args.replay,
        ),
        lambda server: (
            f"betfair mock: stream {server.host}:{server.port} "
            f"login {server.login_url} CA {server.ca_path}"
        ),
    )

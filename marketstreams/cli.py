"""The ``marketstreams`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys

__all__ = ["main"]

MOCK_VENUES = ("betfair", "bitmex", "luno")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketstreams",
        description="Live market data from Betfair, Luno and BitMEX into consolidated books.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the demo against the built-in mock venues")
    demo.add_argument("--duration", type=float, default=None, help="exit 0 after S seconds")

    mock = sub.add_parser("mock", help="run a mock venue server until interrupted")
    mock.add_argument("venue", choices=MOCK_VENUES, help="which venue to serve")
    mock.add_argument("args", nargs=argparse.REMAINDER, help="the mock server's own options")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        if args.command == "demo":
            from .demo import run_demo

            return asyncio.run(run_demo(args.duration))
        if args.command == "mock":
            module = importlib.import_module(f"mock_servers.{args.venue}")
            return int(module.main(args.args))
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""``python -m mock_servers.luno`` / ``marketstreams mock luno``."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..base import run_until_interrupted
from .server import LunoMockServer


async def serve(port: int = 0, host: str = "127.0.0.1", **kwargs: Any) -> None:
    """Run a :class:`LunoMockServer` until cancelled, announcing its URL on stdout."""
    async with LunoMockServer(host=host, port=port, **kwargs) as server:
        print(announce(server), flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mock_servers.luno --port 8801``; Ctrl-C stops it."""
    parser = argparse.ArgumentParser(
        prog="marketstreams mock luno",
        description="Serve synthetic Luno market streams on ws://HOST:PORT/api/1/stream/PAIR.",
    )
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=50.0, help="updates per second per pair")
    parser.add_argument("--orders", type=int, default=2000, help="resting orders per pair")
    parser.add_argument(
        "--pairs", default="XBTZAR,ETHZAR", help="comma-separated pairs (default %(default)s)"
    )
    parser.add_argument("--key", help="API key id to require (with --secret)")
    parser.add_argument("--secret", help="API key secret to require (with --key)")
    parser.add_argument(
        "--keepalive", type=float, default=20.0, help='quiet seconds before a "" frame'
    )
    parser.add_argument("--snapshot-padding-bytes", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.key is None) != (args.secret is None):
        parser.error("--key and --secret go together")
    credentials = {args.key: args.secret} if args.key is not None else None
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    return run_until_interrupted(
        "luno",
        lambda: LunoMockServer(
            host=args.host,
            port=args.port,
            pairs=pairs,
            seed=args.seed,
            rate=args.rate,
            orders=args.orders,
            credentials=credentials,
            keepalive_interval=args.keepalive,
            snapshot_padding_bytes=args.snapshot_padding_bytes,
        ),
        announce,
        errors=(OSError, ValueError),
    )


def announce(server: LunoMockServer) -> str:
    """The line a running mock prints first."""
    return f"luno mock listening on {server.url}"

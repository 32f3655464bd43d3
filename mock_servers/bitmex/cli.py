"""``python -m mock_servers.bitmex`` / ``marketstreams mock bitmex``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..base import run_until_interrupted
from .server import DEFAULT_SYMBOLS, BitmexMockServer


def main(argv: Sequence[str] | None = None) -> int:
    """``marketstreams mock bitmex --port P``: run the mock server until interrupted."""
    parser = argparse.ArgumentParser(
        prog="marketstreams mock bitmex",
        description="A mock BitMEX realtime server: real websockets, the real protocol, "
        "a synthetic market, faults.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between steps")
    parser.add_argument("--symbols", default=",".join(DEFAULT_SYMBOLS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--legacy-ids", action="store_true", help="pre-2023 id-only updates")
    parser.add_argument("--api-key", help="accept authKeyExpires with this key ...")
    parser.add_argument("--api-secret", help="... and this secret")
    args = parser.parse_args(argv)
    credentials = {args.api_key: args.api_secret} if args.api_key and args.api_secret else {}

    return run_until_interrupted(
        "bitmex",
        lambda: BitmexMockServer(
            [s.strip() for s in args.symbols.split(",") if s.strip()],
            host=args.host,
            port=args.port,
            interval=args.interval,
            seed=args.seed,
            legacy_ids=args.legacy_ids,
            credentials=credentials,
        ),
        lambda server: f"mock BitMEX listening on {server.url}",
    )

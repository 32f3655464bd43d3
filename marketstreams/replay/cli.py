"""``marketstreams replay PATH... [--workers N] [--speed X] [--json] [filters]``."""

from __future__ import annotations

import argparse
import sys

import orjson

from ..exceptions import ConfigurationError, ReplayError
from ..sources import discover
from .filters import ReplayFilter
from .progress import ProgressBar
from .runner import replay

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``marketstreams replay PATH... [--workers N] [--speed X] [--json] [filters]``."""
    p = argparse.ArgumentParser(prog="marketstreams replay", description=replay.__doc__)
    p.add_argument("paths", nargs="+", help="files, folders or .tar archives")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--strict", action="store_true", help="fail a file at its first bad line")
    p.add_argument(
        "--speed",
        type=float,
        help="pace: 1 replays at the recorded pace, 10 ten times faster (default: full speed)",
    )
    p.add_argument("--market-ids", nargs="*")
    p.add_argument("--event-type-ids", nargs="*")
    p.add_argument("--country-codes", nargs="*")
    p.add_argument("--market-types", nargs="*")
    p.add_argument("--venues", nargs="*")
    p.add_argument("--inplay", action="store_true", help="in-play only")
    p.add_argument("--preplay", action="store_true", help="pre-play only")
    p.add_argument("--seconds-to-start", type=float, help="only the last N seconds before start")
    args = p.parse_args(argv)
    if args.inplay and args.preplay:
        p.error("--inplay and --preplay exclude each other")
    if args.speed is not None and not args.speed > 0:
        p.error("--speed must be positive")
    flt = ReplayFilter.make(
        market_ids=args.market_ids,
        event_type_ids=args.event_type_ids,
        country_codes=args.country_codes,
        market_types=args.market_types,
        venues=args.venues,
        inplay=True if args.inplay else (False if args.preplay else None),
        seconds_to_start=args.seconds_to_start,
    )
    any_filter = flt != ReplayFilter()
    try:
        found = discover(args.paths)
    except (ConfigurationError, ReplayError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(len(found), sum(s.size for s in found))
    try:
        result = replay(
            args.paths,
            market_filter=flt if any_filter else None,
            workers=args.workers,
            strict=args.strict,
            progress=bar,
            speed=args.speed,
        )
    finally:
        bar.close()
    for err in result.errors:
        print(f"replay: error: {err}", file=sys.stderr)
    if args.json:
        print(orjson.dumps(result.summary()).decode())
    print(
        f"replay: files={len(result.files)} markets={result.markets} "
        f"updates={result.updates} seconds={result.seconds:.2f}"
    )
    return 1 if result.errors else 0

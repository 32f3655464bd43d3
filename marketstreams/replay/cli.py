"""``marketstreams replay PATH... [--workers N] [--speed X] [--json] [filters]``.

Exit status: 0 every source replayed, 1 a source failed (each named on stderr), 2 bad arguments
or no such source, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys

import orjson

from ..exceptions import ConfigurationError, ReplayError
from ..sources import discover
from .filters import ReplayFilter
from .progress import ProgressBar
from .runner import replay

__all__ = ["DESCRIPTION", "add_arguments", "main", "run"]

DESCRIPTION = (
    "Replay Betfair historical files and marketstreams recordings (files, folders, .tar "
    "archives) through the venues' own caches and feeds, and print a summary: one line on "
    "stdout, or with --json one JSON document on stdout and the line on stderr. See "
    "docs/replay.md."
)
MIN_SPEED = 0.001
EPILOG = "exit status: 0 done, 1 a source failed (named on stderr), 2 bad arguments, 130 Ctrl-C"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``marketstreams replay``, one help line each."""
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or .tar archives")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument(
        "--json",
        action="store_true",
        help="stdout: one JSON summary (files, markets, updates, errors...); the line: stderr",
    )
    p.add_argument("--strict", action="store_true", help="fail a file at its first bad line")
    p.add_argument(
        "--speed",
        type=float,
        help="pace: 1 the recorded pace (channels recorded together play together), "
        "10 ten times faster (default: full speed)",
    )
    flt = p.add_argument_group("filters")
    flt.add_argument("--market-ids", nargs="*", metavar="ID", help="only these markets")
    flt.add_argument(
        "--event-type-ids", nargs="*", metavar="ID", help="Betfair event types (7: horse racing)"
    )
    flt.add_argument("--country-codes", nargs="*", metavar="CC", help="Betfair countries (GB)")
    flt.add_argument("--market-types", nargs="*", metavar="TYPE", help="Betfair types (WIN)")
    flt.add_argument("--venues", nargs="*", metavar="NAME", help="Betfair race venues")
    flt.add_argument("--inplay", action="store_true", help="in-play only")
    flt.add_argument("--preplay", action="store_true", help="pre-play only")
    flt.add_argument(
        "--seconds-to-start", type=float, metavar="S", help="only the last S seconds before start"
    )
    p.epilog = EPILOG


def run(args: argparse.Namespace, p: argparse.ArgumentParser) -> int:
    """Run ``marketstreams replay`` with parsed ``args`` (``p`` reports argument errors)."""
    if args.inplay and args.preplay:
        p.error("--inplay and --preplay exclude each other")
    if args.speed is not None and not args.speed > 0:
        p.error("--speed must be positive")
    if args.speed is not None and args.speed < MIN_SPEED:
        p.error(
            f"--speed must be at least {MIN_SPEED} (a day of data in {1 / MIN_SPEED:,.0f} days)"
        )
    if args.workers < 1:
        p.error("--workers must be at least 1")
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
        print(f"marketstreams replay: {exc}", file=sys.stderr)
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
            on_record=bar.record if args.speed is not None else None,
        )
    except ConfigurationError as exc:  # a recording of a venue this build does not know...
        print(f"marketstreams replay: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    for err in result.errors:
        print(f"marketstreams replay: error: {err}", file=sys.stderr)
    line = (
        f"replay: files={len(result.files)} markets={result.markets} "
        f"updates={result.updates} seconds={result.seconds:.2f}"
    )
    if args.json:
        print(orjson.dumps(result.summary()).decode())
        print(line, file=sys.stderr)
    else:
        print(line)
    return 1 if result.errors else 0


def main(argv: list[str] | None = None) -> int:
    """``marketstreams replay PATH... [--workers N] [--speed X] [--json] [filters]``."""
    p = argparse.ArgumentParser(prog="marketstreams replay", description=DESCRIPTION)
    add_arguments(p)
    return run(p.parse_args(argv), p)

"""``marketstreams simulate PATH... --strategy module:Class ...``: a backtest from the shell."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ..exceptions import ConfigurationError, ReplayError
from ..replay import ReplayFilter
from ..replay.progress import ProgressBar
from ..sources import discover
from .core import MATCHING_MODES
from .run import simulate
from .strategy import Strategy

if TYPE_CHECKING:
    pass

__all__ = ["load_strategy", "main"]


def load_strategy(spec: str) -> Strategy:
    """An instance of ``module:Class`` (or ``path/to/file.py:Class``), made with no arguments."""
    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name:
        raise ConfigurationError(f"--strategy wants module:Class, not {spec!r}")
    try:
        if module_name.endswith(".py"):
            module = _load_file(Path(module_name))
        else:
            module = importlib.import_module(module_name)
    except (ImportError, OSError) as exc:
        raise ConfigurationError(f"cannot import {module_name}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ConfigurationError(f"{module_name} has no {class_name}")
    strategy = cls()
    if not callable(getattr(strategy, "on_market_book", None)):
        raise ConfigurationError(f"{spec} is not a Strategy (no on_market_book)")
    return strategy  # type: ignore[no-any-return]


def _load_file(path: Path) -> Any:
    """A strategy file as a module, loaded once (workers unpickle its classes by its name)."""
    path = path.resolve()
    name = f"_marketstreams_strategy_{path.stem}_{zlib.crc32(str(path).encode()):08x}"
    module = sys.modules.get(name)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marketstreams simulate",
        description="Backtest strategies (marketstreams.simulation.Strategy subclasses) on "
        "Betfair historical files: simulated orders matched as flumine 3.3 matches them, "
        "settled with commission.",
    )
    p.add_argument("paths", nargs="+", help="files, folders or .tar archives")
    p.add_argument(
        "--strategy",
        action="append",
        required=True,
        metavar="MODULE:CLASS",
        help="a Strategy class (module:Class or file.py:Class), made with no arguments; repeat",
    )
    p.add_argument("--market-type", action="append", metavar="TYPE", help="e.g. WIN; repeat")
    p.add_argument("--market-ids", nargs="*")
    p.add_argument("--event-type-ids", nargs="*")
    p.add_argument("--country-codes", nargs="*")
    p.add_argument("--venues", nargs="*")
    p.add_argument(
        "--inplay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="strategies see in-play books only (--no-inplay: pre-play only)",
    )
    p.add_argument(
        "--seconds-to-start", type=float, help="strategies see the last S seconds before the off"
    )
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument(
        "--commission",
        type=float,
        help="commission rate on net market winnings (default: each market's base rate)",
    )
    p.add_argument("--matching", choices=MATCHING_MODES, default="flumine")
    p.add_argument("--strict", action="store_true", help="fail a file at its first bad line")
    p.add_argument("--csv", metavar="PATH", help="write every order as CSV")
    p.add_argument("--report", metavar="PATH", help="write the HTML report")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON document")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; 0 when every file was read, 1 when some failed, 2 on bad arguments."""
    p = _parser()
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    try:
        strategies = [load_strategy(spec) for spec in args.strategy]
        flt = ReplayFilter.make(
            market_ids=args.market_ids,
            event_type_ids=args.event_type_ids,
            country_codes=args.country_codes,
            market_types=args.market_type,
            venues=args.venues,
            inplay=args.inplay,
            seconds_to_start=args.seconds_to_start,
        )
        found = discover(args.paths)
        progress = ProgressBar(len(found), sum(source.size for source in found))
        try:
            result = simulate(
                args.paths,
                strategies,
                market_filter=flt if flt != ReplayFilter() else None,
                workers=args.workers,
                commission=args.commission,
                progress=progress,
                matching=args.matching,
                strict=args.strict,
            )
        finally:
            progress.close()
    except (ConfigurationError, ReplayError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    for err in result.errors:
        print(f"simulate: error: {err}", file=sys.stderr)
    if args.csv:
        result.to_csv(args.csv)
    if args.report:
        result.report(args.report)
    summary = result.summary()
    markets = sum(f.markets for f in result.files)
    last = (
        f"simulate: files={len(result.files)} markets={markets} orders={summary['orders']} "
        f"matched={summary['matched_volume']:.2f} profit={summary['net_profit']:.2f}"
    )
    if args.json:
        doc: dict[str, Any] = {**summary, "markets_simulated": markets}
        doc["per_market"] = [m.as_dict() for m in result.markets]
        print(orjson.dumps(doc).decode())
        print(last, file=sys.stderr)
    else:
        print(last)
    return 1 if result.errors else 0

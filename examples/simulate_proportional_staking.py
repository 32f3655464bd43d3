"""Flat against proportional staking, 60 s against 30 s before the off: four variants of the
flumine tutorial's backtest in one pass over the data, with marketstreams.simulation.

    python examples/simulate_proportional_staking.py [PATH ...] [--workers N] [--report out.html]

PATH: Betfair historical files, folders or .tar archives. Without a path it uses
../shared/data/betfair/historic when present, else a tiny market it writes itself.

Each variant backs the favourite (the lowest best price offered to back) at that price once per
market, pre-play, in the last 60 or 30 seconds: a flat 5 units, or staked to win 10 units
(proportional: round(10 / (price - 1), 2)), as in the tutorial's How to Automate IV. The four
strategies share one replay of every file; each has its own name, orders and profit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from simulate_back_favourite import best_back, default_sources, favourite

from marketstreams import ReplayFilter
from marketstreams.simulation import SimulatedMarket, Strategy, simulate


class BackBestPrice(Strategy):
    """Back the runner with the lowest best back price, at that price, once per market."""

    def __init__(self, seconds_before: float, proportional: bool) -> None:
        staking = "proportional" if proportional else "flat"
        super().__init__(f"{staking}_{seconds_before:g}s", max_order_exposure=1000.0)
        self.seconds_before = seconds_before
        self.proportional = proportional

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if book.status != "OPEN" or book.inplay or market.orders:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= self.seconds_before:
            return
        found = favourite(book, best_back)
        if not found:
            return
        runner, price = found
        if price <= 1.0:
            return
        size = round(10 / (price - 1), 2) if self.proportional else 5.0
        market.place_order(runner.selection_id, "BACK", price, size)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--report", help="write the HTML report (cumulative profit) here")
    args = parser.parse_args()
    variants = [
        BackBestPrice(seconds, proportional)
        for proportional in (False, True)
        for seconds in (60, 30)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(
            args.paths or default_sources(Path(tmp)),
            variants,
            market_filter=ReplayFilter.make(inplay=False, seconds_to_start=80),
            workers=args.workers,
            commission=0.07,  # the tutorial's greyhound rate, on each market's net winnings
        )
    summary = result.summary()
    print(f"{'variant':<20} {'orders':>6} {'matched':>9} {'gross':>9} {'net':>9}")
    for name, row in summary["strategies"].items():
        print(
            f"{name:<20} {row['orders']:>6} {row['matched_volume']:>9.2f} "
            f"{row['gross_profit']:>+9.2f} {row['net_profit']:>+9.2f}"
        )
    if args.report:
        result.report(args.report)
        print(f"report: {args.report}")
    print(f"simulate: files={len(result.files)} lines={result.lines} seconds={result.seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A lay strategy backtested with marketstreams.simulation: orders that wait in the queue.

    python examples/simulate_lay.py [PATH ...] [--workers N] [--csv out.csv] [--report out.html]

PATH: Betfair historical files, folders or .tar archives. Without a path it uses
../shared/data/betfair/historic when present, else a tiny market it writes itself.

In the last 60 seconds before the off, pre-play, lay the favourite (the lowest best price offered
to back) at that back price, for 10 units of liability (size = round(10 / (price - 1), 2)). The
order does not cross the spread: it joins the queue on the back side behind the money already
offered at that price, and is matched (as flumine matches it) only once traded volume at that
price has worked through the queue ahead of it. What is not matched lapses when the market
suspends at the off (persistence LAPSE). The CSV has the tutorial's columns.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from simulate_back_favourite import best_back, default_sources, favourite

from marketstreams import ReplayFilter
from marketstreams.simulation import SimulatedMarket, SimulatedOrder, Strategy, simulate


class LayFavourite(Strategy):
    """Lay the favourite at its best back price, 10 units of liability, once per market."""

    def __init__(self, liability: float = 10.0) -> None:
        super().__init__(max_order_exposure=1000.0, max_selection_exposure=1000.0)
        self.liability = liability
        self.fills = 0

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if book.status != "OPEN" or book.inplay or market.orders:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= 60:
            return
        found = favourite(book, best_back)
        if not found:
            return
        runner, price = found
        if price > 1.0:
            order = market.place_order(
                runner.selection_id, "LAY", price, round(self.liability / (price - 1), 2)
            )
            order.notes["queue_price"] = price

    def on_order_update(self, market: SimulatedMarket, order: SimulatedOrder) -> None:
        if order.size_matched:
            self.fills += 1

    def result(self) -> int:
        return self.fills  # per file; simulate() sums numbers across files


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--csv", help="write every order here, with the tutorial's columns")
    parser.add_argument("--report", help="write the HTML report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(
            args.paths or default_sources(Path(tmp)),
            [LayFavourite()],
            market_filter=ReplayFilter.make(inplay=False, seconds_to_start=80),
            workers=args.workers,
        )
    for order in result.orders:
        print(
            f"{order.market_id} {order.selection_id}: LAY {order.size}@{order.price} matched "
            f"{order.size_matched} ({order.status}) profit {order.profit}"
        )
    for market in result.markets:
        print(
            f"{market.market_id}: gross {market.gross_profit:+.2f} commission "
            f"{market.commission:.2f} net {market.net_profit:+.2f}"
        )
    if args.csv:
        result.to_csv(args.csv)
    if args.report:
        result.report(args.report)
    summary = result.summary()
    print(
        f"orders {summary['orders']}, matched {summary['matched_volume']:.2f}, net profit "
        f"{summary['net_profit']:+.2f}, order updates with a fill "
        f"{result.results['LayFavourite']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

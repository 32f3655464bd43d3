"""Backtest the flumine tutorial's "back the favourite" with marketstreams.simulation.

    python examples/simulate_back_favourite.py [PATH ...] [--workers N] [--commission 0.07]

PATH: Betfair historical files, folders or the .tar Betfair sells (read in place). Without a path
it uses ../shared/data/betfair/historic when present, else a tiny market it writes itself.

The strategy (the tutorial's How to Automate II): in the last 60 seconds before the scheduled
start, pre-play, back the favourite (the runner with the lowest last traded price) at that price,
5 units, once per market. Orders are placed in the replayed market and matched as flumine 3.3
matches them: against the offers on the other side at placement, then from traded volume once
the money queued ahead at that price has traded. Profit comes from the runners' final status,
commission from each market's rate (or --commission) on its net winnings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marketstreams import ReplayFilter
from marketstreams.simulation import SimulatedMarket, Strategy, simulate

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / ".." / "shared" / "data" / "betfair" / "historic"


class BackFavourite(Strategy):
    """Back the lowest last traded price at that price, once per market."""

    def __init__(self, seconds_before: float = 60.0, stake: float = 5.0) -> None:
        # the tutorial's controls (flumine's names and meaning)
        super().__init__(
            max_order_exposure=1000.0,
            max_selection_exposure=1000.0,
            max_trade_count=1,
            max_live_trade_count=1,
        )
        self.seconds_before = seconds_before
        self.stake = stake

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if book.status != "OPEN" or book.inplay or market.orders:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= self.seconds_before:
            return
        found = favourite(book, lambda runner: runner.last_price_traded)
        if found:
            runner, price = found
            market.place_order(runner.selection_id, "BACK", price, self.stake)


def favourite(book: Any, key: Callable[[Any], float | None]) -> tuple[Any, float] | None:
    """The active runner with the lowest `key` (a price; ties go to the lowest selection id)
    and that price, or None when no active runner has one."""
    priced = [
        (price, runner.selection_id, runner)
        for runner in book.runners
        if runner.status == "ACTIVE" and (price := key(runner))
    ]
    if not priced:
        return None
    price, _, runner = min(priced, key=lambda item: item[:2])
    return runner, price


def best_back(runner: Any) -> float | None:
    """The best price offered to back the runner (None when nothing is offered)."""
    best = runner.best_back(1)
    return best[0][0] if best else None


def tiny_market(folder: Path) -> Path:
    """One WIN market with two runners, from 90 s before the off until it settles: runner 1 is
    the favourite at 2.0 (10 offered to back at 2.0, 20 traded there), then 30 more trade at
    2.0 and runner 1 wins."""
    start_ms = 1767268800000
    definition = {
        "marketType": "WIN",
        "marketTime": "2026-01-01T12:00:00.000Z",
        "marketBaseRate": 5.0,
        "bspMarket": False,
        "inPlay": False,
        "status": "OPEN",
        "betDelay": 0,
        "version": 1,
        "runners": [
            {"id": 1, "sortPriority": 1, "status": "ACTIVE"},
            {"id": 2, "sortPriority": 2, "status": "ACTIVE"},
        ],
    }
    runners = [
        {"id": 1, "ltp": 2.0, "trd": [[2.0, 20]], "atb": [[2.0, 10]], "atl": [[2.02, 10]]},
        {"id": 2, "ltp": 3.0, "trd": [[3.0, 5]], "atb": [[2.9, 10]], "atl": [[3.0, 10]]},
    ]
    closed = dict(
        definition,
        status="CLOSED",
        version=3,
        runners=[
            {"id": 1, "sortPriority": 1, "status": "WINNER"},
            {"id": 2, "sortPriority": 2, "status": "LOSER"},
        ],
    )
    messages: list[tuple[int, list[dict[str, Any]]]] = [
        (-90_000, [{"id": "1.1", "img": True, "marketDefinition": definition, "rc": runners}]),
        (-50_000, [{"id": "1.1", "rc": [{"id": 1, "atl": [[2.02, 12]]}]}]),
        (-49_000, [{"id": "1.1", "rc": [{"id": 2, "atb": [[2.9, 15]]}]}]),
        (-40_000, [{"id": "1.1", "rc": [{"id": 1, "ltp": 2.0, "trd": [[2.0, 50]]}]}]),
        (-20_000, [{"id": "1.1", "rc": [{"id": 1, "atl": [[2.04, 5]]}]}]),
        (
            -1_000,
            [{"id": "1.1", "marketDefinition": dict(definition, status="SUSPENDED", version=2)}],
        ),
        (60_000, [{"id": "1.1", "marketDefinition": closed}]),
    ]
    path = folder / "1.1"
    path.write_text(
        "".join(
            json.dumps({"op": "mcm", "pt": start_ms + offset, "mc": changes}) + "\n"
            for offset, changes in messages
        )
    )
    return path


def default_sources(tmp: Path) -> list[str]:
    """The shared historic data when it is there, else the tiny market written into `tmp`."""
    return [str(SHARED)] if SHARED.exists() else [str(tiny_market(tmp))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--commission", type=float, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(
            args.paths or default_sources(Path(tmp)),
            [BackFavourite()],
            # the tutorial's listener window: the strategy is called in the last 80 s, pre-play
            market_filter=ReplayFilter.make(
                market_types=["WIN"], inplay=False, seconds_to_start=80
            ),
            workers=args.workers,
            commission=args.commission,
        )
    for order in result.orders:
        print(
            f"{order.market_id} {order.selection_id}: {order.side} {order.size}@{order.price} "
            f"matched {order.size_matched}@{order.average_price_matched:.2f} {order.status} "
            f"profit {order.profit}"
        )
    summary = result.summary()
    print(
        f"orders {summary['orders']}, matched {summary['matched_volume']:.2f}, gross profit "
        f"{summary['gross_profit']:+.2f}, net profit {summary['net_profit']:+.2f}"
    )
    print(f"simulate: files={len(result.files)} lines={result.lines} seconds={result.seconds:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

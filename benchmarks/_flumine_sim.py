"""The flumine side of the simulation benchmarks: run by the peers' Python, never imported.

    .venv-peers/bin/python benchmarks/_flumine_sim.py [--strategies back_fav,prop30,lay]
        [--seconds-to-start 80] [--inplay | --no-window] FILE...

Runs FlumineSimulation (flumine 3.3, SimulatedClient) over the given Betfair market files with the
tutorial's strategies, the same ones benchmarks/simulation_conformance.py writes with
marketstreams, and prints one JSON document: {"lines", "seconds", "orders": [...]}, every order
of every market's blotter at the end (flumine's cleared orders, plus the orders of a market whose
file ends before it closes; an order refused by a control never reaches the blotter and is
counted in "violations" instead).

The strategies (each bets once per market, on the favourite, pre-play, when the book is OPEN;
ties between runners go to the lowest selection id):

  back_fav  BackFavourite60: in the last 60 s, back the runner with the lowest last traded
            price at that price, 5 units.
  prop30    ProportionalBack30: in the last 30 s, back the runner with the lowest best back
            price at that price, staked to win 10 units: to_win(10, price).
  lay       LayFavourite60: in the last 60 s, lay the runner with the lowest best back price at
            that back price (so the order rests in the queue and waits for traded volume),
            10 units of liability: to_win(10, price).

Controls as in the tutorial: max_order_exposure=1000, max_selection_exposure=1000,
max_trade_count=1, max_live_trade_count=1. The listener window is the tutorial's
(inplay=False, seconds_to_start=80) unless --no-window or --inplay says otherwise.
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import gzip
import json
import logging
import sys
import time
from typing import Any

from _simulation_rules import favourite, to_win
from flumine import BaseStrategy, FlumineSimulation, clients
from flumine.order.order import LimitOrder
from flumine.order.trade import Trade
from flumine.streams.betfairhistoricalstream import BetfairHistoricalStream

CONTROLS = {
    "max_order_exposure": 1000,
    "max_selection_exposure": 1000,
    "max_trade_count": 1,
    "max_live_trade_count": 1,
}


def epoch_ms(moment: datetime.datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return round(moment.timestamp() * 1000)


def best_price(ladder: list[Any]) -> float | None:
    return ladder[0]["price"] if ladder else None


class Tutorial(BaseStrategy):
    """Shared shape: once per market, in the last `SECONDS` before the off, pre-play, OPEN."""

    SECONDS = 60.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.violations = 0

    def check_market_book(self, market: Any, market_book: Any) -> bool:
        return bool(market_book.status != "CLOSED")

    def process_market_book(self, market: Any, market_book: Any) -> None:
        if market_book.status != "OPEN" or market_book.inplay:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= self.SECONDS:
            return
        if market.blotter.strategy_orders(self):
            return  # this strategy already bet here
        choice = self.choose(market_book)
        if choice is None:
            return
        runner, side, price, size = choice
        trade = Trade(
            market_id=market_book.market_id,
            selection_id=runner.selection_id,
            handicap=runner.handicap,
            strategy=self,
        )
        order = trade.create_order(side=side, order_type=LimitOrder(price=price, size=size))
        if not market.place_order(order):
            self.violations += 1

    def choose(self, market_book: Any) -> tuple[Any, str, float, float] | None:
        raise NotImplementedError


class BackFavourite60(Tutorial):
    SECONDS = 60.0

    def choose(self, market_book: Any) -> tuple[Any, str, float, float] | None:
        found = favourite(market_book.runners, lambda r: r.last_price_traded)
        if found is None:
            return None
        runner, price = found
        return runner, "BACK", price, 5.0


class ProportionalBack30(Tutorial):
    SECONDS = 30.0
    SIDE = "BACK"

    def choose(self, market_book: Any) -> tuple[Any, str, float, float] | None:
        found = favourite(market_book.runners, lambda r: best_price(r.ex.available_to_back))
        if found is None or found[1] <= 1.0:
            return None
        runner, price = found
        return runner, self.SIDE, price, to_win(10, price)


class LayFavourite60(ProportionalBack30):
    SECONDS = 60.0
    SIDE = "LAY"


STRATEGIES = {"back_fav": BackFavourite60, "prop30": ProportionalBack30, "lay": LayFavourite60}


def dump(order: Any, closed: bool) -> dict[str, Any]:
    sim = order.simulated
    return {
        "strategy": order.trade.strategy.name,
        "market_id": order.market_id,
        "selection_id": order.selection_id,
        "side": order.side,
        "price": order.order_type.price,
        "size": order.order_type.size,
        "size_matched": order.size_matched,
        "average_price_matched": order.average_price_matched,
        "size_remaining": order.size_remaining,
        "size_lapsed": sim.size_lapsed,
        "size_cancelled": sim.size_cancelled,
        "size_voided": sim.size_voided,
        "profit": order.profit,
        "status": order.status.name if order.status else None,
        "runner_status": order.runner_status,
        "market_closed": closed,
        "created_publish_time": epoch_ms(order.publish_time),
        "placed_at": epoch_ms(order.responses.date_time_placed),
        "elapsed_seconds_executable": order.elapsed_seconds_executable,
        "matched": [list(m) for m in sim.matched],
        "bet_id": order.bet_id,
    }


def count_lines(path: str) -> int:
    opener: Any = bz2.open if path.endswith(".bz2") else gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--strategies", default="back_fav,prop30,lay")
    parser.add_argument("--seconds-to-start", type=float, default=80.0)
    parser.add_argument("--inplay", action="store_true", help="window: in-play only")
    parser.add_argument("--no-window", action="store_true", help="no listener window")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the tutorial's advice for speed

    if args.no_window:
        listener_kwargs: dict[str, Any] = {}
    elif args.inplay:
        listener_kwargs = {"inplay": True}
    else:
        listener_kwargs = {"inplay": False, "seconds_to_start": args.seconds_to_start}
    framework = FlumineSimulation(client=clients.SimulatedClient())
    strategies = []
    for key in args.strategies.split(","):
        streams = [
            BetfairHistoricalStream(file_path=path, listener_kwargs=listener_kwargs)
            for path in args.paths
        ]
        strategy = STRATEGIES[key](streams=streams, **CONTROLS)
        framework.add_strategy(strategy)
        strategies.append(strategy)
    start = time.perf_counter()
    framework.run()
    seconds = time.perf_counter() - start
    lines = sum(count_lines(p) for p in args.paths)
    # every order of every market, settled or not (a file may end before its market closes)
    orders = [dump(o, m.closed) for m in framework.markets for o in m.blotter]
    json.dump(
        {
            "lines": lines,
            "seconds": seconds,
            "orders": orders,
            "violations": {s.name: s.violations for s in strategies},
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

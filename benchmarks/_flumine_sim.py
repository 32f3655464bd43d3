"""The flumine side of the simulation benchmarks: run by the peers' Python, never imported.

    .venv-peers/bin/python benchmarks/_flumine_sim.py [--strategies back_fav,prop30,lay]
        [--seconds-to-start 80] [--inplay | --no-window] FILE...

Runs FlumineSimulation (flumine 3.3, SimulatedClient) over the given Betfair market files with the
tutorial's strategies, the same ones benchmarks/simulation_conformance.py writes with
marketstreams, and prints one JSON document: {"lines", "seconds", "cpu_seconds", "orders": [...]}, every order
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
max_trade_count=1, max_live_trade_count=1 (10 and 10 for the rules set: passive, inplay, sp,
replace, which exercise the other matching rules; read their docstrings). The listener window is the tutorial's
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
from flumine.order.order import OrderStatus
from flumine.order.ordertype import LimitOnCloseOrder, LimitOrder, MarketOnCloseOrder
from flumine.order.trade import Trade
from flumine.streams.betfairhistoricalstream import BetfairHistoricalStream

CONTROLS = {
    "max_order_exposure": 1000,
    "max_selection_exposure": 1000,
    "max_trade_count": 1,
    "max_live_trade_count": 1,
}
RULE_CONTROLS = {**CONTROLS, "max_trade_count": 10, "max_live_trade_count": 10}


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
        self.place(market, runner, side, LimitOrder(price=price, size=size))

    def place(self, market: Any, runner: Any, side: str, order_type: Any) -> Any:
        trade = Trade(
            market_id=market.market_id,
            selection_id=runner.selection_id,
            handicap=runner.handicap,
            strategy=self,
        )
        order = trade.create_order(side=side, order_type=order_type)
        if not market.place_order(order):
            self.violations += 1
        return order

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


class PassivePersist(Tutorial):
    """Rules set: in the last 60 s pre-play, once per runner, BACK 2 at its best lay price and
    LAY 2 at its best back price, both PERSIST: they rest in the queue and go in play."""

    def process_market_book(self, market: Any, market_book: Any) -> None:
        if market_book.status != "OPEN" or market_book.inplay:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= 60:
            return
        done = self.context.setdefault(market_book.market_id, set())
        for runner in market_book.runners:
            back = best_price(runner.ex.available_to_back)
            lay = best_price(runner.ex.available_to_lay)
            if runner.status != "ACTIVE" or runner.selection_id in done or not back or not lay:
                continue
            done.add(runner.selection_id)
            self.place(market, runner, "BACK", LimitOrder(lay, 2.0, persistence_type="PERSIST"))
            self.place(market, runner, "LAY", LimitOrder(back, 2.0, persistence_type="PERSIST"))


class InplayBack(Tutorial):
    """Rules set: once per market, on the first OPEN in-play book, BACK 2 on the favourite (lowest
    best back price) at that price: the in-play bet delay."""

    def process_market_book(self, market: Any, market_book: Any) -> None:
        if market_book.status != "OPEN" or not market_book.inplay:
            return
        if market.blotter.strategy_orders(self):
            return
        found = favourite(market_book.runners, lambda r: best_price(r.ex.available_to_back))
        if found is not None:
            self.place(market, found[0], "BACK", LimitOrder(found[1], 2.0))


class StartingPrice(Tutorial):
    """Rules set: in a BSP market, in the last 60 s pre-play, once per market: MARKET_ON_CLOSE
    BACK of 2 liability on the favourite, LIMIT_ON_CLOSE LAY of 10 liability on it at its best
    lay price, and two LIMIT orders of 2 with persistence MARKET_ON_CLOSE that rest (a BACK at
    the best lay price, a LAY at the best back price): what is unmatched at the reconciliation
    goes to the SP (a lay only when its remaining risk reaches the minimum BSP liability)."""

    def process_market_book(self, market: Any, market_book: Any) -> None:
        if market_book.status != "OPEN" or market_book.inplay:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= 60:
            return
        if not market_book.market_definition.bsp_market or market.blotter.strategy_orders(self):
            return
        found = favourite(market_book.runners, lambda r: best_price(r.ex.available_to_back))
        if found is None:
            return
        runner = found[0]
        lay = best_price(runner.ex.available_to_lay)
        self.place(market, runner, "BACK", MarketOnCloseOrder(2.0))
        back = best_price(runner.ex.available_to_back)
        if lay:
            self.place(market, runner, "LAY", LimitOnCloseOrder(10.0, lay))
            moc = LimitOrder(lay, 2.0, persistence_type="MARKET_ON_CLOSE")
            self.place(market, runner, "BACK", moc)
        if back:
            self.place(
                market, runner, "LAY", LimitOrder(back, 2.0, persistence_type="MARKET_ON_CLOSE")
            )


class ReplaceCancel(Tutorial):
    """Rules set: in the last 60 s pre-play, once per market, BACK 2 PERSIST on the favourite at
    its best lay price (it rests); 5 s later, if still live, replace it at the runner's best lay
    price then (when that differs); 15 s after placing, cancel what is still live."""

    def process_market_book(self, market: Any, market_book: Any) -> None:
        if market_book.status != "OPEN" or market_book.inplay:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= 60:
            return
        state = self.context.setdefault(market_book.market_id, {})
        now = market_book.publish_time_epoch
        orders = market.blotter.strategy_orders(self)
        if not orders:
            found = favourite(market_book.runners, lambda r: best_price(r.ex.available_to_back))
            if found is None:
                return
            lay = best_price(found[0].ex.available_to_lay)
            if lay:
                self.place(
                    market, found[0], "BACK", LimitOrder(lay, 2.0, persistence_type="PERSIST")
                )
                state.update(start=now, selection=found[0].selection_id)
            return
        current = orders[-1]
        live = current.status == OrderStatus.EXECUTABLE and current.size_remaining > 0
        if "replaced" not in state and now - state["start"] >= 5000:
            state["replaced"] = True
            runner = next(r for r in market_book.runners if r.selection_id == state["selection"])
            lay = best_price(runner.ex.available_to_lay)
            if live and lay and lay != current.order_type.price:
                market.replace_order(current, lay)
        elif "cancelled" not in state and now - state["start"] >= 15000:
            state["cancelled"] = True
            if live:
                market.cancel_order(current)


STRATEGIES = {"back_fav": BackFavourite60, "prop30": ProportionalBack30, "lay": LayFavourite60}
RULES = {
    "passive": PassivePersist,
    "inplay": InplayBack,
    "sp": StartingPrice,
    "replace": ReplaceCancel,
}


def dump(order: Any, closed: bool) -> dict[str, Any]:
    sim = order.simulated
    return {
        "strategy": order.trade.strategy.name,
        "market_id": order.market_id,
        "selection_id": order.selection_id,
        "side": order.side,
        "order_type": order.order_type.ORDER_TYPE.name,
        "persistence": getattr(order.order_type, "persistence_type", None),
        "price": getattr(order.order_type, "price", None),
        "size": getattr(order.order_type, "size", None) or order.order_type.liability,
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
        if key in RULES:
            strategy = RULES[key](streams=streams, **RULE_CONTROLS)
        else:
            strategy = STRATEGIES[key](streams=streams, **CONTROLS)
        framework.add_strategy(strategy)
        strategies.append(strategy)
    start, cpu = time.perf_counter(), time.process_time()
    framework.run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    lines = sum(count_lines(p) for p in args.paths)
    # every order of every market, settled or not (a file may end before its market closes)
    orders = [dump(o, m.closed) for m in framework.markets for o in m.blotter]
    json.dump(
        {
            "lines": lines,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "orders": orders,
            "violations": {s.name: s.violations for s in strategies},
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

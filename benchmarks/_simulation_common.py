"""The simulation benchmarks' common parts: the tutorial's strategies written with
marketstreams.simulation, and the market files of the shared data.

The same rules as benchmarks/_flumine_sim.py writes for flumine (read its docstring): each bets
once per market, on the favourite, pre-play, when the book is OPEN, ties between runners going
to the lowest selection id; the tutorial's controls (max_order_exposure=1000,
max_selection_exposure=1000, max_trade_count=1, max_live_trade_count=1).

  BackFavourite60     back the lowest last traded price at it, 5 units, in the last 60 s
  ProportionalBack30  back the lowest best back price at it, to win 10 units, in the last 30 s
  LayFavourite60      lay the lowest best back price at that back price (it rests in the
                      queue), 10 units of liability, in the last 60 s
"""

from __future__ import annotations

import bz2
import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from _simulation_rules import favourite, to_win

from marketstreams.simulation import SimulatedMarket, SimulatedOrder, Strategy

HISTORIC = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "betfair" / "historic"
NOT_MARKET = ("ORDER-", "RACE-", "CRICKET-", "sportsdata-")


def first_market_id(path: Path) -> str | None:
    """The market id of a Betfair file's first market change (None when it has none)."""
    opener: Any = bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            message = json.loads(line)
            for change in message.get("mc") or ():
                if "id" in change:
                    return str(change["id"])
            if message.get("op") != "mcm":
                return None
    return None


def market_files(paths: Iterable[Path]) -> tuple[dict[str, Path], list[str]]:
    """Market id -> file, for market stream files; and why each other file was skipped."""
    chosen: dict[str, Path] = {}
    skipped: list[str] = []
    for path in sorted(paths):
        if path.name.startswith(NOT_MARKET):
            skipped.append(f"{path.name}: not a market stream ({path.name.split('-')[0]})")
            continue
        market = first_market_id(path)
        if market is None:
            skipped.append(f"{path.name}: no market change in it")
        elif market in chosen:
            skipped.append(f"{path.name}: market {market} again (as {chosen[market].name})")
        else:
            chosen[market] = path
    return chosen, skipped


def best_back(runner: Any) -> float | None:
    best = runner.best_back(1)
    return best[0][0] if best else None


class Tutorial(Strategy):
    """Once per market, in the last `SECONDS` before the off, pre-play, on an OPEN book."""

    SECONDS = 60.0

    def __init__(self) -> None:
        super().__init__(
            max_order_exposure=1000.0,
            max_selection_exposure=1000.0,
            max_trade_count=1,
            max_live_trade_count=1,
        )

    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if book.status != "OPEN" or book.inplay:
            return
        if market.seconds_to_start is None or market.seconds_to_start >= self.SECONDS:
            return
        if any(order.status != "VIOLATION" for order in market.orders):
            return  # this strategy already bet here
        choice = self.choose(book)
        if choice is not None:
            runner, side, price, size = choice
            market.place_order(runner.selection_id, side, price, size, handicap=runner.handicap)

    def choose(self, book: Any) -> tuple[Any, str, float, float] | None:
        raise NotImplementedError


class BackFavourite60(Tutorial):
    SECONDS = 60.0

    def choose(self, book: Any) -> tuple[Any, str, float, float] | None:
        found = favourite(book.runners, lambda runner: runner.last_price_traded)
        if found is None:
            return None
        runner, price = found
        return runner, "BACK", price, 5.0


class ProportionalBack30(Tutorial):
    SECONDS = 30.0
    SIDE = "BACK"

    def choose(self, book: Any) -> tuple[Any, str, float, float] | None:
        found = favourite(book.runners, best_back)
        if found is None or found[1] <= 1.0:
            return None
        runner, price = found
        return runner, self.SIDE, price, to_win(10, price)


class LayFavourite60(ProportionalBack30):
    SECONDS = 60.0
    SIDE = "LAY"


def best_lay(runner: Any) -> float | None:
    best = runner.best_lay(1)
    return best[0][0] if best else None


def live(order: SimulatedOrder) -> bool:
    return order.status == "EXECUTABLE" and order.size_remaining > 0


class Rules(Strategy):
    """The rules set (see benchmarks/_flumine_sim.py): controls 1000 / 1000 / 10 / 10."""

    def __init__(self) -> None:
        super().__init__(
            max_order_exposure=1000.0,
            max_selection_exposure=1000.0,
            max_trade_count=10,
            max_live_trade_count=10,
        )
        self.state: dict[str, Any] = {}

    @staticmethod
    def preplay(market: SimulatedMarket, book: Any) -> bool:
        """OPEN, not in play, in the last 60 s."""
        start = market.seconds_to_start
        return book.status == "OPEN" and not book.inplay and start is not None and start < 60

    @staticmethod
    def placed(market: SimulatedMarket) -> list[SimulatedOrder]:
        return [order for order in market.orders if order.status != "VIOLATION"]


class PassivePersist(Rules):
    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if not self.preplay(market, book):
            return
        done = self.state.setdefault(market.market_id, set())
        for runner in book.runners:
            back, lay = best_back(runner), best_lay(runner)
            if runner.status != "ACTIVE" or runner.selection_id in done or not back or not lay:
                continue
            done.add(runner.selection_id)
            sid, handicap = runner.selection_id, runner.handicap
            market.place_order(sid, "BACK", lay, 2.0, handicap, persistence="PERSIST")
            market.place_order(sid, "LAY", back, 2.0, handicap, persistence="PERSIST")


class InplayBack(Rules):
    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if book.status != "OPEN" or not book.inplay or self.placed(market):
            return
        found = favourite(book.runners, best_back)
        if found is not None:
            market.place_order(found[0].selection_id, "BACK", found[1], 2.0, found[0].handicap)


class StartingPrice(Rules):
    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if not self.preplay(market, book) or self.placed(market):
            return
        if not (book.market_definition or {}).get("bspMarket"):
            return
        found = favourite(book.runners, best_back)
        if found is None:
            return
        runner = found[0]
        sid, handicap = runner.selection_id, runner.handicap
        market.place_order(sid, "BACK", 0.0, 2.0, handicap, order_type="MARKET_ON_CLOSE")
        lay, back = best_lay(runner), best_back(runner)
        if lay:
            market.place_order(sid, "LAY", lay, 10.0, handicap, order_type="LIMIT_ON_CLOSE")
            market.place_order(sid, "BACK", lay, 2.0, handicap, persistence="MARKET_ON_CLOSE")
        if back:
            market.place_order(sid, "LAY", back, 2.0, handicap, persistence="MARKET_ON_CLOSE")


class ReplaceCancel(Rules):
    def on_market_book(self, market: SimulatedMarket, book: Any) -> None:
        if not self.preplay(market, book) or book.publish_time is None:
            return
        state = self.state.setdefault(market.market_id, {})
        now = book.publish_time
        orders = self.placed(market)
        if not orders:
            found = favourite(book.runners, best_back)
            if found is None:
                return
            lay = best_lay(found[0])
            if lay:
                sid = found[0].selection_id
                market.place_order(sid, "BACK", lay, 2.0, found[0].handicap, persistence="PERSIST")
                state.update(start=now, selection=sid)
            return
        current = orders[-1]
        if "replaced" not in state and now - state["start"] >= 5000:
            state["replaced"] = True
            lay = best_lay(book.runner(state["selection"]))
            if live(current) and lay and lay != current.price:
                market.replace_order(current, lay)
        elif "cancelled" not in state and now - state["start"] >= 15000:
            state["cancelled"] = True
            if live(current):
                market.cancel_order(current)


RULES: dict[str, type[Rules]] = {
    "passive": PassivePersist,
    "inplay": InplayBack,
    "sp": StartingPrice,
    "replace": ReplaceCancel,
}

STRATEGIES: dict[str, type[Tutorial]] = {
    "back_fav": BackFavourite60,
    "prop30": ProportionalBack30,
    "lay": LayFavourite60,
}

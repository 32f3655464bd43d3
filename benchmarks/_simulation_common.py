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

from marketstreams.simulation import SimulatedMarket, Strategy

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
    max_order_exposure: float | None = 1000.0
    max_selection_exposure: float | None = 1000.0
    max_trade_count: int | None = 1
    max_live_trade_count: int | None = 1

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


STRATEGIES: dict[str, type[Tutorial]] = {
    "back_fav": BackFavourite60,
    "prop30": ProportionalBack30,
    "lay": LayFavourite60,
}

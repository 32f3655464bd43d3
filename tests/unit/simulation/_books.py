"""Literal Betfair books for the simulation tests: stream messages through the real MarketCache,
books into a MarketSimulator, as simulate() drives it (update, strategies, commit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marketstreams.simulation.core import MarketSimulator
from marketstreams.simulation.order import SimulatedOrder
from marketstreams.venues.betfair.cache import MarketCache
from marketstreams.venues.betfair.models import MarketBook

MARKET = "1.100"
T0 = 1_700_000_000_000  # publish time of the first book (ms)
START = "2023-11-14T22:15:00.000Z"  # the market's scheduled start: T0 + 1800 s


@dataclass
class Limits:
    """A strategy's name and controls (what the core reads of a Strategy)."""

    name: str = "s"
    max_order_exposure: float | None = None
    max_selection_exposure: float | None = None
    max_trade_count: int | None = None
    max_live_trade_count: int | None = None


def runner_def(sid: int, status: str = "ACTIVE", **extra: Any) -> dict[str, Any]:
    return {"id": sid, "status": status, "sortPriority": sid, **extra}


def definition(
    *,
    status: str = "OPEN",
    inplay: bool = False,
    version: int = 1,
    runners: list[dict[str, Any]] | None = None,
    bet_delay: int = 0,
    bsp_market: bool = True,
    bsp_reconciled: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "status": status,
        "inPlay": inplay,
        "version": version,
        "betDelay": bet_delay,
        "bspMarket": bsp_market,
        "bspReconciled": bsp_reconciled,
        "marketTime": START,
        "marketType": "WIN",
        "numberOfWinners": 1,
        "marketBaseRate": 5.0,
        "runners": runners if runners is not None else [runner_def(1), runner_def(2)],
        **extra,
    }


class Exchange:
    """One market: ``tick()`` applies a message and hands the book to the simulator."""

    def __init__(self, matching: str = "flumine", **md: Any) -> None:
        self.cache = MarketCache()
        self.sim = MarketSimulator(MARKET, matching=matching)
        self.t = T0
        self.md = definition(**md)
        self.book: MarketBook | None = None
        self._send({"id": MARKET, "img": True, "marketDefinition": self.md, "rc": []})

    def _send(self, mc: dict[str, Any]) -> MarketBook:
        if self.book is not None:
            self.sim.commit(self.book)  # the strategies of the last book are done
        self.cache({"op": "mcm", "pt": self.t, "mc": [mc]})
        book = self.cache[MARKET]
        self.book = book
        self.sim.update(book)
        return book

    def tick(
        self, rc: list[dict[str, Any]] | None = None, dt: float = 0.2, **md: Any
    ) -> MarketBook:
        """A book ``dt`` seconds after the last: runner changes, and definition changes."""
        self.t += round(dt * 1000)
        mc: dict[str, Any] = {"id": MARKET, "rc": rc or []}
        if md:
            self.md = {**self.md, **md}
            mc["marketDefinition"] = self.md
        return self._send(mc)

    def place(
        self,
        selection_id: int,
        side: str,
        price: float,
        size: float,
        limits: Limits | None = None,
        **kwargs: Any,
    ) -> SimulatedOrder:
        assert self.book is not None
        return self.sim.place(
            limits or Limits(), self.book, selection_id, side, price, size, **kwargs
        )


def settle_runners(**statuses: str) -> list[dict[str, Any]]:
    """Runner definitions with final statuses: settle_runners(r1="WINNER", r2="LOSER")."""
    return [runner_def(int(k[1:]), v) for k, v in statuses.items()]

"""The Betfair mock's markets: the server-side truth, synthetic and recorded sources."""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import orjson

logger = logging.getLogger("marketstreams.mock.betfair")


def _build_ticks() -> list[float]:
    ticks: list[float] = []
    for lo, hi, step in (
        (1.01, 2.0, 0.01),
        (2.02, 3.0, 0.02),
        (3.05, 4.0, 0.05),
        (4.1, 6.0, 0.1),
        (6.2, 10.0, 0.2),
        (10.5, 20.0, 0.5),
        (21.0, 30.0, 1.0),
    ):
        n = round((hi - lo) / step)
        ticks.extend(round(lo + i * step, 2) for i in range(n + 1))
    return ticks


TICKS: Final = _build_ticks()

FIELD_KEYS: Final = {
    "EX_ALL_OFFERS": ("atb", "atl"),
    "EX_BEST_OFFERS": ("batb", "batl"),
    "EX_BEST_OFFERS_DISP": ("bdatb", "bdatl"),
    "EX_TRADED": ("trd",),
    "EX_TRADED_VOL": ("tv",),
    "EX_LTP": ("ltp",),
    "SP_TRADED": ("spb", "spl"),
    "SP_PROJECTED": ("spn", "spf"),
}
_PRICE_LADDERS: Final = ("atb", "atl", "trd", "spb", "spl")
_LEVEL_LADDERS: Final = ("batb", "batl", "bdatb", "bdatl")


# -- server-side truth (independent of the client library's caches) -------------------------


class RunnerState:
    __slots__ = ("ladders", "levels", "scalars")

    def __init__(self) -> None:
        self.ladders: dict[str, dict[float, float]] = {}
        self.levels: dict[str, dict[int, list[float]]] = {}
        self.scalars: dict[str, Any] = {}

    def apply(self, rc: dict[str, Any]) -> None:
        for key, value in rc.items():
            if key in ("id", "hc"):
                continue
            if key in _PRICE_LADDERS:
                ladder = self.ladders.setdefault(key, {})
                for price, size in value:
                    if size:
                        ladder[price] = size
                    else:
                        ladder.pop(price, None)
            elif key in _LEVEL_LADDERS:
                levels = self.levels.setdefault(key, {})
                for level, price, size in value:
                    if size:
                        levels[level] = [level, price, size]
                    else:
                        levels.pop(level, None)
            else:
                self.scalars[key] = value

    def image(self, sid: Any, hc: Any) -> dict[str, Any]:
        rc: dict[str, Any] = {"id": sid}
        if hc:
            rc["hc"] = hc
        for key, ladder in self.ladders.items():
            rc[key] = [[p, s] for p, s in ladder.items()]
        for key, levels in self.levels.items():
            rc[key] = [levels[k] for k in sorted(levels)]
        rc.update(self.scalars)
        return rc


class MarketState:
    __slots__ = ("definition", "market_id", "runners", "tv")

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.definition: dict[str, Any] | None = None
        self.tv: float | None = None
        self.runners: dict[tuple[Any, Any], RunnerState] = {}

    def apply(self, mc: dict[str, Any]) -> None:
        if mc.get("img"):
            self.runners.clear()
            self.tv = None
        if mc.get("marketDefinition") is not None:
            self.definition = mc["marketDefinition"]
        if mc.get("tv") is not None:
            self.tv = mc["tv"]
        for rc in mc.get("rc") or ():
            key = (rc["id"], rc.get("hc") or 0)
            runner = self.runners.get(key)
            if runner is None:
                runner = self.runners[key] = RunnerState()
            runner.apply(rc)

    def image(self) -> dict[str, Any]:
        mc: dict[str, Any] = {"id": self.market_id, "img": True}
        if self.definition is not None:
            mc["marketDefinition"] = self.definition
        if self.tv is not None:
            mc["tv"] = self.tv
        mc["rc"] = [r.image(sid, hc) for (sid, hc), r in self.runners.items()]
        return mc


class OrderState:
    """Orders of the account by market and runner, as the order stream reports them."""

    def __init__(self) -> None:
        self.markets: dict[str, dict[tuple[int, float], dict[str, Any]]] = {}

    def apply(self, oc: dict[str, Any]) -> None:
        runners = self.markets.setdefault(oc["id"], {})
        if oc.get("fullImage"):
            runners.clear()
        for orc in oc.get("orc") or ():
            key = (orc["id"], orc.get("hc") or 0.0)
            runner = runners.get(key)
            if runner is None or orc.get("fullImage"):
                runner = runners[key] = {"uo": {}, "mb": {}, "ml": {}, "smc": {}}
            for uo in orc.get("uo") or ():
                runner["uo"].setdefault(uo["id"], {}).update(uo)
            for side in ("mb", "ml"):
                for p, s in orc.get(side) or ():
                    runner[side][p] = s
            for ref, change in (orc.get("smc") or {}).items():
                held = runner["smc"].setdefault(ref, {"mb": {}, "ml": {}})
                for side in ("mb", "ml"):
                    for p, s in change.get(side) or ():
                        held[side][p] = s

    def image(self) -> list[dict[str, Any]]:
        out = []
        for market_id, runners in self.markets.items():
            orcs = []
            for (sid, hc), r in runners.items():
                orc: dict[str, Any] = {"id": sid, "fullImage": True}
                if hc:
                    orc["hc"] = hc
                orc["uo"] = list(r["uo"].values())
                orc["mb"] = [[p, s] for p, s in r["mb"].items()]
                orc["ml"] = [[p, s] for p, s in r["ml"].items()]
                if r["smc"]:
                    orc["smc"] = {
                        ref: {k: [[p, s] for p, s in v.items()] for k, v in m.items()}
                        for ref, m in r["smc"].items()
                    }
                orcs.append(orc)
            out.append({"id": market_id, "fullImage": True, "orc": orcs})
        return out


# -- data sources -----------------------------------------------------------------------------


_MARKET_TIME_BASE: Final = 1_780_326_000  # 2026-06-01T15:00:00Z: fixed, so a seed replays alike
_IN_PLAY_BET_DELAY: Final = 1  # seconds; Betfair delays bets once a market turns in play


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _definition(
    index: int,
    selection_ids: Sequence[int],
    event_type_id: str,
    market_type: str,
    country_code: str,
) -> dict[str, Any]:
    """A market definition with every field a real open one carries (see the historic files in
    the shared data: the same keys, types and shapes; ``settledTime`` only comes once closed,
    runners' ``bsp`` once reconciled, ``removalDate`` with a removed runner)."""
    start = _MARKET_TIME_BASE + 1800 * index
    runners = len(selection_ids)
    return {
        "bspMarket": False,
        "turnInPlayEnabled": True,
        "persistenceEnabled": True,
        "marketBaseRate": 5,
        "eventId": str(30000000 + index),
        "eventTypeId": event_type_id,
        "numberOfWinners": 1,
        "bettingType": "ODDS",
        "marketType": market_type,
        "marketTime": _iso(start),
        "suspendTime": _iso(start),
        "bspReconciled": False,
        "complete": True,
        "inPlay": False,
        "crossMatching": True,
        "runnersVoidable": False,
        "numberOfActiveRunners": runners,
        "betDelay": 0,
        "status": "OPEN",
        "runners": [
            {
                "adjustmentFactor": round(100 / runners, 3),
                "status": "ACTIVE",
                "sortPriority": j + 1,
                "id": sid,
                "name": f"Rünner {j}",
            }
            for j, sid in enumerate(selection_ids)
        ],
        "regulators": ["MR_INT"],
        "venue": "Café Park",  # a multi-byte character for the split-UTF-8 fault
        "countryCode": country_code,
        "discountAllowed": True,
        "timezone": "Europe/London",
        "openDate": _iso(start),
        "version": 4000000001 + index,
        "priceLadderDefinition": {"type": "CLASSIC"},
        "raceType": "Flat",
        "eventName": f"Café Park {index + 1}",
        "name": f"R{index + 1} 1m Hcap",
    }


class SyntheticMarkets:
    """A deterministic market generator: ``markets`` markets of ``runners`` runners, each change
    moves a few prices of one runner, sometimes trades; every ``orders_every`` changes the account
    places, fills or cancels an order on the first market."""

    def __init__(
        self,
        markets: int = 3,
        runners: int = 4,
        seed: int = 1,
        orders_every: int = 7,
        event_type_id: str = "7",
        market_type: str = "WIN",
        country_code: str = "GB",
        first_market_id: int = 900000001,
    ) -> None:
        self.rng = random.Random(seed)
        self.orders_every = orders_every
        self.count = 0
        self.market_ids = [f"1.{first_market_id + i}" for i in range(markets)]
        self.selection_ids = [1000 + j for j in range(runners)]
        self.best: dict[tuple[str, int], int] = {}
        self.tv: dict[tuple[str, int], float] = {}
        self.trd: dict[tuple[str, int], dict[float, float]] = {}
        self.definitions: dict[str, dict[str, Any]] = {}
        for i, mid in enumerate(self.market_ids):
            self.definitions[mid] = _definition(
                i, self.selection_ids, event_type_id, market_type, country_code
            )
            for j, sid in enumerate(self.selection_ids):
                self.best[(mid, sid)] = 40 + 20 * j
                self.tv[(mid, sid)] = 0.0
                self.trd[(mid, sid)] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._order_ids = itertools.count(1)

    def initial(self) -> list[tuple[str, dict[str, Any]]]:
        """The opening state as ``(op, change)`` pairs: one full market change per market."""
        out: list[tuple[str, dict[str, Any]]] = []
        for mid in self.market_ids:
            rcs = []
            for sid in self.selection_ids:
                best = self.best[(mid, sid)]
                rcs.append(
                    {
                        "id": sid,
                        "atb": [[TICKS[best - k], 10.0 + k] for k in range(5)],
                        "atl": [[TICKS[best + 1 + k], 12.0 + k] for k in range(5)],
                    }
                )
            out.append(("mcm", {"id": mid, "marketDefinition": self.definitions[mid], "rc": rcs}))
        return out

    def next(self) -> tuple[str, dict[str, Any]]:
        """The next change as ``(op, change)``."""
        self.count += 1
        rng = self.rng
        if self.orders_every and self.count % self.orders_every == 0:
            return "ocm", self._order_change()
        mid = self.market_ids[rng.randrange(len(self.market_ids))]
        if self.count % 500 == 0:
            md = dict(self.definitions[mid])
            md["version"] = md["version"] + 1
            md["inPlay"] = not md["inPlay"]
            md["betDelay"] = _IN_PLAY_BET_DELAY if md["inPlay"] else 0
            self.definitions[mid] = md
            return "mcm", {"id": mid, "marketDefinition": md}
        sid = self.selection_ids[rng.randrange(len(self.selection_ids))]
        key = (mid, sid)
        old = self.best[key]
        new = min(max(old + rng.choice((-1, 0, 0, 1)), 6), len(TICKS) - 8)
        self.best[key] = new
        rc: dict[str, Any] = {"id": sid}
        atb = [[TICKS[new - k], round(rng.uniform(1, 200), 2)] for k in range(3)]
        atl = [[TICKS[new + 1 + k], round(rng.uniform(1, 200), 2)] for k in range(3)]
        if new > old:  # the old best lay became a back price, clear what fell off
            atl.append([TICKS[old + 1], 0])
        elif new < old:  # the old best back became the best lay: a smaller size there
            atb.append([TICKS[old], 0])
            atl[0][1] = round(rng.uniform(1, 50), 2)  # one price once per ladder, as Betfair
        rc["atb"] = atb
        rc["atl"] = atl
        if rng.random() < 0.3:
            price = TICKS[new]
            traded = self.trd[key]
            traded[price] = round(traded.get(price, 0.0) + rng.uniform(1, 20), 2)
            self.tv[key] = round(sum(traded.values()), 2)
            rc["trd"] = [[price, traded[price]]]
            rc["ltp"] = price
            rc["tv"] = self.tv[key]
            total = round(sum(v for (m, _), v in self.tv.items() if m == mid), 2)
            return "mcm", {"id": mid, "tv": total, "rc": [rc]}
        return "mcm", {"id": mid, "rc": [rc]}

    def _order_change(self) -> dict[str, Any]:
        rng = self.rng
        mid = self.market_ids[0]
        sid = self.selection_ids[0]
        open_orders = [o for o in self._orders.values() if o["status"] == "E"]
        if open_orders and rng.random() < 0.6:
            order = open_orders[rng.randrange(len(open_orders))]
            if rng.random() < 0.25:
                order["sc"] = order["sr"]
                order["sr"] = 0
                order["status"] = "EC"
                order["cd"] = 1700000000000 + self.count
                return {"id": mid, "orc": [{"id": sid, "uo": [dict(order)]}]}
            fill = round(min(order["sr"], rng.uniform(1, order["s"])), 2)
            order["sm"] = round(order["sm"] + fill, 2)
            order["sr"] = round(order["s"] - order["sm"] - order["sc"], 2)
            order["avp"] = order["p"]
            order["md"] = 1700000000000 + self.count
            if order["sr"] <= 0:
                order["sr"] = 0
                order["status"] = "EC"
            side = "mb" if order["side"] == "B" else "ml"
            matched = round(
                sum(
                    o["sm"]
                    for o in self._orders.values()
                    if o["side"] == order["side"] and o["p"] == order["p"]
                ),
                2,
            )
            return {
                "id": mid,
                "orc": [
                    {
                        "id": sid,
                        "uo": [dict(order)],
                        side: [[order["p"], matched]],
                        "smc": {order["rfs"]: {side: [[order["p"], matched]]}},
                    }
                ],
            }
        bet_id = str(300000000000 + next(self._order_ids))
        side = rng.choice("BL")
        price = TICKS[self.best[(mid, sid)] + (0 if side == "B" else 1)]
        size = round(rng.uniform(2, 50), 2)
        order = {
            "id": bet_id,
            "p": price,
            "s": size,
            "side": side,
            "status": "E",
            "pt": "L",
            "ot": "L",
            "pd": 1700000000000 + self.count,
            "sm": 0,
            "sr": size,
            "sl": 0,
            "sc": 0,
            "sv": 0,
            "rac": "",
            "rc": "REG_GGC",
            "rfo": f"o-{bet_id}",
            "rfs": "mock-strategy",
        }
        self._orders[bet_id] = order
        return {"id": mid, "orc": [{"id": sid, "uo": [dict(order)]}]}


class RecordedMarkets:
    """Market changes from a recorded file (one ``mcm`` per line; plain, ``.gz`` or ``.bz2``)."""

    def __init__(self, path: str | Path, repeat: int = 1) -> None:
        import bz2
        import gzip

        p = Path(path)
        opener: Any = bz2.open if p.suffix == ".bz2" else gzip.open if p.suffix == ".gz" else open
        self.changes: list[tuple[str, dict[str, Any]]] = []
        with opener(p, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                message = orjson.loads(line)
                if message.get("op") != "mcm":
                    continue
                for mc in message.get("mc") or ():
                    self.changes.append(("mcm", mc))
        self.changes = self.changes * repeat
        self._next = 0

    def initial(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    def next(self) -> tuple[str, dict[str, Any]] | None:
        if self._next >= len(self.changes):
            return None
        change = self.changes[self._next]
        self._next += 1
        return change

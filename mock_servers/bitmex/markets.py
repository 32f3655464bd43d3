"""The BitMEX mock's markets: price levels by row id per symbol, random steps, trade rows."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

# symbol -> (tick size, start price in ticks)
_INSTRUMENTS = {
    "XBTUSD": (0.5, 120_000),
    "ETHUSD": (0.05, 60_000),
    "SOLUSDT": (0.001, 150_000),
    "XRPUSD": (0.0001, 6_000),
    "ADAUSDT": (0.00001, 40_000),
}
# Quanto contracts: satoshis per contract per 1.0 of price (the multipliers real trade rows show:
# grossValue = size x price x multiplier). Every other symbol is inverse like XBTUSD: one contract
# is 1 USD, grossValue = size / price in satoshis.
_QUANTO_MULTIPLIERS = {"ETHUSD": 100, "XRPUSD": 20_000, "SOLUSDT": 1_000, "ADAUSDT": 1_000_000}
_SATOSHIS_PER_XBT = 100_000_000
_XBT_USD = _INSTRUMENTS["XBTUSD"][0] * _INSTRUMENTS["XBTUSD"][1]  # quanto notionals' XBT price
L2_KEYS = ["symbol", "id", "side"]
L2_TYPES = {
    "symbol": "symbol",
    "id": "long",
    "side": "symbol",
    "size": "long",
    "price": "float",
    "timestamp": "timestamp",
    "transactTime": "timestamp",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def trade_values(symbol: str, size: int, price: float) -> dict[str, Any]:
    """``grossValue`` (satoshis), ``homeNotional`` and ``foreignNotional`` of a trade, as BitMEX
    computes them: for XBTUSD ``grossValue`` is ``size / price`` XBT in satoshis and
    ``homeNotional`` that in XBT (``grossValue / 1e8``), ``foreignNotional`` the USD size."""
    multiplier = _QUANTO_MULTIPLIERS.get(symbol)
    if multiplier is None:
        gross = round(size * _SATOSHIS_PER_XBT / price)
        return {
            "grossValue": gross,
            "homeNotional": gross / _SATOSHIS_PER_XBT,
            "foreignNotional": float(size),
        }
    gross = round(size * price * multiplier)
    foreign = gross / _SATOSHIS_PER_XBT * _XBT_USD
    return {"grossValue": gross, "homeNotional": foreign / price, "foreignNotional": foreign}


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


@dataclass(slots=True)
class Level:
    id: int
    side: str  # "Buy" / "Sell"
    ticks: int
    size: int


class Market:
    """The true book of one symbol and its random walk."""

    def __init__(self, symbol: str, index: int, rng: random.Random, depth: int) -> None:
        self.symbol = symbol
        self.index = index
        self.tick, mid = _INSTRUMENTS.get(symbol, (0.01, 10_000 + 1_000 * index))
        self.rng = rng
        self.levels: dict[int, Level] = {}
        self.last_ticks = mid
        self._next_id = rng.randrange(10**9, 2 * 10**9)
        for i in range(depth):
            self._add("Buy", mid - 1 - i, self._size())
            self._add("Sell", mid + 1 + i, self._size())

    # -- ids and prices ---------------------------------------------------------------------

    def legacy_id(self, ticks: int) -> int:
        # The pre-2023 scheme: the id encodes instrument and price.
        return 100_000_000 * (88 + self.index) - ticks

    def price(self, ticks: int) -> float:
        return round(ticks * self.tick, 10)

    def _size(self) -> int:
        return self.rng.randrange(1, 50) * 100

    def _add(self, side: str, ticks: int, size: int) -> Level:
        self._next_id += self.rng.randrange(1, 1000)
        level = Level(self._next_id, side, ticks, size)
        self.levels[level.id] = level
        return level

    def side_levels(self, side: str) -> list[Level]:
        levels = [lv for lv in self.levels.values() if lv.side == side]
        levels.sort(key=lambda lv: -lv.ticks if side == "Buy" else lv.ticks)
        return levels

    def best(self, side: str) -> Level | None:
        levels = self.side_levels(side)
        return levels[0] if levels else None

    def book(self) -> dict[str, list[list[Any]]]:
        return {
            "bids": [[self.price(lv.ticks), lv.size] for lv in self.side_levels("Buy")],
            "asks": [[self.price(lv.ticks), lv.size] for lv in self.side_levels("Sell")],
        }

    # -- one random change ------------------------------------------------------------------

    def step(self) -> tuple[str, list[Level], dict[str, Any] | None]:
        """Change the book once: ``(action, levels changed, trade row or None)``.

        Deleted levels are returned with their last state."""
        rng = self.rng
        roll = rng.random()
        side = rng.choice(("Buy", "Sell"))
        levels = self.side_levels(side)
        if roll < 0.45 and levels:
            level = rng.choice(levels)
            level.size = self._size()
            return "update", [level], None
        if roll < 0.65 or len(levels) < 4:
            bid, ask = self.best("Buy"), self.best("Sell")
            assert bid is not None and ask is not None
            for _ in range(20):
                if side == "Buy":
                    ticks = bid.ticks + rng.randrange(-30, 2)
                    ok = ticks < ask.ticks
                else:
                    ticks = ask.ticks + rng.randrange(-1, 30)
                    ok = ticks > bid.ticks
                if ok and not any(lv.ticks == ticks and lv.side == side for lv in levels):
                    return "insert", [self._add(side, ticks, self._size())], None
            level = levels[-1]
            level.size = self._size()
            return "update", [level], None
        if roll < 0.82:
            level = rng.choice(levels[1:])
            del self.levels[level.id]
            return "delete", [level], None
        # A trade: the taker takes (part of) the best level on the other side.
        taker = "Sell" if side == "Buy" else "Buy"
        level = levels[0]
        size = min(level.size, rng.randrange(1, 30) * 100)
        level.size -= size
        self.last_ticks = level.ticks
        price = self.price(level.ticks)
        trade = {
            "timestamp": now_iso(),
            "symbol": self.symbol,
            "side": taker,
            "size": size,
            "price": price,
            "tickDirection": "ZeroPlusTick",
            "trdMatchID": str(uuid.UUID(int=rng.getrandbits(128))),
            **trade_values(self.symbol, size, price),
            "trdType": "Regular",
        }
        if level.size <= 0:
            del self.levels[level.id]
            return "delete", [level], trade
        return "update", [level], trade

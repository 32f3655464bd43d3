"""The Luno mock's markets: one true order-level book per pair, its update stream, digests."""

from __future__ import annotations

import hashlib
import math
import random
import string
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any, Final

import orjson

HISTORY: Final = 20_000
"""How many past sequences :meth:`LunoMockServer.digest` can answer for."""


_DIGEST_MEMO: Final = 4_096


_VOLUME_QUANTUM: Final = Decimal("0.000001")
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits


def _plain(value: Decimal) -> str:
    """A decimal as Luno writes it: fixed point, never an exponent."""
    return format(value, "f")


def _normalised(value: Decimal) -> str:
    return format(value.normalize(), "f")


def book_digest(depth: Mapping[str, Sequence[Sequence[Decimal]]]) -> str:
    """A stable SHA-1 of price levels: ``{"bids": [[price, volume], ...], "asks": [...]}``.

    Levels are sorted (bids highest first, asks lowest first) and every number is normalised, so
    ``Decimal("1.20")`` and ``Decimal("1.2")`` digest the same. Zero-volume levels are not dropped:
    a book holding one differs from the truth.
    """
    bids = sorted(depth.get("bids", ()), key=lambda level: level[0], reverse=True)
    asks = sorted(depth.get("asks", ()), key=lambda level: level[0])
    lines = ["bids"]
    lines.extend(f"{_normalised(level[0])} {_normalised(level[1])}" for level in bids)
    lines.append("asks")
    lines.extend(f"{_normalised(level[0])} {_normalised(level[1])}" for level in asks)
    return hashlib.sha1("\n".join(lines).encode("ascii"), usedforsecurity=False).hexdigest()


# --- the synthetic market (pure: no I/O) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _PairSpec:
    mid: Decimal
    tick: Decimal
    volume: float  # typical order size in the base currency
    places: int = 2  # decimals Luno shows in prices ("1200000.00")

    @property
    def spread_ticks(self) -> float:
        """Mean distance of a resting order from the fair price, in ticks."""
        return float(self.mid * Decimal("0.004") / self.tick)

    @property
    def round_ticks(self) -> int:
        """Half the orders sit on round prices (a multiple of this), so levels hold several."""
        ticks = float(self.mid * Decimal("0.0005") / self.tick)
        return int(10 ** max(0, math.floor(math.log10(ticks))))

    @property
    def sigma_ticks(self) -> float:
        """Standard deviation of the fair price's step per update, in ticks."""
        return float(self.mid * Decimal("0.00003") / self.tick)


_SPECS: Final = {
    "XBTZAR": _PairSpec(Decimal(1_200_000), Decimal(1), 0.05),
    "ETHZAR": _PairSpec(Decimal(60_000), Decimal(1), 0.8),
}
_DEFAULT_SPEC: Final = _PairSpec(Decimal(1_000), Decimal("0.01"), 1.0)


class _Order:
    __slots__ = ("is_bid", "order_id", "price", "volume")

    def __init__(self, order_id: str, is_bid: bool, price: Decimal, volume: Decimal) -> None:
        self.order_id = order_id
        self.is_bid = is_bid
        self.price = price
        self.volume = volume


class _Level:
    __slots__ = ("orders", "price", "price_text", "total")

    def __init__(self, price: Decimal) -> None:
        self.price = price
        self.price_text = _plain(price)
        self.total = Decimal(0)
        self.orders: dict[str, _Order] = {}  # insertion order is time priority


# (is_bid, price, level volume before the change or None if the level did not exist)
_Change = tuple[bool, Decimal, Decimal | None]


class _Book:
    """Resting orders by id plus price levels per side; records level changes for digests."""

    __slots__ = ("_id_index", "_ids", "ask_levels", "ask_prices", "bid_levels", "bid_prices",
                 "changes", "orders")  # fmt: skip

    def __init__(self) -> None:
        self.orders: dict[str, _Order] = {}
        self.bid_levels: dict[Decimal, _Level] = {}
        self.ask_levels: dict[Decimal, _Level] = {}
        self.bid_prices: list[Decimal] = []  # ascending: best bid last
        self.ask_prices: list[Decimal] = []  # ascending: best ask first
        self.changes: list[_Change] | None = None
        self._ids: list[str] = []  # for O(1) uniform random choice
        self._id_index: dict[str, int] = {}

    def _side(self, is_bid: bool) -> tuple[dict[Decimal, _Level], list[Decimal]]:
        if is_bid:
            return self.bid_levels, self.bid_prices
        return self.ask_levels, self.ask_prices

    def _note(self, is_bid: bool, price: Decimal, before: Decimal | None) -> None:
        if self.changes is not None:
            self.changes.append((is_bid, price, before))

    def best_bid(self) -> Decimal | None:
        return self.bid_prices[-1] if self.bid_prices else None

    def best_ask(self) -> Decimal | None:
        return self.ask_prices[0] if self.ask_prices else None

    def level(self, is_bid: bool, price: Decimal) -> _Level:
        return self._side(is_bid)[0][price]

    def add(self, order: _Order) -> None:
        levels, prices = self._side(order.is_bid)
        level = levels.get(order.price)
        before: Decimal | None
        if level is None:
            level = levels[order.price] = _Level(order.price)
            insort(prices, order.price)
            before = None
        else:
            before = level.total
        level.orders[order.order_id] = order
        level.total += order.volume
        self._note(order.is_bid, order.price, before)
        self.orders[order.order_id] = order
        self._id_index[order.order_id] = len(self._ids)
        self._ids.append(order.order_id)

    def fill(self, order: _Order, base: Decimal) -> None:
        """Take ``base`` from a maker; at zero it leaves the book (Luno sends no delete)."""
        level = self.level(order.is_bid, order.price)
        self._note(order.is_bid, order.price, level.total)
        order.volume -= base
        level.total -= base
        if order.volume == 0:
            self._forget(order, level)

    def remove(self, order_id: str) -> _Order:
        order = self.orders[order_id]
        level = self.level(order.is_bid, order.price)
        self._note(order.is_bid, order.price, level.total)
        level.total -= order.volume
        self._forget(order, level)
        return order

    def _forget(self, order: _Order, level: _Level) -> None:
        del level.orders[order.order_id]
        if not level.orders:
            levels, prices = self._side(order.is_bid)
            del levels[level.price]
            del prices[bisect_left(prices, level.price)]
        del self.orders[order.order_id]
        index = self._id_index.pop(order.order_id)
        last = self._ids.pop()
        if index < len(self._ids):
            self._ids[index] = last
            self._id_index[last] = index

    def random_order_id(self, rng: random.Random) -> str:
        return self._ids[rng.randrange(len(self._ids))]

    def totals(self, is_bid: bool) -> dict[Decimal, Decimal]:
        levels = self.bid_levels if is_bid else self.ask_levels
        return {price: level.total for price, level in levels.items()}

    def depth(self) -> dict[str, list[list[Decimal]]]:
        return {
            "bids": [[p, self.bid_levels[p].total] for p in reversed(self.bid_prices)],
            "asks": [[p, self.ask_levels[p].total] for p in self.ask_prices],
        }

    def entries(self, is_bid: bool) -> list[dict[str, str]]:
        """Snapshot entries, one per order, best price first, time priority within a level."""
        levels, prices = self._side(is_bid)
        ordered = reversed(prices) if is_bid else iter(prices)
        out: list[dict[str, str]] = []
        for price in ordered:
            level = levels[price]
            text = level.price_text
            out.extend(
                {"id": o.order_id, "price": text, "volume": _plain(o.volume)}
                for o in level.orders.values()
            )
        return out


_Frame = dict[str, Any]


class Market:
    """One pair: the true book, its sequence and the deterministic event generator."""

    def __init__(self, pair: str, seed: int, orders: int, padding_bytes: int) -> None:
        self.pair = pair
        self.spec = _SPECS.get(pair, _DEFAULT_SPEC)
        self.rng = random.Random(f"luno-mock:{seed}:{pair}")
        self.book = _Book()
        self.sequence = self.rng.randrange(10_000_000, 90_000_000)
        self.trade_sequence = self.rng.randrange(1_000_000, 40_000_000)
        self.status = "ACTIVE"
        self.fair = self.spec.mid
        self.history: deque[tuple[int, list[_Change]]] = deque(maxlen=HISTORY)
        # (sequence, maker id, maker is a bid, price, base) of every trade: the true FIFO's
        # fills, for paper-trading tests (a bounded log like ``history``)
        self.trade_log: deque[tuple[int, str, bool, Decimal, Decimal]] = deque(maxlen=HISTORY)
        self._price_quantum = Decimal(1).scaleb(-self.spec.places)
        self._digests: dict[int, str] = {}
        self._snapshot: tuple[int, bytes] | None = None
        for _ in range(orders):
            is_bid = self.rng.random() < 0.5
            self._rest(is_bid, self._resting_price(is_bid, self.spec.spread_ticks))
        if padding_bytes > 0:
            self._pad(padding_bytes)
        self.target_orders = max(1, len(self.book.orders))

    # -- building blocks

    def _new_id(self) -> str:
        while True:
            order_id = "BX" + "".join(self.rng.choices(_ID_ALPHABET, k=13))
            if order_id not in self.book.orders:
                return order_id

    def _volume(self) -> Decimal:
        places = self.rng.choice((2, 2, 3, 4, 6, 6, 6))
        quantum = Decimal(1).scaleb(-places)
        raw = Decimal(repr(self.rng.expovariate(1.0 / self.spec.volume)))
        return max(raw.quantize(quantum, rounding=ROUND_DOWN), quantum)

    def _price(self, ticks: int) -> Decimal:
        return (self.spec.tick * ticks).quantize(self._price_quantum)

    def _resting_price(self, is_bid: bool, mean_ticks: float) -> Decimal:
        spec = self.spec
        distance = 1 + int(self.rng.expovariate(1.0 / mean_ticks))
        if self.rng.random() < 0.5:
            step = spec.round_ticks
            distance = -(-distance // step) * step
        fair_ticks = int(self.fair / spec.tick)
        ticks = fair_ticks - distance if is_bid else fair_ticks + distance
        # Never cross the opposite best: only takers do that.
        if is_bid:
            best_ask = self.book.best_ask()
            if best_ask is not None:
                ticks = min(ticks, int(best_ask / spec.tick) - 1 - int(self.rng.expovariate(0.3)))
        else:
            best_bid = self.book.best_bid()
            if best_bid is not None:
                ticks = max(ticks, int(best_bid / spec.tick) + 1 + int(self.rng.expovariate(0.3)))
        return self._price(max(ticks, 1))

    def _rest(self, is_bid: bool, price: Decimal, volume: Decimal | None = None) -> _Frame | None:
        best = self.book.best_ask() if is_bid else self.book.best_bid()
        if best is not None and (price >= best if is_bid else price <= best):
            return None  # only possible with a book squeezed against price zero
        order = _Order(self._new_id(), is_bid, price, self._volume() if volume is None else volume)
        self.book.add(order)
        return self._create_frame(order)

    @staticmethod
    def _create_frame(order: _Order) -> _Frame:
        return {
            "order_id": order.order_id,
            "type": "BID" if order.is_bid else "ASK",
            "price": _plain(order.price),
            "volume": _plain(order.volume),
        }

    def _pad(self, padding_bytes: int) -> None:
        """Far-from-mid resting orders until the snapshot frame exceeds ``padding_bytes``."""
        spec = self.spec
        mid_ticks = int(spec.mid / spec.tick)
        step = max(1, mid_ticks // 1000)  # few, crowded levels: cheap to digest
        size = len(self._build_snapshot())
        while size <= padding_bytes:
            per_order = size / max(1, len(self.book.orders))
            for _ in range(int((padding_bytes - size) / per_order) + 16):
                is_bid = self.rng.random() < 0.5
                if is_bid:
                    ticks = int(mid_ticks * self.rng.uniform(0.05, 0.3)) // step * step
                else:
                    ticks = int(mid_ticks * self.rng.uniform(3.0, 10.0)) // step * step
                order = _Order(self._new_id(), is_bid, self._price(max(ticks, 1)), self._volume())
                self.book.add(order)
            size = len(self._build_snapshot())

    # -- events

    def _cancel(self) -> _Frame | None:
        if not self.book.orders:
            return None
        order_id = self.book.random_order_id(self.rng)
        self.book.remove(order_id)
        return {"order_id": order_id}

    def _create(self) -> _Frame | None:
        is_bid = self.rng.random() < 0.5
        spread = self.spec.spread_ticks
        mean = spread / 8 if self.rng.random() < 0.7 else spread
        return self._rest(is_bid, self._resting_price(is_bid, mean))

    def _taker(self) -> tuple[list[_Frame], _Frame | None]:
        """A crossing order: trades against one or more makers, leftover may rest."""
        book, rng = self.book, self.rng
        best_bid, best_ask = book.best_bid(), book.best_ask()
        if best_bid is not None and best_ask is not None:
            mid = (best_bid + best_ask) / 2
            buy_chance = 0.5 if self.fair == mid else (0.65 if self.fair > mid else 0.35)
        else:
            buy_chance = 0.5
        buy = rng.random() < buy_chance
        # The five best opposite prices, best first.
        prices = book.ask_prices[:5] if buy else book.bid_prices[:-6:-1]
        if not prices:
            return [], self._create()
        reach = prices[: 1 + int(rng.expovariate(1.2))]
        limit = reach[-1]
        levels = [book.level(not buy, p) for p in reach]
        available = sum((lv.total for lv in levels), Decimal(0))
        rests = False
        roll = rng.random()
        if roll < 0.3:  # exactly the first m makers, each filled to zero
            makers = [o for lv in levels for o in lv.orders.values()][:8]
            m = 1 + min(int(rng.expovariate(0.7)), len(makers) - 1)
            volume = sum((o.volume for o in makers[:m]), Decimal(0))
        elif roll < 0.75:  # part of what is in reach: the last maker is partly filled
            fraction = Decimal(rng.randint(1, 9_999)) / 10_000
            volume = max(
                (available * fraction).quantize(_VOLUME_QUANTUM, ROUND_DOWN), _VOLUME_QUANTUM
            )
        else:  # more than is in reach: the leftover rests (limit order) or is dropped (IOC)
            volume = available + self._volume()
            rests = rng.random() < 0.7
        taker_id = self._new_id()
        remaining = volume
        trades: list[_Frame] = []
        while remaining > 0:
            best = book.best_ask() if buy else book.best_bid()
            if best is None or (best > limit if buy else best < limit):
                break
            maker = next(iter(book.level(not buy, best).orders.values()))
            base = min(remaining, maker.volume)
            book.fill(maker, base)
            self.trade_log.append(
                (self.sequence + 1, maker.order_id, maker.is_bid, maker.price, base)
            )
            remaining -= base
            self.trade_sequence += 1
            trades.append(
                {
                    "sequence": self.trade_sequence,
                    "base": _plain(base),
                    "counter": _normalised(base * maker.price),
                    "maker_order_id": maker.order_id,
                    "taker_order_id": taker_id,
                    "order_id": maker.order_id,
                }
            )
        create = None
        if remaining > 0 and rests:
            # Everything at or better than the limit is gone, so the rest cannot cross.
            order = _Order(taker_id, buy, limit, remaining)
            book.add(order)
            create = self._create_frame(order)
        return trades, create

    def _walk_fair(self) -> None:
        spec = self.spec
        pull = float((spec.mid - self.fair) / spec.tick) * 0.002
        ticks = round(self.rng.gauss(0.0, spec.sigma_ticks) + pull)
        if ticks:
            self.fair = max(self.fair + spec.tick * ticks, spec.tick)

    def next_update(self) -> _Frame:
        """Generate, apply and return the next update (the message body, not yet encoded)."""
        book, rng = self.book, self.rng
        changes: list[_Change] = []
        book.changes = changes
        trades: list[_Frame] = []
        create: _Frame | None = None
        delete: _Frame | None = None
        status: _Frame | None = None
        # Creates and cancels lean against the order count so it hovers around the start.
        load = max(len(book.orders), 1) / self.target_orders
        if self.status == "ACTIVE":
            weights = (0.40 / load, 0.33 * load, 0.14, 0.017, 0.003)
        else:  # POSTONLY: no takers, and back to ACTIVE soon
            weights = (0.45 / load, 0.45 * load, 0.0, 0.02, 0.08)
        kind = rng.choices(("create", "delete", "taker", "empty", "status"), weights)[0]
        if kind == "create":
            create = self._create()
        elif kind == "delete":
            delete = self._cancel()
        elif kind == "taker":
            trades, create = self._taker()
        elif kind == "status":
            self.status = "POSTONLY" if self.status == "ACTIVE" else "ACTIVE"
            status = {"status": self.status}
        book.changes = None
        self.sequence += 1
        self.history.append((self.sequence, changes))
        self._walk_fair()
        return {
            "sequence": str(self.sequence),
            "trade_updates": trades,
            "create_update": create,
            "delete_update": delete,
            "status_update": status,
            "timestamp": _now_ms(),
        }

    # -- views

    def _build_snapshot(self) -> bytes:
        """The snapshot frame without its closing brace and timestamp."""
        frame = {
            "sequence": str(self.sequence),
            "asks": self.book.entries(is_bid=False),
            "bids": self.book.entries(is_bid=True),
            "status": self.status,
        }
        return orjson.dumps(frame)[:-1]

    def snapshot(self) -> bytes:
        """The encoded snapshot frame of the current state, stamped now."""
        # Encoding thousands of orders is the costly part: reuse it while the sequence stands.
        if self._snapshot is None or self._snapshot[0] != self.sequence:
            self._snapshot = (self.sequence, self._build_snapshot())
        return b'%s,"timestamp":%d}' % (self._snapshot[1], _now_ms())

    def digest(self, sequence: int) -> str | None:
        if not self.sequence - len(self.history) <= sequence <= self.sequence:
            return None
        known = self._digests.get(sequence)
        if known is not None:
            return known
        bids, asks = self.book.totals(is_bid=True), self.book.totals(is_bid=False)
        for applied, changes in reversed(self.history):
            if applied <= sequence:
                break
            for is_bid, price, before in reversed(changes):
                side = bids if is_bid else asks
                if before is None:
                    del side[price]
                else:
                    side[price] = before
        digest = book_digest(
            {
                "bids": [[p, v] for p, v in bids.items()],
                "asks": [[p, v] for p, v in asks.items()],
            }
        )
        if len(self._digests) >= _DIGEST_MEMO:
            del self._digests[next(iter(self._digests))]
        self._digests[sequence] = digest
        return digest


def _now_ms() -> int:
    return int(time.time() * 1000)

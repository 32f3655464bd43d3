"""A Luno market-stream server: real websockets, the real protocol, a synthetic order-level market.

Clients connect to ``ws://HOST:PORT/api/1/stream/{PAIR}`` and speak to it exactly as they would to
``wss://ws.luno.com``:

* the first client frame is the credentials ``{"api_key_id": .., "api_key_secret": ..}``; silence
  for ``auth_timeout`` seconds gets ``auth_timeout``, wrong credentials ``invalid_credentials``, an
  unknown pair ``invalid_market``; each is a ``{"error_code": .., "error": ..}`` frame, then close;
* the first server frame is the snapshot, one entry per resting order, numbers as decimal strings;
* then one update per sequence number, every connected client of the pair receiving the same ones:
  trades (a maker filled to zero just disappears), a create (a taker's leftover rests in the same
  message), a delete, a status change, or nothing at all;
* ``""`` text frames (the two characters: a JSON empty string, as Luno sends them) keep quiet
  connections alive in both directions, plus websocket pings; an empty frame from a client is
  taken as a keepalive too.

Each pair has ONE true book (orders by id, price levels with exact :class:`~decimal.Decimal` sums)
and one sequence. :meth:`LunoMockServer.true_depth` and :meth:`LunoMockServer.digest` let a test
compare a client's book with the truth at any of the last 20000 sequences; digests are computed
on demand by walking back the recorded level changes, so generating an update stays cheap.

Fault switches (:meth:`~LunoMockServer.inject_gap`, :meth:`~LunoMockServer.drop`,
:meth:`~LunoMockServer.silence`, :meth:`~LunoMockServer.send_malformed`,
:meth:`~LunoMockServer.send_error`) act on the connections open at the time of the call.

Run it alone with ``python -m mock_servers.luno --port 8801``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import math
import random
import string
import sys
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final

import orjson
from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["LunoMockServer", "book_digest", "main", "serve"]

logger = logging.getLogger("marketstreams.mock.luno")

STREAM_PATH: Final = "/api/1/stream/"
HISTORY: Final = 20_000
"""How many past sequences :meth:`LunoMockServer.digest` can answer for."""

_MAX_BACKLOG: Final = 100_000  # frames queued for one client before we drop it as too slow
_DIGEST_MEMO: Final = 4_096
_MIN_SLEEP: Final = 0.001  # lets high rates generate in batches instead of one wake-up per update
_ERROR_CLOSE_CODE: Final = 1008  # policy violation: after every Luno-style error frame
_VOLUME_QUANTUM: Final = Decimal("0.000001")
_ID_ALPHABET: Final = string.ascii_uppercase + string.digits
_KEEPALIVE: Final = '""'  # the two characters, as Luno sends them (a JSON empty string)
# What counts as a keepalive from a client: Luno's ``""``, and an empty frame from lenient clients.
_CLIENT_KEEPALIVES: Final = frozenset({'""', b'""', "", b""})


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


class _Market:
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


# --- connections and the server -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CloseRequest:
    code: int
    reason: str


class _Client:
    """One websocket connection and the frames waiting for it."""

    __slots__ = ("closing", "done", "last_sent", "pair", "queue", "silent_until", "skip_next",
                 "wake", "ws")  # fmt: skip

    def __init__(self, ws: ServerConnection, pair: str, now: float) -> None:
        self.ws = ws
        self.pair = pair
        self.queue: deque[bytes | _CloseRequest] = deque()
        self.wake = asyncio.Event()
        self.done = asyncio.Event()  # set when the handler has finished with the connection
        self.closing = False
        self.skip_next = False
        self.silent_until = 0.0
        self.last_sent = now

    def push(self, item: bytes | _CloseRequest, *, front: bool = False) -> None:
        if self.closing:
            return
        if len(self.queue) >= _MAX_BACKLOG:
            logger.warning(
                "luno mock: dropping a %s client %d frames behind", self.pair, _MAX_BACKLOG
            )
            self.queue.clear()
            item = _CloseRequest(_ERROR_CLOSE_CODE, "client too slow")
        if front:
            self.queue.appendleft(item)
        else:
            self.queue.append(item)
        if isinstance(item, _CloseRequest):
            self.closing = True
        self.wake.set()

    def push_update(self, data: bytes, now: float) -> None:
        if self.skip_next and not self.closing:
            self.skip_next = False
            return
        if now < self.silent_until:
            return  # lost to this client for good
        self.push(data)


def _pair_from_path(path: str) -> str | None:
    path = path.partition("?")[0]
    if not path.startswith(STREAM_PATH):
        return None
    pair = path[len(STREAM_PATH) :]
    return pair if pair and "/" not in pair else None


class LunoMockServer:
    """A Luno market-stream websocket server over synthetic, deterministic markets.

    ``pairs`` are the markets served (any other pair gets ``invalid_market``); ``seed`` makes the
    books and the update stream reproducible (timestamps aside); ``credentials`` maps API key ids
    to secrets, ``None`` accepts any JSON object, ``{}`` included. ``orders`` resting orders per
    pair to start with; ``rate`` updates per second per pair from a background task (0 disables
    it; :meth:`pause` and :meth:`step` give full control). ``keepalive_interval`` seconds of quiet
    bring a ``""`` frame (the two characters, as Luno sends them), ``ping_interval`` a websocket
    ping (``None`` disables either).
    ``snapshot_padding_bytes`` adds far-from-mid resting orders until the snapshot frame is larger
    than that, for testing clients' frame limits.

    Use as ``async with LunoMockServer(...) as server:``, then connect to
    ``f"{server.url}/api/1/stream/XBTZAR"``.
    """

    def __init__(
        self,
        pairs: Iterable[str] = ("XBTZAR", "ETHZAR"),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        credentials: Mapping[str, str] | None = None,
        orders: int = 2000,
        rate: float = 50.0,
        keepalive_interval: float | None = 20.0,
        auth_timeout: float = 10.0,
        snapshot_padding_bytes: int = 0,
        ping_interval: float | None = 20.0,
    ) -> None:
        pair_list = list(dict.fromkeys(pairs))
        if not pair_list or not all(isinstance(p, str) and p for p in pair_list):
            raise ValueError(f"pairs must be non-empty strings, got {pair_list!r}")
        if orders < 0 or rate < 0 or auth_timeout <= 0 or snapshot_padding_bytes < 0:
            raise ValueError("orders, rate and snapshot_padding_bytes >= 0, auth_timeout > 0")
        if keepalive_interval is not None and keepalive_interval <= 0:
            raise ValueError("keepalive_interval must be positive or None")
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError("ping_interval must be positive or None")
        self._host = host
        self._requested_port = port
        self._credentials = dict(credentials) if credentials is not None else None
        self._rate = float(rate)
        self._keepalive = keepalive_interval
        self._ping_interval = ping_interval
        self._auth_timeout = auth_timeout
        self._markets = {
            pair: _Market(pair, seed, orders, snapshot_padding_bytes) for pair in pair_list
        }
        self._clients: dict[_Client, None] = {}
        self._subscribers: dict[str, dict[_Client, None]] = {pair: {} for pair in pair_list}
        self._running = asyncio.Event()
        self._paused = False
        self._server: Server | None = None
        self._port: int | None = None
        self._generators: list[asyncio.Task[None]] = []
        self._frames_sent = 0
        self._updates_generated = 0
        self._keepalives_sent = 0
        self._keepalive_sent = asyncio.Condition()

    # -- lifecycle

    async def start(self) -> None:
        """Listen, and start generating updates unless paused."""
        if self._server is not None:
            raise RuntimeError("LunoMockServer already started")
        self._server = await ws_serve(
            self._handle,
            self._host,
            self._requested_port,
            process_request=self._check_path,
            compression=None,
            ping_interval=None,  # our own pings, so that silence() can hold them back
            max_size=2**20,  # what clients send is small; the big frames go the other way
            logger=logging.getLogger("marketstreams.mock.luno.websockets"),
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        if self._rate > 0:
            for market in self._markets.values():
                task = asyncio.create_task(
                    self._generate(market), name=f"luno-mock-generator-{market.pair}"
                )
                self._generators.append(task)
        if not self._paused:
            self._running.set()
        logger.info("luno mock listening on %s", self.url)

    async def stop(self) -> None:
        """Stop generating, close every connection (code 1001) and stop listening."""
        self._running.clear()
        for task in self._generators:
            task.cancel()
        await asyncio.gather(*self._generators, return_exceptions=True)
        self._generators.clear()
        server, self._server = self._server, None
        if server is None:
            return
        for client in self._clients:
            client.silent_until = 0.0  # a silenced client would never answer the close
            client.ws.transport.resume_reading()
        server.close()
        await server.wait_closed()

    async def __aenter__(self) -> LunoMockServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- introspection

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("LunoMockServer not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL; clients append ``/api/1/stream/{PAIR}``."""
        return f"ws://{self._host}:{self.port}"

    @property
    def pairs(self) -> tuple[str, ...]:
        return tuple(self._markets)

    @property
    def frames_sent(self) -> int:
        """Every websocket message sent: errors, snapshots, updates, keepalives, junk."""
        return self._frames_sent

    @property
    def updates_generated(self) -> int:
        return self._updates_generated

    @property
    def keepalives_sent(self) -> int:
        """``""`` keepalive frames sent, to every client together."""
        return self._keepalives_sent

    async def wait_keepalives(self, n: int) -> None:
        """Return once :attr:`keepalives_sent` has reached ``n`` (a test's synchronisation)."""
        async with self._keepalive_sent:
            await self._keepalive_sent.wait_for(lambda: self._keepalives_sent >= n)

    def connections(self, pair: str | None = None) -> int:
        """Open connections (authenticating ones included), of ``pair`` or of all pairs."""
        return sum(1 for _ in self._targets(pair))

    def sequence(self, pair: str) -> int:
        """The sequence of the last update applied to the true book."""
        return self._market(pair).sequence

    def true_depth(self, pair: str) -> dict[str, list[list[Decimal]]]:
        """The true price levels: bids highest first, asks lowest first, exact volumes."""
        return self._market(pair).book.depth()

    def digest(self, pair: str, sequence: int) -> str | None:
        """:func:`book_digest` of the true book right after ``sequence``; ``None`` if that is
        in the future or more than 20000 updates ago."""
        return self._market(pair).digest(sequence)

    # -- the generator

    def pause(self) -> None:
        """Stop the background generator; :meth:`step` still works."""
        self._paused = True
        self._running.clear()

    def resume(self) -> None:
        self._paused = False
        if self._server is not None:
            self._running.set()

    async def step(self, n: int = 1, pair: str | None = None) -> None:
        """Generate ``n`` updates now (per pair, or for every pair) and queue them to clients.

        Works while paused. A client that falls 100000 frames behind is closed (1008).
        """
        markets = [self._market(pair)] if pair is not None else list(self._markets.values())
        for _ in range(n):
            for market in markets:
                self._emit(market)
        await asyncio.sleep(0)

    def _emit(self, market: _Market) -> None:
        data = orjson.dumps(market.next_update())
        self._updates_generated += 1
        subscribers = self._subscribers[market.pair]
        if subscribers:
            now = asyncio.get_running_loop().time()
            for client in subscribers:
                client.push_update(data, now)

    async def _generate(self, market: _Market) -> None:
        loop = asyncio.get_running_loop()
        rate = self._rate
        max_batch = max(1, math.ceil(rate / 4))
        try:
            while True:
                await self._running.wait()
                start, made = loop.time(), 0
                while self._running.is_set():
                    due = int((loop.time() - start) * rate) - made
                    if due > max_batch:  # we cannot keep up: skip ahead, do not pile up
                        made += due - max_batch
                        due = max_batch
                    for _ in range(due):
                        self._emit(market)
                    made += max(due, 0)
                    await asyncio.sleep(max(_MIN_SLEEP, start + (made + 1) / rate - loop.time()))
        except Exception:
            logger.exception("luno mock: the %s generator failed", market.pair)
            raise

    # -- fault switches

    def inject_gap(self, pair: str | None = None) -> None:
        """Each current connection never receives its next update: one sequence goes missing."""
        for client in self._targets(pair):
            client.skip_next = True

    async def drop(self, pair: str | None = None) -> None:
        """Abort the current TCP connections (no close frame) and wait until they are gone."""
        clients = list(self._targets(pair))
        for client in clients:
            client.ws.transport.abort()
        await asyncio.gather(*(client.done.wait() for client in clients))

    def silence(self, seconds: float, pair: str | None = None) -> None:
        """Send nothing at all to the current connections for ``seconds``, and read nothing.

        Updates generated meanwhile are lost to them: the next one they see is a gap.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        clients = list(self._targets(pair))
        for client in clients:
            client.silent_until = max(client.silent_until, until)
            # Unread pings get no pong, like a stalled network path.
            client.ws.transport.pause_reading()

        def end() -> None:
            now = loop.time()
            for client in clients:
                if client.silent_until - now <= 0.01:  # else a later silence() extended it
                    client.ws.transport.resume_reading()
                    client.wake.set()

        loop.call_later(seconds, end)  # after stop() it finds closed transports: harmless

    def send_malformed(self, pair: str | None = None) -> None:
        """The next frame each current connection receives is not JSON."""
        for client in self._targets(pair):
            junk = b'{"sequence": "%d", broken' % (self._markets[client.pair].sequence + 1)
            client.push(junk, front=True)

    def send_error(
        self, code: str, message: str, pair: str | None = None, close: bool = True
    ) -> None:
        """A Luno-style ``{"error_code", "error"}`` frame to each current connection, then close."""
        frame = orjson.dumps({"error_code": code, "error": message})
        for client in self._targets(pair):
            client.push(frame)
            if close:
                client.push(_CloseRequest(_ERROR_CLOSE_CODE, code))

    # -- connections

    def _market(self, pair: str) -> _Market:
        try:
            return self._markets[pair]
        except KeyError:
            raise ValueError(f"unknown pair {pair!r}; serving {list(self._markets)}") from None

    def _targets(self, pair: str | None) -> Iterable[_Client]:
        if pair is None:
            return list(self._clients)
        self._market(pair)
        return [client for client in self._clients if client.pair == pair]

    @staticmethod
    def _check_path(connection: ServerConnection, request: Request) -> Response | None:
        if _pair_from_path(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        path = ws.request.path if ws.request is not None else ""
        client = _Client(ws, _pair_from_path(path) or "", loop.time())
        self._clients[client] = None
        try:
            market = self._markets.get(client.pair)
            if market is None:
                await self._refuse(client, "invalid_market", client.pair)
            elif await self._authenticate(client):
                # Snapshot and subscription in one synchronous step: nothing can fall between.
                client.push(market.snapshot())
                self._subscribers[client.pair][client] = None
                await self._stream(client)
        except ConnectionClosed:
            pass
        finally:
            self._subscribers.get(client.pair, {}).pop(client, None)
            del self._clients[client]
            client.done.set()

    async def _refuse(self, client: _Client, code: str, message: str) -> None:
        await client.ws.send(orjson.dumps({"error_code": code, "error": message}), text=True)
        self._frames_sent += 1
        await client.ws.close(_ERROR_CLOSE_CODE, code)

    async def _authenticate(self, client: _Client) -> bool:
        try:
            async with asyncio.timeout(self._auth_timeout):
                message = await client.ws.recv()
                while message in _CLIENT_KEEPALIVES:  # a keepalive is not the credentials
                    message = await client.ws.recv()
        except TimeoutError:
            await self._refuse(client, "auth_timeout", "you took too long to provide credentials")
            return False
        if not self._credentials_ok(message):
            await self._refuse(
                client, "invalid_credentials", "you provided an invalid credentials message"
            )
            return False
        return True

    def _credentials_ok(self, message: str | bytes) -> bool:
        try:
            data = orjson.loads(message)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(data, dict):
            return False
        if self._credentials is None:
            return True
        key_id, secret = data.get("api_key_id"), data.get("api_key_secret")
        if not isinstance(key_id, str) or not isinstance(secret, str):
            return False
        expected = self._credentials.get(key_id)
        return expected is not None and hmac.compare_digest(
            expected.encode("utf-8"), secret.encode("utf-8")
        )

    async def _stream(self, client: _Client) -> None:
        tasks = [asyncio.create_task(self._send_loop(client))]
        if self._ping_interval is not None:
            tasks.append(asyncio.create_task(self._ping_loop(client, self._ping_interval)))
        try:
            async for message in client.ws:  # keepalives and anything else: ignored
                if message not in _CLIENT_KEEPALIVES and logger.isEnabledFor(logging.DEBUG):
                    logger.debug("luno mock: ignoring client frame %.80r", message)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_loop(self, client: _Client) -> None:
        loop = asyncio.get_running_loop()
        ws, queue = client.ws, client.queue
        try:
            while True:
                if not queue:
                    client.wake.clear()
                    now = loop.time()
                    deadline = client.silent_until if now < client.silent_until else None
                    if self._keepalive is not None:
                        deadline = max(client.last_sent + self._keepalive, deadline or 0.0)
                    if deadline is None or deadline > now:
                        try:
                            async with asyncio.timeout_at(deadline):
                                await client.wake.wait()
                        except TimeoutError:
                            pass
                        continue
                    await ws.send(_KEEPALIVE)
                    self._frames_sent += 1
                    client.last_sent = loop.time()
                    self._keepalives_sent += 1
                    async with self._keepalive_sent:
                        self._keepalive_sent.notify_all()
                    continue
                item = queue.popleft()
                if loop.time() < client.silent_until:
                    continue  # silenced: lost to this client
                if isinstance(item, _CloseRequest):
                    await ws.close(item.code, item.reason)
                    return
                await ws.send(item, text=True)
                self._frames_sent += 1
                client.last_sent = loop.time()
        except ConnectionClosed:
            return
        except Exception:
            logger.exception("luno mock: sending to a %s client failed", client.pair)
            ws.transport.abort()
            raise

    async def _ping_loop(self, client: _Client, interval: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await asyncio.sleep(interval)
                if loop.time() < client.silent_until:
                    continue
                pong = await client.ws.ping()
                sent_at = loop.time()
                try:
                    async with asyncio.timeout(interval):
                        await pong
                except TimeoutError:
                    if client.silent_until > sent_at:
                        continue  # we stopped reading ourselves
                    logger.info("luno mock: a %s client missed a pong, closing", client.pair)
                    await client.ws.close(1011, "keepalive ping timeout")
                    return
        except ConnectionClosed:
            return


# --- running it ---------------------------------------------------------------------------------


async def serve(port: int = 0, host: str = "127.0.0.1", **kwargs: Any) -> None:
    """Run a :class:`LunoMockServer` until cancelled, announcing its URL on stdout."""
    async with LunoMockServer(host=host, port=port, **kwargs) as server:
        print(f"luno mock listening on {server.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mock_servers.luno --port 8801``; Ctrl-C stops it."""
    parser = argparse.ArgumentParser(
        prog="marketstreams mock luno",
        description="Serve synthetic Luno market streams on ws://HOST:PORT/api/1/stream/PAIR.",
    )
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", type=float, default=50.0, help="updates per second per pair")
    parser.add_argument("--orders", type=int, default=2000, help="resting orders per pair")
    parser.add_argument(
        "--pairs", default="XBTZAR,ETHZAR", help="comma-separated pairs (default %(default)s)"
    )
    parser.add_argument("--key", help="API key id to require (with --secret)")
    parser.add_argument("--secret", help="API key secret to require (with --key)")
    parser.add_argument(
        "--keepalive", type=float, default=20.0, help='quiet seconds before a "" frame'
    )
    parser.add_argument("--snapshot-padding-bytes", type=int, default=0)
    args = parser.parse_args(argv)
    if (args.key is None) != (args.secret is None):
        parser.error("--key and --secret go together")
    credentials = {args.key: args.secret} if args.key is not None else None
    pairs = [p.strip() for p in args.pairs.split(",") if p.strip()]
    try:
        asyncio.run(
            serve(
                args.port,
                args.host,
                pairs=pairs,
                seed=args.seed,
                rate=args.rate,
                orders=args.orders,
                credentials=credentials,
                keepalive_interval=args.keepalive,
                snapshot_padding_bytes=args.snapshot_padding_bytes,
            )
        )
    except KeyboardInterrupt:
        pass
    except (OSError, ValueError) as exc:
        print(f"luno mock: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The sans-I/O matching core: simulated orders in one Betfair market, matched against the
market's books as they arrive (no I/O, no asyncio, no clock but the books' publish times).

The rules are written out in :class:`MarketSimulator`'s docstring.
"""

from __future__ import annotations

import logging
import math
import numbers
import operator
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .controls import Limits, exposure_refusal, refusal
from .ladder import MIN_BSP_LIABILITY, is_valid_price
from .order import (
    BACK,
    CANCELLED,
    EXECUTABLE,
    EXECUTION_COMPLETE,
    LAPSED,
    LAY,
    LIMIT,
    LIMIT_ON_CLOSE,
    MARKET_ON_CLOSE,
    PENDING,
    VIOLATION,
    VOIDED,
    SimulatedOrder,
)

__all__ = [
    "CANCEL_LATENCY",
    "MATCHING_MODES",
    "PLACE_LATENCY",
    "REPLACE_LATENCY",
    "WIN_MINIMUM_ADJUSTMENT_FACTOR",
    "BetIds",
    "Limits",
    "MarketSimulator",
    "settle_profit",
]

logger = logging.getLogger("marketstreams.simulation")

PLACE_LATENCY = 0.120  # seconds from placing to the exchange (flumine's place_latency)
CANCEL_LATENCY = 0.170
REPLACE_LATENCY = 0.280
WIN_MINIMUM_ADJUSTMENT_FACTOR = 2.5
MATCHING_MODES = ("flumine", "queue")


@dataclass(slots=True)
class _Action:
    """A request on its way to the exchange."""

    kind: str  # "place" | "cancel" | "replace"
    order: SimulatedOrder
    created: int  # publish time (ms) of the book it was made on
    size_reduction: float | None = None
    replacement: SimulatedOrder | None = None


@dataclass(slots=True)
class _Snapshot:
    """What the exchange held after the last book: the state requests are executed against."""

    status: str | None
    version: int | None
    inplay: bool
    bsp_market: bool
    bsp_reconciled: bool
    passive: bool
    runners: dict[tuple[int, float], tuple[str | None, list[Any], list[Any]]] = field(
        default_factory=dict
    )


class BetIds:
    """Bet ids 1, 2, 3... shared by the markets of one file (picklable, unlike a count)."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def __iter__(self) -> BetIds:
        return self

    def __next__(self) -> int:
        self.n += 1
        return self.n


def _key(selection_id: int, handicap: float) -> tuple[int, float]:
    return (selection_id, float(handicap or 0.0))


def _actual_sp(runner: Any) -> float | None:
    sp = getattr(runner, "bsp", None)
    if sp is None or not isinstance(sp, int | float) or math.isnan(sp) or math.isinf(sp):
        return None
    return float(sp)


def _wap(fills: list[list[Any]]) -> tuple[float, float]:
    """(size, average price) of fills, rounded as flumine rounds them."""
    a = b = 0.0
    for _, p, s in fills:
        a += p * s
        b += s
    if b == 0 or a == 0:
        return 0.0, 0.0
    return round(b, 2), round(a / b, 2)


def settle_profit(
    order: SimulatedOrder,
    runner_status: str | None,
    *,
    market_type: str | None = None,
    each_way_divisor: float | None = None,
    dead_heat_winners: int = 1,
) -> float:
    """Profit (before commission) of ``order`` once its runner finished ``runner_status``:
    a matched back wins size x (price - 1) on WINNER and loses its size on LOSER, a lay the
    reverse; REMOVED or unknown: 0. Dead heats divide the stake; each-way markets pay the place
    part at (price - 1) / divisor on WINNER and PLACED."""
    size, price = order.size_matched, order.average_price_matched
    if not size:
        return 0.0
    back = order.side == BACK
    if market_type == "EACH_WAY" and each_way_divisor:
        win = size * (price - 1)
        place = size * (price - 1) / each_way_divisor
        if runner_status == "WINNER":
            profit = round(win + place, 2)
        elif runner_status == "PLACED":
            profit = round(place - size, 2)
        elif runner_status == "LOSER":
            profit = -round(size * 2, 2)
        else:
            return 0.0
        return profit if back else -profit
    if runner_status == "WINNER":
        n = max(dead_heat_winners, 1)
        profit = (size / n) * (price - 1)
        if n > 1:
            profit -= size * (n - 1) / n
        return round(profit if back else -profit, 2)
    if runner_status == "LOSER":
        return round(-size if back else size, 2)
    return 0.0


class MarketSimulator:
    """Orders of every strategy in one market, and the exchange's handling of them.

    By default (``matching="flumine"``) the rules are flumine 3.3's, so backtests give the
    answers flumine users know:

    * An order reaches the exchange with the first book published more than 0.12 s after it was
      placed (in play: 0.12 s plus the market's ``betDelay``) and is executed against the book
      *before* that one (what the exchange held when it arrived). Cancels take 0.17 s, replaces
      0.28 s, executed the same way. While on its way (PENDING) an order matches nothing.
    * At execution a LIMIT order crosses the opposite side's available ladder at its price or
      better, level by level (``average_price_matched`` is the volume-weighted price, rounded to
      2 decimals). The rest waits in the queue behind the volume on its own side at its price.
    * On every later book (the delivering one included), the traded volume at the order's price
      or better (the increase of the runner's traded ladder since the last book) is halved (both
      sides of a trade are counted), first eats the queue ahead, then matches the order at its
      price. Orders of one strategy share each book's traded volume (lays by price descending,
      then backs ascending, then MARKET_ON_CLOSE): they never match the same volume twice.
    * LAPSE orders lapse on a new market version while the market is SUSPENDED (Betfair
      suspends at the off) and when the market turns in play; PERSIST orders stay.
    * SP orders (LIMIT_ON_CLOSE, MARKET_ON_CLOSE, and LIMIT orders persisting to
      MARKET_ON_CLOSE) are matched at the reconciled BSP on the first book with
      ``bspReconciled``.
    * A removed runner voids every order on it (matched or not); an adjustment factor of 2.5 or
      more reduces the others' matched prices (``price x (1 - af/100)``, at least 1.01) and
      MARKET_ON_CLOSE lays' liability.
    * At the close what still waits lapses, and orders are settled from the runners' WINNER /
      LOSER / PLACED / REMOVED status (dead heats and each-way as flumine does).

    ``matching="queue"`` improves on flumine where it is known to be optimistic: the traded
    volume of the book that delivers an order is not matched against it (it traded while the
    order was on its way), and its place in the queue never exceeds the volume now waiting at
    its price (when people ahead cancel, the order moves up, as on the exchange).

    Drive it with the market's books in order: :meth:`update` with each book (before the
    strategies see it), then the strategies' :meth:`place` / :meth:`cancel` / :meth:`replace`,
    then :meth:`commit`. A CLOSED book settles the market (:attr:`closed`). Orders that changed
    during the last :meth:`update` are in :attr:`changed`.
    """

    def __init__(
        self, market_id: str, *, matching: str = "flumine", ids: Iterator[int] | None = None
    ) -> None:
        if matching not in MATCHING_MODES:
            raise ValueError(f"matching must be one of {MATCHING_MODES}, not {matching!r}")
        self.market_id = market_id
        self.queue_mode = matching == "queue"
        self.orders: list[SimulatedOrder] = []
        self.changed: list[SimulatedOrder] = []
        self.closed = False
        self.runner_status: dict[tuple[int, float], str | None] = {}
        self._live: list[SimulatedOrder] = []
        self._actions: list[_Action] = []
        self._prev: _Snapshot | None = None
        self._definition: dict[str, Any] | None = None
        self._removals: set[tuple[int, float, Any]] = set()
        self._removed: set[tuple[int, float]] = set()
        # traded volume of runners with live LIMIT orders: key -> previous {price: size}
        self._traded: dict[tuple[int, float], dict[float, float]] = {}
        self._inplay = False
        self._ids = ids if ids is not None else BetIds()
        self._now = 0

    @property
    def idle(self) -> bool:
        """No order can still match, lapse or change by prices (none live, no request on its
        way): only definitions (removals, settlement) can still change this market's orders."""
        return not self._live and not self._actions

    # -- the strategies' requests ---------------------------------------------------------------

    def place(
        self,
        limits: Limits,
        book: Any,
        selection_id: int,
        side: str,
        price: float,
        size: float,
        handicap: float = 0.0,
        persistence: str = "LAPSE",
        order_type: str = LIMIT,
    ) -> SimulatedOrder:
        """Validate an order (rules, then the strategy's controls) and send it: it comes back
        PENDING, or VIOLATION with the reason. Never raises for bad input."""
        now = book.publish_time or self._now
        if not isinstance(selection_id, int) and not isinstance(selection_id, bool):
            try:  # a numpy integer (a pandas-built strategy's) is an int
                selection_id = operator.index(selection_id)
            except TypeError:
                pass
        # plain floats from here on (numpy's would leak into results and JSON)
        if isinstance(price, numbers.Real) and not isinstance(price, bool):
            price = float(price)
        if isinstance(size, numbers.Real) and not isinstance(size, bool):
            size = float(size)
        if isinstance(handicap, numbers.Real) and not isinstance(handicap, bool):
            handicap = float(handicap)
        order = SimulatedOrder(
            str(next(self._ids)),
            limits.name,
            self.market_id,
            selection_id,
            handicap or 0.0,
            side,
            price,
            size,
            order_type,
            persistence,
            created_at=now,
        )
        if not self.orders:
            self._observe(book)
        self.orders.append(order)
        reason = refusal(limits, book, order, self.orders)
        if reason is not None:
            order.status = VIOLATION
            order.violation = reason
            order.completed_at = now
            logger.debug("order %s refused: %s", order.bet_id, reason)
            return order
        md = book.market_definition or {}
        order.bet_delay = int(md.get("betDelay") or 0)
        self._live.append(order)
        if order.order_type == LIMIT:
            self._track(book, order)
        self._actions.append(_Action("place", order, now))
        return order

    def cancel(self, order: SimulatedOrder, book: Any, size_reduction: float | None = None) -> bool:
        """Ask to cancel ``size_reduction`` (default: all) of an EXECUTABLE LIMIT order; False
        (and nothing sent) when the order cannot be cancelled."""
        if (
            order.status != EXECUTABLE
            or order.order_type != LIMIT
            or order._cancel_pending
            or order not in self._live
        ):
            return False
        if size_reduction is not None and (
            not isinstance(size_reduction, int | float)
            or isinstance(size_reduction, bool)
            or not size_reduction > 0
        ):
            return False
        order._cancel_pending = True
        self._actions.append(
            _Action("cancel", order, book.publish_time or self._now, size_reduction)
        )
        return True

    def replace(
        self, limits: Limits, order: SimulatedOrder, book: Any, new_price: float
    ) -> SimulatedOrder:
        """Ask to move what is unmatched of an EXECUTABLE LIMIT order to ``new_price``: the old
        order is cancelled, the returned new one carries the cancelled size (VIOLATION when the
        replace is refused)."""
        if isinstance(new_price, numbers.Real) and not isinstance(new_price, bool):
            new_price = float(new_price)
        now = book.publish_time or self._now
        new = SimulatedOrder(
            str(next(self._ids)),
            order.strategy,
            self.market_id,
            order.selection_id,
            order.handicap,
            order.side,
            new_price,
            order.size_remaining,
            order.order_type,
            order.persistence,
            created_at=now,
        )
        new.trade_id = order.trade_id
        new.notes = dict(order.notes)
        self.orders.append(new)
        reason: str | None = None
        if order.status != EXECUTABLE or order.order_type != LIMIT or order._cancel_pending:
            reason = f"replace: order {order.bet_id} is {order.status}, not replaceable"
        elif not is_valid_price(new_price):
            reason = f"replace: price {new_price!r} is not on the Betfair price ladder"
        elif new_price == order.price:
            reason = "replace: the new price is the order's price"
        else:
            reason = exposure_refusal(limits, new, self.orders, exclude=order)
        if reason is not None:
            new.status = VIOLATION
            new.violation = reason
            new.completed_at = now
            return new
        order._cancel_pending = True
        new.bet_delay = order.bet_delay
        self._actions.append(_Action("replace", order, now, replacement=new))
        return new

    @property
    def active(self) -> bool:
        """Whether the market has orders: until then :meth:`update` is only needed for the
        closing book (simulate() skips it; calling it anyway is harmless)."""
        return bool(self.orders)

    def _observe(self, book: Any) -> None:
        """The market's first order: what happened before it (removals, the turn in play) is
        history, not news for the orders."""
        md = book.market_definition
        if md is not None and md is not self._definition:
            self._definition = md
            for rd in md.get("runners") or ():
                if rd.get("status") == "REMOVED":
                    key = _key(rd.get("id"), rd.get("hc") or 0.0)
                    self._removals.add((key[0], key[1], rd.get("adjustmentFactor")))
                    self._removed.add(key)
        self._inplay = bool(book.inplay)

    # -- the books --------------------------------------------------------------------------------

    def update(self, book: Any) -> None:
        """Process one book of the market: requests due, removals, matching, lapses; a CLOSED
        book settles the market."""
        if self.changed:
            self.changed = []
        if self.closed:
            return
        now = book.publish_time or self._now
        self._now = now
        if self._actions:
            self._run_actions(now)
        if book.status == "CLOSED":
            self.settle(book)
            return
        md = book.market_definition
        if md is not self._definition and md is not None:
            self._definition = md
            self._on_definition(book, md)
        if self._live:
            self._match(book, now)
        inplay = bool(book.inplay)
        if inplay and not self._inplay and self._live:
            for order in list(self._live):
                if order.order_type == LIMIT and order.persistence == "LAPSE":
                    self._lapse(order, now)
        self._inplay = inplay

    def commit(self, book: Any) -> None:
        """After the strategies ran on ``book``: remember what requests will be executed against
        (only while some are on their way)."""
        if not self._actions:
            self._prev = None
            return
        md = book.market_definition or {}
        snap = _Snapshot(
            book.status,
            md.get("version"),
            bool(book.inplay),
            bool(md.get("bspMarket")),
            bool(md.get("bspReconciled")),
            "PASSIVE" in (md.get("betDelayModels") or ()),
        )
        for action in self._actions:
            order = action.replacement or action.order
            key = _key(order.selection_id, order.handicap)
            if key in snap.runners:
                continue
            try:
                runner = book.runner(order.selection_id, order.handicap)
            except KeyError:
                snap.runners[key] = (None, [], [])
                continue
            snap.runners[key] = (
                runner.status,
                list(runner.available_to_back),
                list(runner.available_to_lay),
            )
        self._prev = snap

    def settle(self, book: Any) -> None:
        """Close the market: lapse what waits, set each order's runner status and profit."""
        if self.closed:
            return
        self.closed = True
        now = book.publish_time or self._now
        self._actions.clear()
        for order in list(self._live):
            self._lapse(order, now)
        md = book.market_definition or {}
        statuses: dict[tuple[int, float], str | None] = {}
        for rd in md.get("runners") or ():
            statuses[_key(rd.get("id"), rd.get("hc") or 0.0)] = rd.get("status")
        if not statuses:
            for runner in book.runners:
                statuses[_key(runner.selection_id, runner.handicap)] = runner.status
        self.runner_status = statuses
        winners = sum(1 for s in statuses.values() if s == "WINNER")
        wanted = md.get("numberOfWinners")
        dead_heat = winners if (wanted == 1 and winners > 1) else 1
        market_type = md.get("marketType")
        divisor = md.get("eachWayDivisor")
        for order in self.orders:
            if order.status == VIOLATION:  # (its runner may not even exist)
                order.profit = 0.0
                continue
            status = statuses.get(_key(order.selection_id, order.handicap))
            order.runner_status = status
            order.profit = settle_profit(
                order,
                status,
                market_type=market_type,
                each_way_divisor=divisor,
                dead_heat_winners=dead_heat,
            )
            self.changed.append(order)

    def finish(self) -> None:
        """The data ended before the market closed: what waits lapses, nothing is settled
        (``profit`` stays None)."""
        if self.closed:
            return
        self.closed = True
        self._actions.clear()
        for order in list(self._live):
            self._lapse(order, self._now)

    # -- requests on their way ---------------------------------------------------------------------

    def _run_actions(self, now: int) -> None:
        snap = self._prev
        if snap is None:
            return
        keep: list[_Action] = []
        for action in list(self._actions):
            done = True
            if action.kind == "place":
                done = self._execute_place(action.order, action.created, snap, now)
            elif action.kind == "cancel":
                done = self._execute_cancel(action, snap, now)
            else:
                done = self._execute_replace(action, snap, now, keep)
            if not done:
                keep.append(action)
        self._actions = keep

    def _execute_place(
        self, order: SimulatedOrder, created: int, snap: _Snapshot, now: int
    ) -> bool:
        if order.status != PENDING:
            return True
        elapsed = (now - created) / 1000.0
        if not elapsed > PLACE_LATENCY:
            return False
        with_delay = PLACE_LATENCY + order.bet_delay
        if elapsed < with_delay and not snap.passive:
            return False
        if snap.status != "OPEN":
            return self._fail(order, VOIDED, f"market {snap.status} when the order arrived", now)
        status, atb, atl = snap.runners.get(
            _key(order.selection_id, order.handicap), (None, [], [])
        )
        if status == "REMOVED":
            return self._fail(order, VOIDED, "runner removed when the order arrived", now)
        sp_closed = not snap.bsp_market or snap.bsp_reconciled or snap.inplay
        if order.order_type != LIMIT:
            if sp_closed:
                return self._fail(order, VOIDED, "market not open for BSP betting", now)
            order.status, order.placed_at, order._version = EXECUTABLE, now, snap.version
            self.changed.append(order)
            return True
        if order.persistence == "MARKET_ON_CLOSE" and sp_closed:
            return self._fail(order, VOIDED, "persistence MARKET_ON_CLOSE: no BSP betting", now)
        delay_over = elapsed > with_delay
        price = order.price
        if order.side == BACK:
            best = atb[0][0] if atb else 1.01
            if not delay_over and price <= best:
                return False  # an aggressive order waits out the bet delay
            crossing, queue = best >= price, atl
            levels = atb
        else:
            best = atl[0][0] if atl else 1000.0
            if not delay_over and price >= best:
                return False
            crossing, queue = best <= price, atb
            levels = atl
        order.status, order.placed_at, order._version = EXECUTABLE, now, snap.version
        if crossing:
            self._cross(order, levels, now)
        else:
            for p, s in queue:
                if p == price:
                    order._piq = s
                    break
        if order.size_remaining == 0:
            self._complete(order, now)
        self.changed.append(order)
        return True

    def _cross(self, order: SimulatedOrder, levels: list[Any], now: int) -> None:
        left = order.size_remaining
        back = order.side == BACK
        price = order.price
        for p, s in levels:
            if left <= 0:
                break
            if (back and price <= p) or (not back and price >= p):
                take = round(min(left, s), 2)
                left = max(left - s, 0.0)
                if take > 0:
                    self._fill(order, now, p, take)
            else:
                break

    def _execute_cancel(self, action: _Action, snap: _Snapshot, now: int) -> bool:
        order = action.order
        if not (now - action.created) / 1000.0 > CANCEL_LATENCY:
            return False
        order._cancel_pending = False
        if order.status != EXECUTABLE:
            return True
        if snap.status != "OPEN":
            logger.debug("cancel of %s failed: market %s", order.bet_id, snap.status)
            return True
        remaining = order.size_remaining
        cut = min(action.size_reduction or remaining, remaining)
        order.size_cancelled = round(order.size_cancelled + cut, 2)
        if order.size_remaining == 0:
            self._complete(order, now, CANCELLED)
        self.changed.append(order)
        return True

    def _execute_replace(
        self, action: _Action, snap: _Snapshot, now: int, keep: list[_Action]
    ) -> bool:
        order, new = action.order, action.replacement
        assert new is not None
        if not (now - action.created) / 1000.0 > REPLACE_LATENCY:
            return False
        order._cancel_pending = False
        if snap.status != "OPEN" or order.status != EXECUTABLE:
            why = f"market {snap.status}" if snap.status != "OPEN" else f"order {order.status}"
            self._fail(new, VOIDED, f"replace failed: {why}", now)
            return True
        cut = order.size_remaining
        order.size_cancelled = round(order.size_cancelled + cut, 2)
        self._complete(order, now, CANCELLED)
        self.changed.append(order)
        new.size = cut
        if order.order_type == LIMIT:
            self._track_key(_key(new.selection_id, new.handicap))
        self._live.append(new)
        # placed from the next book on (flumine re-places the new order on its next pass)
        keep.append(_Action("place", new, action.created))
        return True

    def _fail(self, order: SimulatedOrder, status: str, reason: str, now: int) -> bool:
        order.violation = reason
        left = order.size_remaining
        order.size_voided = round(order.size_voided + left, 2)
        self._complete(order, now, status)
        self.changed.append(order)
        return True

    # -- the market's changes --------------------------------------------------------------------

    def _on_definition(self, book: Any, md: dict[str, Any]) -> None:
        for rd in md.get("runners") or ():
            if rd.get("status") != "REMOVED":
                continue
            key = _key(rd.get("id"), rd.get("hc") or 0.0)
            af = rd.get("adjustmentFactor")
            if (key[0], key[1], af) in self._removals:
                continue
            self._removals.add((key[0], key[1], af))
            first = key not in self._removed
            self._removed.add(key)
            if self.orders:
                self._remove_runner(key, af, md, first)

    def _remove_runner(
        self, key: tuple[int, float], af: float | None, md: dict[str, Any], first: bool
    ) -> None:
        now = self._now
        market_type = md.get("marketType")
        for order in self.orders:
            if order.status == VIOLATION:
                continue
            if _key(order.selection_id, order.handicap) == key:
                if first:
                    order._matched = []
                    order.size_matched = order.average_price_matched = 0.0
                    order.size_voided = order.size
                    order.size_cancelled = order.size_lapsed = 0.0
                    order.status = VOIDED
                    order.completed_at = order.completed_at or now
                    if order in self._live:
                        self._live.remove(order)
                    self.changed.append(order)
                continue
            if not af:
                continue
            if order.order_type == MARKET_ON_CLOSE and order.side == LAY:
                own_af = 0.0
                for rd in md.get("runners") or ():
                    if _key(rd.get("id"), rd.get("hc") or 0.0) == _key(
                        order.selection_id, order.handicap
                    ):
                        own_af = rd.get("adjustmentFactor") or 0.0
                if market_type == "WIN":
                    order.size = round(order.size * (1 - af / (100 - own_af)), 2)
                elif market_type in ("PLACE", "OTHER_PLACE"):
                    order.size = round(order.size * (100 - af) * 0.01, 2)
                if order.average_price_matched > 1:
                    order.size_matched = round(order.size / (order.average_price_matched - 1), 2)
                self.changed.append(order)
            elif af >= WIN_MINIMUM_ADJUSTMENT_FACTOR and order._matched:
                for fill in order._matched:
                    fill[1] = max(round(fill[1] * (1 - af / 100), 2), 1.01)
                _, order.average_price_matched = _wap(order._matched)
                self.changed.append(order)

    def _track(self, book: Any, order: SimulatedOrder) -> None:
        key = _key(order.selection_id, order.handicap)
        if key not in self._traded:
            try:
                runner = book.runner(order.selection_id, order.handicap)
            except KeyError:
                return
            self._traded[key] = dict(runner.traded_volume)

    def _track_key(self, key: tuple[int, float]) -> None:
        # (a replacement: its runner is already tracked while the old order lives)
        self._traded.setdefault(key, {})

    def _deltas(self, book: Any) -> dict[tuple[int, float], dict[float, float]]:
        """Traded volume per price since the last book, for the runners tracked."""
        out: dict[tuple[int, float], dict[float, float]] = {}
        changed = book.changed_runners
        if not changed:
            return out
        traded = self._traded
        for runner in changed:
            key = (runner.selection_id, float(runner.handicap or 0.0))
            before = traded.get(key)
            if before is None or runner.status != "ACTIVE":
                continue
            now = dict(runner.traded_volume)
            delta: dict[float, float] = {}
            for p, s in now.items():
                old = before.get(p)
                if old is None:
                    delta[p] = s
                else:
                    d = s - old
                    if d > 0:
                        delta[p] = round(d, 2)
            traded[key] = now
            if delta:
                out[key] = delta
        return out

    def _match(self, book: Any, now: int) -> None:
        md = book.market_definition or {}
        reconciled = bool(md.get("bspReconciled"))
        version = md.get("version")
        suspended = book.status == "SUSPENDED"
        deltas = self._deltas(book)
        queue_mode = self.queue_mode
        groups: dict[str, list[SimulatedOrder]] = {}
        for order in self._live:
            groups.setdefault(order.strategy, []).append(order)
        for orders in groups.values():
            local: dict[tuple[int, float], dict[float, float]] = {}
            for order in _matching_order(orders):
                if order.status != EXECUTABLE:
                    continue  # (flumine's middleware leaves PENDING orders alone too)
                if not order._sp_done and reconciled:
                    if _takes_sp(order):
                        if order.status == EXECUTABLE:
                            self._process_sp(order, book, now)
                        continue
                    order._sp_done = True
                if order.order_type != LIMIT:
                    continue
                key = _key(order.selection_id, order.handicap)
                # queue mode: what traded while the order was on its way is not for it
                if key in deltas and not (queue_mode and order.placed_at == now):
                    traded = local.get(key)
                    if traded is None:
                        traded = local[key] = dict(deltas[key])
                    if queue_mode:
                        self._cap_queue(order, book)
                    self._process_traded(order, traded, now)
                if version != order._version:
                    order._version = version
                    if suspended and order.persistence == "LAPSE":
                        self._lapse(order, now)
                        continue
                if order.status == EXECUTABLE and order.size_remaining == 0:
                    self._complete(order, now)

    def _cap_queue(self, order: SimulatedOrder, book: Any) -> None:
        if not order._piq:
            return
        try:
            runner = book.runner(order.selection_id, order.handicap)
        except KeyError:
            return
        same_side = runner.available_to_lay if order.side == BACK else runner.available_to_back
        waiting = 0.0
        for p, s in same_side:
            if p == order.price:
                waiting = s
                break
        if waiting < order._piq:
            order._piq = waiting

    def _process_traded(self, order: SimulatedOrder, traded: dict[float, float], now: int) -> None:
        price = order.price
        back = order.side == BACK
        for p, s in traded.items():
            if (back and p >= price) or (not back and p <= price):
                half = s / 2
                piq = order._piq
                if piq - half < 0:
                    take = round(min(order.size_remaining, half - piq), 2)
                    if take > 0:
                        self._fill(order, now, price, take)
                    used = (piq + take) * 2
                    order._piq = 0.0
                    if used:
                        traded[p] = max(s - used, 0.0)
                else:
                    order._piq = piq - half
                    traded[p] = 0.0

    def _process_sp(self, order: SimulatedOrder, book: Any, now: int) -> None:
        try:
            runner = book.runner(order.selection_id, order.handicap)
        except KeyError:
            return
        sp = _actual_sp(runner)
        if sp is None:
            logger.debug("no SP yet for order %s on runner %s", order.bet_id, order.selection_id)
            return
        order._sp_done = True
        kind, back = order.order_type, order.side == BACK
        if kind == LIMIT:
            remaining = order.size_remaining
            if back:
                size = remaining
            else:
                risk = (order.price - 1.0) * remaining
                if risk < MIN_BSP_LIABILITY:
                    self._lapse(order, now)
                    return
                size = round(risk / (sp - 1.0), 2)
                order.size_cancelled = round(order.size_cancelled + max(remaining - size, 0.0), 2)
        elif kind == LIMIT_ON_CLOSE:
            if (back and sp < order.price) or (not back and sp > order.price):
                self._lapse(order, now)
                return
            size = order.size if back else round(order.size / (sp - 1), 2)
        else:
            size = order.size if back else round(order.size / (sp - 1), 2)
        self._fill(order, now, sp, size)
        self._complete(order, now)

    # -- order state ----------------------------------------------------------------------------

    def _fill(self, order: SimulatedOrder, now: int, price: float, size: float) -> None:
        order._matched.append([now, price, size])
        order.size_matched, order.average_price_matched = _wap(order._matched)
        order.matched_at = now
        self.changed.append(order)

    def _lapse(self, order: SimulatedOrder, now: int) -> None:
        left = order.size_remaining
        if order.order_type != LIMIT:
            left = order.size if not order.size_matched else 0.0
        order.size_lapsed = round(order.size_lapsed + left, 2)
        self._complete(order, now, LAPSED)
        self.changed.append(order)

    def _complete(self, order: SimulatedOrder, now: int, otherwise: str = LAPSED) -> None:
        order.status = EXECUTION_COMPLETE if order.size_matched > 0 else otherwise
        if order.completed_at is None:
            order.completed_at = now
        if order in self._live:
            self._live.remove(order)
        if order.order_type == LIMIT:
            key = _key(order.selection_id, order.handicap)
            if key in self._traded and not any(
                o.order_type == LIMIT and _key(o.selection_id, o.handicap) == key
                for o in self._live
            ):
                del self._traded[key]


def _takes_sp(order: SimulatedOrder) -> bool:
    return order.order_type != LIMIT or order.persistence == "MARKET_ON_CLOSE"


def _matching_order(orders: list[SimulatedOrder]) -> list[SimulatedOrder]:
    """flumine's order of matching within a strategy: lays by price descending, backs by price
    ascending, then MARKET_ON_CLOSE orders (stable: equal prices keep placement order)."""
    if len(orders) == 1:
        return orders
    lays = sorted(
        (o for o in orders if o.side == LAY and o.order_type != MARKET_ON_CLOSE),
        key=lambda o: -o.price,
    )
    backs = sorted(
        (o for o in orders if o.side == BACK and o.order_type != MARKET_ON_CLOSE),
        key=lambda o: o.price,
    )
    moc = [o for o in orders if o.order_type == MARKET_ON_CLOSE]
    return lays + backs + moc

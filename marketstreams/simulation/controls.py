"""Which orders the simulated exchange refuses: its rules (price ladder, minimums, market and
runner state) and the strategy's controls, flumine's names and meaning, each refusal naming the
rule or control."""

from __future__ import annotations

import math
from typing import Any, Protocol

from .ladder import MIN_BET_PAYOUT, MIN_BET_SIZE, MIN_BSP_LIABILITY, is_valid_price
from .order import (
    BACK,
    LAY,
    LIMIT,
    LIMIT_ON_CLOSE,
    MARKET_ON_CLOSE,
    PENDING,
    VIOLATION,
    SimulatedOrder,
)

__all__ = ["Limits", "exposure_refusal", "refusal"]

_SIDES = (BACK, LAY)
_ORDER_TYPES = (LIMIT, LIMIT_ON_CLOSE, MARKET_ON_CLOSE)
_PERSISTENCE = ("LAPSE", "PERSIST", "MARKET_ON_CLOSE")


class Limits(Protocol):
    """The controls a strategy carries (flumine's names; None = no limit)."""

    name: str
    max_order_exposure: float | None
    max_selection_exposure: float | None
    max_trade_count: int | None
    max_live_trade_count: int | None


def refusal(
    limits: Limits, book: Any, order: SimulatedOrder, orders: list[SimulatedOrder]
) -> str | None:
    """Why ``order`` is refused (the exchange's rules, then the strategy's controls), or None.
    ``orders``: the market's orders so far."""
    side, price, size, kind = order.side, order.price, order.size, order.order_type
    sid, handicap = order.selection_id, order.handicap
    if not isinstance(sid, int) or isinstance(sid, bool):
        return f"selection_id must be an int, not {sid!r}"
    if (
        not isinstance(handicap, int | float)
        or isinstance(handicap, bool)
        or not math.isfinite(handicap)
    ):
        return f"handicap must be a number, not {handicap!r}"
    if side not in _SIDES:
        return f"side must be BACK or LAY, not {side!r}"
    if kind not in _ORDER_TYPES:
        return f"order_type must be one of {', '.join(_ORDER_TYPES)}, not {kind!r}"
    if order.persistence not in _PERSISTENCE:
        return f"persistence must be one of {', '.join(_PERSISTENCE)}, not {order.persistence!r}"
    if not isinstance(size, int | float) or isinstance(size, bool) or not size > 0:
        return f"size must be a positive number, not {size!r}"
    if round(size, 2) != size:
        return f"size {size!r} has more than 2 decimals"
    if kind != MARKET_ON_CLOSE and not is_valid_price(price):
        return f"price {price!r} is not on the Betfair price ladder"
    if kind == LIMIT:
        if size < MIN_BET_SIZE and price * size < MIN_BET_PAYOUT:
            return (
                f"size {size} is below the minimum bet ({MIN_BET_SIZE}) and its payout "
                f"below {MIN_BET_PAYOUT}"
            )
    elif side == BACK and size < MIN_BET_SIZE:
        return f"liability {size} is below the minimum bet ({MIN_BET_SIZE})"
    elif side == LAY and size < MIN_BSP_LIABILITY:
        return f"liability {size} is below the minimum BSP liability ({MIN_BSP_LIABILITY})"
    if book.status != "OPEN":
        return f"market is {book.status}, not OPEN"
    try:
        runner = book.runner(order.selection_id, order.handicap)
    except (KeyError, TypeError):
        return f"runner {order.selection_id} (handicap {order.handicap}) is not in the market"
    if runner.status == "REMOVED":
        return f"runner {order.selection_id} is REMOVED"
    return _controls_refusal(limits, order, orders)


def _on_runner(order: SimulatedOrder, orders: list[SimulatedOrder]) -> list[SimulatedOrder]:
    """The strategy's other orders on the order's runner (refused ones left out)."""
    return [
        o
        for o in orders
        if o.strategy == order.strategy
        and o is not order
        and o.selection_id == order.selection_id
        and o.handicap == order.handicap
        and o.status != VIOLATION
    ]


def _controls_refusal(
    limits: Limits, order: SimulatedOrder, orders: list[SimulatedOrder]
) -> str | None:
    mine = _on_runner(order, orders)
    max_trades = limits.max_trade_count
    if max_trades is not None:
        trades = len({o.trade_id for o in mine})
        if trades >= max_trades:
            return f"max_trade_count: trade count ({trades}) >= max_trade_count ({max_trades})"
    max_live = limits.max_live_trade_count
    if max_live is not None:
        live = len({o.trade_id for o in mine if o.live})
        if live >= max_live:
            return (
                f"max_live_trade_count: live trade count ({live}) >= "
                f"max_live_trade_count ({max_live})"
            )
    return exposure_refusal(limits, order, orders, mine=mine)


def exposure_refusal(
    limits: Limits,
    order: SimulatedOrder,
    orders: list[SimulatedOrder],
    *,
    exclude: SimulatedOrder | None = None,
    mine: list[SimulatedOrder] | None = None,
) -> str | None:
    """max_order_exposure and max_selection_exposure for ``order`` (``exclude``: the order a
    replace takes the place of; ``mine``: the strategy's orders on the runner, if known)."""
    exposure = order.exposure
    cap = limits.max_order_exposure
    if cap is not None and exposure > cap:
        return f"max_order_exposure: order exposure ({exposure}) > max_order_exposure ({cap})"
    cap = limits.max_selection_exposure
    if cap is None:
        return None
    if mine is None:
        mine = _on_runner(order, orders)
    win, lose = _exposures([o for o in mine if o is not exclude])
    current = -lose if order.side == BACK else -win
    potential = current + exposure
    if potential > cap:
        return (
            f"max_selection_exposure: potential selection exposure ({potential:.2f}) > "
            f"max_selection_exposure ({cap})"
        )
    return None


def _exposures(orders: list[SimulatedOrder]) -> tuple[float, float]:
    """Worst profit if the selection wins / loses, from matched and unmatched parts (PENDING
    and refused orders left out, as flumine does)."""
    win = lose = 0.0
    for o in orders:
        if o.status in (PENDING, VIOLATION):
            continue
        if o.order_type == LIMIT:
            if o.size_matched:
                p, s = o.average_price_matched, o.size_matched
                if o.side == BACK:
                    win += (p - 1) * s
                    lose -= s
                else:
                    win -= (p - 1) * s
                    lose += s
            left = o.size_remaining
            if left:
                if o.side == BACK:
                    lose -= left
                else:
                    win -= (o.price - 1) * left
        elif o.side == BACK:
            lose -= o.size
        else:
            win -= o.size
    return round(win, 2), round(lose, 2)

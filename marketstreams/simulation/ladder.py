"""Betfair's price ladder (the CLASSIC tick ladder) and the exchange's order minimums."""

from __future__ import annotations

import bisect

__all__ = [
    "MIN_BET_PAYOUT",
    "MIN_BET_SIZE",
    "MIN_BSP_LIABILITY",
    "PRICES",
    "is_valid_price",
    "tick_index",
    "ticks_away",
]

# GBP minimums (flumine's SimulatedClient defaults): a stake below MIN_BET_SIZE is accepted only
# when its payout (price x size) reaches MIN_BET_PAYOUT.
MIN_BET_SIZE = 1.0
MIN_BET_PAYOUT = 10.0
MIN_BSP_LIABILITY = 10.0

# (upper bound of the band, increment): 1.01..2 by 0.01, 2..3 by 0.02, ... 100..1000 by 10
_BANDS = (
    (2.0, 0.01),
    (3.0, 0.02),
    (4.0, 0.05),
    (6.0, 0.1),
    (10.0, 0.2),
    (20.0, 0.5),
    (30.0, 1.0),
    (50.0, 2.0),
    (100.0, 5.0),
    (1000.0, 10.0),
)


def _build() -> tuple[float, ...]:
    # Built in hundredths (integers) so no float error accumulates along the ladder.
    out = [101]
    for upper, step in _BANDS:
        hi, inc = round(upper * 100), round(step * 100)
        while out[-1] < hi:
            out.append(out[-1] + inc)
    return tuple(p / 100 for p in out)


PRICES: tuple[float, ...] = _build()
_INDEX = {p: i for i, p in enumerate(PRICES)}


def is_valid_price(price: float) -> bool:
    """Whether ``price`` is a tick of the ladder (1.01, 1.02 ... 1000)."""
    try:
        return round(price, 2) == price and price in _INDEX
    except TypeError:
        return False


def tick_index(price: float) -> int:
    """Index of ``price`` on the ladder; ValueError when it is not a tick."""
    i = _INDEX.get(price)
    if i is None:
        raise ValueError(f"{price!r} is not on the Betfair price ladder")
    return i


def ticks_away(price: float, n: int) -> float:
    """The price ``n`` ticks above (n > 0) or below ``price``, clamped to 1.01..1000; an off-ladder
    price is first moved to the nearest tick below it."""
    i = _INDEX.get(price)
    if i is None:
        i = max(bisect.bisect_right(PRICES, price) - 1, 0)
    return PRICES[min(max(i + n, 0), len(PRICES) - 1)]

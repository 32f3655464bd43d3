"""Orders refused by the exchange's rules and by the strategy's controls (named in the reason)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.simulation._books import Exchange, Limits, runner_def

LADDER = [{"id": 1, "atb": [[3.0, 100]], "atl": [[3.1, 100]]}]


def ready(**md: Any) -> Exchange:
    x = Exchange(runners=[runner_def(1), runner_def(2), runner_def(3, "REMOVED")], **md)
    x.tick(LADDER)
    return x


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        ((1, "BACK", 3.33, 5.0), {}, "price ladder"),
        ((1, "BACK", 3.0, 0.5), {}, "minimum bet"),
        ((1, "BACK", 3.0, 2.555), {}, "decimals"),
        ((1, "BACK", 3.0, -2.0), {}, "positive"),
        ((1, "SIDEWAYS", 3.0, 5.0), {}, "BACK or LAY"),
        ((1, "BACK", 3.0, 5.0), {"order_type": "FILL_OR_KILL"}, "order_type"),
        ((1, "BACK", 3.0, 5.0), {"persistence": "FOREVER"}, "persistence"),
        ((99, "BACK", 3.0, 5.0), {}, "not in the market"),
        ((3, "BACK", 3.0, 5.0), {}, "REMOVED"),
        ((1, "LAY", 0.0, 5.0), {"order_type": "MARKET_ON_CLOSE"}, "BSP liability"),
    ],
)
def test_invalid_orders_are_refused_with_the_reason(
    args: tuple[int, str, float, float], kwargs: dict[str, str], words: str
) -> None:
    x = ready()
    order = x.place(*args, **kwargs)  # type: ignore[arg-type]
    assert order.status == "VIOLATION"
    assert words in (order.violation or "")
    assert order.size_remaining == 0.0
    assert order not in x.sim._live


def test_a_small_stake_with_a_big_enough_payout_is_accepted() -> None:
    x = ready()
    x.tick([{"id": 1, "atl": [[12.0, 5]]}])
    assert x.place(1, "BACK", 12.0, 0.9).status == "PENDING"  # 0.9 x 12 >= 10


def test_orders_are_refused_while_the_market_is_suspended() -> None:
    x = ready()
    x.tick(status="SUSPENDED", version=2)
    order = x.place(1, "BACK", 3.0, 5.0)
    assert order.status == "VIOLATION"
    assert "SUSPENDED" in (order.violation or "")


def test_max_order_exposure() -> None:
    x = ready()
    limits = Limits(max_order_exposure=20.0)
    assert x.place(1, "BACK", 3.0, 20.0, limits).status == "PENDING"
    lay = x.place(2, "LAY", 3.0, 11.0, limits)  # liability 22
    assert lay.status == "VIOLATION"
    assert (lay.violation or "").startswith("max_order_exposure")


def test_max_selection_exposure_counts_what_is_on_the_exchange() -> None:
    x = ready()
    limits = Limits(max_selection_exposure=25.0)
    first = x.place(1, "BACK", 3.5, 20.0, limits)
    x.tick(dt=0.1)
    x.tick(dt=0.1)
    assert first.status == "EXECUTABLE"
    second = x.place(1, "BACK", 3.5, 10.0, limits)  # 20 + 10 > 25 if both lose
    assert second.status == "VIOLATION"
    assert (second.violation or "").startswith("max_selection_exposure")
    assert x.place(1, "BACK", 3.5, 5.0, limits).status == "PENDING"


def test_max_trade_count() -> None:
    x = ready()
    limits = Limits(max_trade_count=2)
    assert x.place(1, "BACK", 3.5, 5.0, limits).status == "PENDING"
    assert x.place(1, "BACK", 3.5, 5.0, limits).status == "PENDING"
    third = x.place(1, "BACK", 3.5, 5.0, limits)
    assert third.status == "VIOLATION"
    assert (third.violation or "").startswith("max_trade_count")
    assert x.place(2, "BACK", 3.5, 5.0, limits).status == "PENDING"  # per runner
    assert x.place(1, "BACK", 3.5, 5.0, Limits("other", max_trade_count=2)).status == "PENDING"


def test_max_live_trade_count_frees_up_when_an_order_completes() -> None:
    x = ready()
    limits = Limits(max_live_trade_count=1)
    first = x.place(1, "BACK", 3.0, 5.0, limits)
    second = x.place(1, "BACK", 3.0, 5.0, limits)
    assert second.status == "VIOLATION"
    assert (second.violation or "").startswith("max_live_trade_count")
    x.tick(dt=0.1)
    x.tick(dt=0.1)
    assert first.status == "EXECUTION_COMPLETE"
    assert x.place(1, "BACK", 3.0, 5.0, limits).status == "PENDING"


def test_numpy_numbers_are_numbers() -> None:
    import numpy as np

    x = ready()
    order = x.place(np.int64(1), "BACK", np.float64(3.5), np.float64(5.0))  # type: ignore[arg-type]
    assert order.status == "PENDING", order.violation
    assert type(order.selection_id) is int
    assert type(order.price) is float and type(order.size) is float

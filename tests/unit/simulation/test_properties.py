"""Properties of the matching core over generated books and orders (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams.simulation import PRICES
from tests.unit.simulation._books import Exchange, Limits, runner_def

prices = st.sampled_from(PRICES[:200])
sizes = st.integers(min_value=200, max_value=50_000).map(lambda cents: cents / 100)
levels = st.lists(st.tuples(prices, sizes), max_size=6, unique_by=lambda level: level[0])
orders = st.tuples(
    st.sampled_from(["BACK", "LAY"]), prices, sizes, st.sampled_from(["LAPSE", "PERSIST"])
)
# a step of the market: new offers, traded volume added at some prices, maybe a suspension
steps = st.tuples(levels, levels, st.lists(st.tuples(prices, sizes), max_size=4), st.booleans())


def _run(
    ladder: tuple[list[Any], list[Any]], placed: list[Any], moves: list[Any], matching: str
) -> list[Any]:
    x = Exchange(matching=matching)
    back, lay = ladder
    x.tick([{"id": 1, "atb": [list(lv) for lv in back], "atl": [list(lv) for lv in lay]}])
    made = [
        x.place(1, side, price, size, persistence=persistence)
        for side, price, size, persistence in placed
    ]
    traded: dict[float, float] = {}
    version = 1
    for new_back, new_lay, trades, suspend in moves:
        for price, size in trades:
            traded[price] = round(traded.get(price, 0.0) + size, 2)
        rc = {
            "id": 1,
            "atb": [[p, s] for p, s in new_back],
            "atl": [[p, s] for p, s in new_lay],
            "trd": [[p, s] for p, s in traded.items()],
        }
        if suspend:
            version += 1
            x.tick([rc], dt=0.1, status="SUSPENDED", version=version)
            version += 1
            x.tick(dt=0.1, status="OPEN", version=version)
        else:
            x.tick([rc], dt=0.1)
        for order in made:
            assert order.size_matched <= order.size + 1e-9
            accounted = (
                order.size_matched + order.size_cancelled + order.size_lapsed + order.size_voided
            )
            assert accounted <= order.size + 1e-6
    x.tick(status="CLOSED", runners=[runner_def(1, "WINNER"), runner_def(2, "LOSER")])
    return made


@settings(max_examples=150, deadline=None)
@given(
    st.tuples(levels, levels),
    st.lists(orders, min_size=1, max_size=4),
    st.lists(steps, max_size=8),
    st.sampled_from(["flumine", "queue"]),
)
def test_matched_never_exceeds_size_nor_a_worse_price(
    ladder: Any, placed: Any, moves: Any, matching: str
) -> None:
    for order in _run(ladder, placed, moves, matching):
        assert order.size_matched <= order.size + 1e-9
        assert order.size_remaining == 0.0  # everything is settled at the close
        for _, price, _ in order.matches:
            if order.side == "BACK":
                assert price >= order.price
            else:
                assert price <= order.price
        if order.size_matched:
            lo = min(p for _, p, _ in order.matches)
            hi = max(p for _, p, _ in order.matches)
            assert lo - 0.005 <= order.average_price_matched <= hi + 0.005


@settings(max_examples=150, deadline=None)
@given(prices, sizes, st.booleans(), sizes)
def test_a_fully_matched_back_wins_size_times_price_minus_one_or_loses_its_size(
    price: float, size: float, wins: bool, extra: float
) -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[price, round(size + extra, 2)]]}])
    order = x.place(1, "BACK", price, size)
    x.tick(dt=0.1)
    x.tick(dt=0.1)
    assert order.size_matched == size
    assert order.average_price_matched == price
    first, second = ("WINNER", "LOSER") if wins else ("LOSER", "WINNER")
    x.tick(status="CLOSED", runners=[runner_def(1, first), runner_def(2, second)])
    assert order.profit == (round(size * (price - 1), 2) if wins else -size)


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(["BACK", "LAY", "LIMIT", "MARKET_ON_CLOSE", "LIMIT_ON_CLOSE", "PERSIST"]),
)


@settings(max_examples=300, deadline=None)
@given(junk, junk, junk, junk, junk, junk, junk)
def test_placing_never_raises_whatever_it_is_given(
    selection: Any, side: Any, price: Any, size: Any, handicap: Any, persistence: Any, kind: Any
) -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 20]], "atl": [[3.1, 20]]}])
    order = x.place(
        selection, side, price, size, handicap=handicap, persistence=persistence, order_type=kind
    )
    assert order.status in ("PENDING", "VIOLATION")
    assert (order.violation is None) == (order.status == "PENDING")
    x.tick(dt=0.2)
    x.tick(status="CLOSED", runners=[runner_def(1, "WINNER"), runner_def(2, "LOSER")])
    assert order.profit is not None


@settings(max_examples=100, deadline=None)
@given(junk, junk)
def test_cancel_and_replace_never_raise(reduction: Any, new_price: Any) -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 20]], "atl": [[3.1, 20]]}])
    order = x.place(1, "BACK", 4.0, 10.0)
    x.tick(dt=0.2)
    assert order.status == "EXECUTABLE"
    x.sim.cancel(order, x.book, reduction)
    new = x.sim.replace(Limits(), order, x.book, new_price)
    assert new.status in ("PENDING", "VIOLATION")
    x.tick(dt=0.5)
    x.tick(dt=0.5)
    assert order.size_matched + order.size_cancelled + order.size_remaining <= 10.0

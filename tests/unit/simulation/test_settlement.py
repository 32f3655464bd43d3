"""Settlement from the runners' final status, commission on net market winnings, the ladder."""

from __future__ import annotations

import pytest

from marketstreams.simulation import PRICES, is_valid_price, settle_profit, ticks_away
from marketstreams.simulation.order import SimulatedOrder
from marketstreams.simulation.result import MarketResult
from tests.unit.simulation._books import Exchange, runner_def


def matched(side: str, price: float, size: float) -> SimulatedOrder:
    order = SimulatedOrder("1", "s", "1.1", 1, 0.0, side, price, size)
    order.size_matched, order.average_price_matched = size, price
    return order


@pytest.mark.parametrize(
    ("status", "back", "lay"),
    [
        ("WINNER", 15.0, -15.0),  # 10 x (2.5 - 1)
        ("LOSER", -10.0, 10.0),
        ("REMOVED", 0.0, 0.0),
        ("PLACED", 0.0, 0.0),  # a WIN market: PLACED pays nothing
        (None, 0.0, 0.0),
    ],
)
def test_each_runner_status_settles(status: str | None, back: float, lay: float) -> None:
    assert settle_profit(matched("BACK", 2.5, 10.0), status) == back
    assert settle_profit(matched("LAY", 2.5, 10.0), status) == lay


@pytest.mark.parametrize(
    ("status", "profit"),
    [("WINNER", 15.0 + 3.75), ("PLACED", 3.75 - 10.0), ("LOSER", -20.0), ("REMOVED", 0.0)],
)
def test_each_way_pays_the_place_part_at_the_divisor(status: str, profit: float) -> None:
    order = matched("BACK", 2.5, 10.0)
    assert settle_profit(order, status, market_type="EACH_WAY", each_way_divisor=4.0) == profit
    assert (
        settle_profit(
            matched("LAY", 2.5, 10.0), status, market_type="EACH_WAY", each_way_divisor=4.0
        )
        == -profit
    )


def test_a_dead_heat_halves_the_stake() -> None:
    # two winners in a one-winner market: half the stake wins at the price, half loses
    assert settle_profit(matched("BACK", 5.0, 10.0), "WINNER", dead_heat_winners=2) == 15.0


def test_settlement_at_the_close_sets_each_orders_profit_and_runner_status() -> None:
    x = Exchange(runners=[runner_def(1), runner_def(2), runner_def(3)])
    x.tick(
        [
            {"id": 1, "atb": [[3.0, 50]], "atl": [[3.1, 50]]},
            {"id": 2, "atb": [[5.0, 50]]},
            {"id": 3, "atl": [[8.0, 50]]},
        ]
    )
    win = x.place(1, "BACK", 3.0, 10.0)
    lose = x.place(2, "BACK", 5.0, 4.0)
    lay = x.place(3, "LAY", 8.0, 2.0)
    refused = x.place(1, "BACK", 3.33, 10.0)
    x.tick(dt=0.1)
    x.tick(dt=0.1)
    x.tick(
        status="CLOSED",
        runners=[runner_def(1, "WINNER"), runner_def(2, "LOSER"), runner_def(3, "LOSER")],
        version=9,
    )
    assert (win.profit, win.runner_status) == (20.0, "WINNER")
    assert (lose.profit, lose.runner_status) == (-4.0, "LOSER")
    assert lay.profit == 2.0
    assert refused.profit == 0.0
    dead_heat = Exchange()
    dead_heat.tick([{"id": 1, "atb": [[3.0, 50]]}])
    order = dead_heat.place(1, "BACK", 3.0, 10.0)
    dead_heat.tick(dt=0.1)
    dead_heat.tick(dt=0.1)
    dead_heat.tick(status="CLOSED", runners=[runner_def(1, "WINNER"), runner_def(2, "WINNER")])
    assert order.profit == 5.0  # 5 x (3 - 1) - 5


class _Book:
    market_id = "1.1"
    market_definition = {"marketTime": "2024-01-01T12:00:00Z", "marketType": "WIN"}


def test_commission_is_charged_on_net_market_winnings() -> None:
    won, lost = matched("BACK", 3.0, 10.0), matched("LAY", 2.0, 8.0)
    won.profit, lost.profit = 20.0, -8.0
    result = MarketResult.of("s", _Book(), [won, lost], 0.05, 0)
    assert result.gross_profit == 12.0
    assert result.commission == 0.6  # 5 % of the net 12, not of the 20 won
    assert result.net_profit == 11.4
    lost.profit = -30.0
    result = MarketResult.of("s", _Book(), [won, lost], 0.05, 0)
    assert (result.gross_profit, result.commission, result.net_profit) == (-10.0, 0.0, -10.0)


def test_the_price_ladder() -> None:
    assert PRICES[0] == 1.01
    assert PRICES[-1] == 1000.0
    assert len(PRICES) == 350
    for good in (1.01, 1.99, 2.0, 2.02, 3.05, 4.1, 6.2, 10.5, 21.0, 32.0, 55.0, 110.0, 1000.0):
        assert is_valid_price(good), good
    for bad in (1.0, 2.01, 3.01, 4.05, 6.1, 10.2, 20.5, 31.0, 52.0, 105.0, 1010.0, 3.333):
        assert not is_valid_price(bad), bad
    assert not is_valid_price("3.0")  # type: ignore[arg-type]
    assert ticks_away(2.0, 1) == 2.02
    assert ticks_away(2.0, -1) == 1.99
    assert ticks_away(1.01, -5) == 1.01
    assert ticks_away(990.0, 5) == 1000.0

"""The matching core, one rule a test, on literal books (flumine 3.3's rules unless said)."""

from __future__ import annotations

import pytest

from tests.unit.simulation._books import Exchange, Limits, runner_def

LADDER = [{"id": 1, "atb": [[3.0, 2], [2.9, 3], [2.8, 10]], "atl": [[3.1, 5], [3.2, 8]]}]


def placed(x: Exchange) -> None:
    """Two books 0.1 s apart: the order reaches the exchange on the second (> 0.12 s)."""
    x.tick(dt=0.1)
    x.tick(dt=0.1)


def test_a_back_crosses_several_levels_at_the_average_price() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.8, 10.0)
    assert order.status == "PENDING"
    placed(x)
    assert order.matches == [(x.t, 3.0, 2.0), (x.t, 2.9, 3.0), (x.t, 2.8, 5.0)]
    assert order.size_matched == 10.0
    assert order.average_price_matched == round((6.0 + 8.7 + 14.0) / 10, 2)
    assert order.status == "EXECUTION_COMPLETE"
    assert order.placed_at == x.t


def test_a_lay_crosses_the_lay_side_up_to_its_price() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "LAY", 3.2, 10.0)
    placed(x)
    assert [(p, s) for _, p, s in order.matches] == [(3.1, 5.0), (3.2, 5.0)]
    assert order.average_price_matched == 3.15


def test_a_partial_fill_leaves_the_rest_executable_with_no_queue() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.9, 10.0)
    placed(x)
    assert order.size_matched == 5.0
    assert order.average_price_matched == 2.94
    assert order.size_remaining == 5.0
    assert order.status == "EXECUTABLE"
    assert order._piq == 0.0


def test_the_order_is_executed_against_the_book_before_the_one_that_delivers_it() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.0, 2.0)
    x.tick(dt=0.1)  # 0.1 s: still on its way
    assert order.status == "PENDING"
    # the book arriving 0.2 s after removed the 3.0 offer: the order was there first
    x.tick([{"id": 1, "atb": [[3.0, 0]]}], dt=0.1)
    assert order.size_matched == 2.0
    assert order.average_price_matched == 3.0


def test_the_remainder_waits_behind_the_queue_then_matches_from_traded_volume() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "atl": [[3.5, 20]], "trd": [[3.5, 100]]}])
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    assert order.size_matched == 0.0
    assert order._piq == 20.0
    x.tick([{"id": 1, "trd": [[3.5, 130]]}])  # 30 traded: 15 a side, all of it queue
    assert order.size_matched == 0.0
    assert order._piq == 5.0
    x.tick([{"id": 1, "trd": [[3.5, 150]]}])  # 10 a side: 5 to the queue, 5 to the order
    assert order.size_matched == 5.0
    assert order.average_price_matched == 3.5
    assert order._piq == 0.0
    x.tick([{"id": 1, "trd": [[3.5, 150], [4.0, 20]]}])  # a better price counts too
    assert order.size_matched == 10.0
    assert order.average_price_matched == 3.5
    assert order.status == "EXECUTION_COMPLETE"


def test_traded_volume_at_a_worse_price_does_not_match() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "trd": [[3.0, 100]]}])
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    x.tick([{"id": 1, "trd": [[3.0, 200]]}])
    assert order.size_matched == 0.0


def test_traded_volume_before_placement_matches_nothing() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "atl": [[3.5, 20]], "trd": [[3.5, 100]]}])
    order = x.place(1, "BACK", 3.5, 10.0)
    x.tick([{"id": 1, "trd": [[3.5, 150]]}], dt=0.05)  # traded while the order is on its way
    assert order.status == "PENDING"
    assert order.size_matched == 0.0
    # delivered with the next book: its traded volume counts (flumine), after the queue
    x.tick([{"id": 1, "trd": [[3.5, 190]]}], dt=0.1)
    assert order.status == "EXECUTABLE"
    assert order._piq == 0.0 and order.size_matched == 0.0  # 20 of the queue ahead
    x.tick([{"id": 1, "trd": [[3.5, 200]]}])
    assert order.size_matched == 5.0


def test_queue_matching_takes_nothing_traded_while_the_order_travelled() -> None:
    x = Exchange(matching="queue")
    x.tick([{"id": 1, "atb": [[3.0, 2]], "atl": [[3.5, 20]], "trd": [[3.5, 100]]}])
    order = x.place(1, "BACK", 3.5, 10.0)
    x.tick([{"id": 1, "trd": [[3.5, 110]]}], dt=0.05)
    x.tick([{"id": 1, "trd": [[3.5, 150]]}], dt=0.1)
    assert order.status == "EXECUTABLE"
    assert order._piq == 20.0  # the 40 traded on the way took nothing off the queue
    x.tick([{"id": 1, "trd": [[3.5, 190]]}])
    assert order._piq == 0.0 and order.size_matched == 0.0
    x.tick([{"id": 1, "trd": [[3.5, 200]]}])
    assert order.size_matched == 5.0


def test_queue_matching_moves_up_when_the_volume_ahead_is_cancelled() -> None:
    def run(matching: str) -> float:
        x = Exchange(matching=matching)
        x.tick([{"id": 1, "atb": [[3.0, 2]], "atl": [[3.5, 20]], "trd": [[3.5, 100]]}])
        order = x.place(1, "BACK", 3.5, 10.0)
        placed(x)
        x.tick([{"id": 1, "atl": [[3.5, 4]]}])  # 16 of the 20 ahead cancelled
        x.tick([{"id": 1, "trd": [[3.5, 120]]}])  # 10 a side
        return order.size_matched

    assert run("flumine") == 0.0  # flumine keeps the order behind volume that has gone
    assert run("queue") == 6.0  # 4 ahead, then 6 for the order


def test_orders_of_one_strategy_share_the_traded_volume() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "trd": [[3.5, 100]]}])
    first = x.place(1, "BACK", 3.5, 4.0)
    second = x.place(1, "BACK", 3.5, 4.0)
    placed(x)
    x.tick([{"id": 1, "trd": [[3.5, 110]]}])  # 5 a side
    assert first.size_matched == 4.0
    assert second.size_matched == 1.0


def test_strategies_do_not_share_traded_volume() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "trd": [[3.5, 100]]}])
    first = x.place(1, "BACK", 3.5, 4.0, Limits("a"))
    second = x.place(1, "BACK", 3.5, 4.0, Limits("b"))
    placed(x)
    x.tick([{"id": 1, "trd": [[3.5, 110]]}])
    assert first.size_matched == second.size_matched == 4.0


def test_in_play_orders_wait_out_the_bet_delay() -> None:
    x = Exchange(inplay=True, bet_delay=1)
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.8, 10.0)
    assert order.bet_delay == 1
    x.tick(dt=0.5)
    x.tick(dt=0.5)  # 1.0 s < 0.12 + 1
    assert order.status == "PENDING"
    x.tick([{"id": 1, "atb": [[3.0, 0]]}], dt=0.2)  # 1.2 s: placed against the book before
    assert order.status == "EXECUTION_COMPLETE"
    assert order.matches[0][1:] == (3.0, 2.0)


def test_passive_bet_delay_model_places_a_passive_order_at_once() -> None:
    x = Exchange(inplay=True, bet_delay=1, betDelayModels=["PASSIVE"])
    x.tick(LADDER)
    passive = x.place(1, "BACK", 3.5, 5.0)
    aggressive = x.place(1, "LAY", 3.1, 5.0)
    placed(x)
    assert passive.status == "EXECUTABLE"
    assert aggressive.status == "PENDING"


def test_lapse_orders_lapse_when_the_market_suspends() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    assert order.status == "EXECUTABLE"
    x.tick(status="SUSPENDED", version=2)
    assert order.status == "LAPSED"
    assert order.size_lapsed == 10.0
    assert order.size_remaining == 0.0
    assert order.completed_at == x.t
    assert order.elapsed_seconds_executable == 0.2


def test_lapse_orders_lapse_when_the_market_turns_in_play_without_a_suspension() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    x.tick(inPlay=True, version=2)
    assert order.status == "LAPSED"


def test_persist_orders_stay_and_match_in_play() -> None:
    x = Exchange()
    x.tick([{"id": 1, "atb": [[3.0, 2]], "trd": [[3.5, 100]]}])
    order = x.place(1, "BACK", 3.5, 10.0, persistence="PERSIST")
    placed(x)
    x.tick(status="SUSPENDED", version=2)
    x.tick(status="OPEN", inPlay=True, version=3)
    assert order.status == "EXECUTABLE"
    x.tick([{"id": 1, "trd": [[3.5, 140]]}])
    assert order.size_matched == 10.0


def test_a_partly_matched_order_that_lapses_is_execution_complete() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.9, 10.0)
    placed(x)
    x.tick(status="SUSPENDED", version=2)
    assert order.status == "EXECUTION_COMPLETE"
    assert (order.size_matched, order.size_lapsed) == (5.0, 5.0)


def test_cancel_after_the_cancel_latency() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    assert x.sim.cancel(order, x.book)
    assert not x.sim.cancel(order, x.book)  # one cancel at a time
    x.tick(dt=0.1)
    assert order.status == "EXECUTABLE"
    x.tick(dt=0.1)  # 0.2 s > 0.17 s
    assert order.status == "CANCELLED"
    assert order.size_cancelled == 10.0


def test_a_partial_cancel_reduces_the_order() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    x.sim.cancel(order, x.book, size_reduction=4.0)
    placed(x)
    assert order.status == "EXECUTABLE"
    assert (order.size_cancelled, order.size_remaining) == (4.0, 6.0)


def test_a_pending_order_cannot_be_cancelled() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0)
    assert not x.sim.cancel(order, x.book)


def test_cancel_fails_while_the_market_is_suspended() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0, persistence="PERSIST")
    placed(x)
    x.sim.cancel(order, x.book)
    x.tick(status="SUSPENDED", version=2, dt=0.1)
    x.tick(dt=0.1)
    assert order.status == "EXECUTABLE"
    assert order.size_cancelled == 0.0


def test_replace_cancels_the_rest_and_places_it_at_the_new_price() -> None:
    x = Exchange()
    x.tick(LADDER)
    old = x.place(1, "BACK", 2.9, 10.0)
    placed(x)
    assert old.size_remaining == 5.0
    new = x.sim.replace(Limits(), old, x.book, 2.8)
    assert new.status == "PENDING"
    assert new.trade_id == old.trade_id
    x.tick(dt=0.2)
    assert old.status == "EXECUTABLE"
    x.tick(dt=0.1)  # 0.3 s > 0.28 s: the old order's rest is cancelled
    assert old.status == "EXECUTION_COMPLETE"
    assert old.size_cancelled == 5.0
    assert new.size == 5.0
    x.tick(dt=0.1)  # the new order goes on the book after
    assert new.status == "EXECUTION_COMPLETE"
    assert new.size_matched == 5.0
    # the book is replayed as it was: the offers the old order took are offered again
    assert new.average_price_matched == 2.94


def test_replace_to_an_off_ladder_price_is_refused() -> None:
    x = Exchange()
    x.tick(LADDER)
    old = x.place(1, "BACK", 3.5, 10.0)
    placed(x)
    new = x.sim.replace(Limits(), old, x.book, 3.33)
    assert new.status == "VIOLATION"
    assert "ladder" in (new.violation or "")
    assert old.status == "EXECUTABLE"


@pytest.mark.parametrize(
    ("side", "order_type", "limit", "bsp", "matched", "price"),
    [
        ("BACK", "MARKET_ON_CLOSE", 0.0, 4.0, 10.0, 4.0),  # a back's liability is its stake
        ("LAY", "MARKET_ON_CLOSE", 0.0, 4.0, 10.0, 4.0),  # 30 liability / (4 - 1)
        ("BACK", "LIMIT_ON_CLOSE", 3.0, 4.0, 10.0, 4.0),
        ("BACK", "LIMIT_ON_CLOSE", 5.0, 4.0, 0.0, 0.0),  # SP below the back's limit: nothing
        ("LAY", "LIMIT_ON_CLOSE", 3.0, 4.0, 0.0, 0.0),  # SP above the lay's limit: nothing
    ],
)
def test_starting_price_orders_match_at_the_reconciled_sp(
    side: str, order_type: str, limit: float, bsp: float, matched: float, price: float
) -> None:
    x = Exchange()
    x.tick(LADDER)
    liability = 30.0 if side == "LAY" else 10.0
    order = x.place(1, side, limit, liability, order_type=order_type)
    assert order.status == "PENDING", order.violation
    placed(x)
    assert order.status == "EXECUTABLE"
    x.tick(
        bspReconciled=True,
        runners=[runner_def(1, bsp=bsp), runner_def(2, bsp=2.0)],
        version=2,
    )
    assert order.size_matched == matched
    assert order.average_price_matched == price
    assert order.status == ("EXECUTION_COMPLETE" if matched else "LAPSED")


def test_a_limit_order_persisting_to_sp_takes_the_sp_for_its_rest() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.9, 10.0, persistence="MARKET_ON_CLOSE")
    placed(x)
    assert order.size_matched == 5.0
    x.tick(bspReconciled=True, runners=[runner_def(1, bsp=4.0), runner_def(2, bsp=2.0)])
    assert order.size_matched == 10.0
    assert order.average_price_matched == round((6.0 + 8.7 + 20.0) / 10, 2)


def test_sp_orders_are_refused_where_there_is_no_bsp() -> None:
    x = Exchange(bsp_market=False)
    x.tick(LADDER)
    order = x.place(1, "BACK", 0.0, 10.0, order_type="MARKET_ON_CLOSE")
    placed(x)
    assert order.status == "VOIDED"
    assert "BSP" in (order.violation or "")


def test_removal_voids_orders_on_the_runner_and_reduces_the_others_prices() -> None:
    x = Exchange(runners=[runner_def(1), runner_def(2), runner_def(3)])
    x.tick([*LADDER, {"id": 2, "atb": [[6.0, 50]]}, {"id": 3, "atb": [[1.5, 50]]}])
    on_one = x.place(1, "BACK", 2.8, 10.0)
    on_two = x.place(2, "BACK", 6.0, 5.0)
    unmatched = x.place(3, "BACK", 2.0, 5.0, persistence="PERSIST")
    placed(x)
    assert on_one.average_price_matched == 2.87
    assert on_two.size_matched == 5.0
    x.tick(
        runners=[runner_def(1), runner_def(2, "REMOVED", adjustmentFactor=20.0), runner_def(3)],
        version=2,
    )
    assert on_two.status == "VOIDED"
    assert (on_two.size_matched, on_two.size_voided) == (0.0, 5.0)
    # each fill reduced by 20 %: 3.0 -> 2.4, 2.9 -> 2.32, 2.8 -> 2.24
    assert [p for _, p, _ in on_one.matches] == [2.4, 2.32, 2.24]
    assert on_one.average_price_matched == round((4.8 + 6.96 + 11.2) / 10, 2)
    assert unmatched.size_matched == 0.0
    assert unmatched.price == 2.0  # an unmatched order keeps its price


def test_a_small_adjustment_factor_reduces_nothing() -> None:
    x = Exchange(runners=[runner_def(1), runner_def(2)])
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.8, 10.0)
    placed(x)
    x.tick(runners=[runner_def(1), runner_def(2, "REMOVED", adjustmentFactor=2.0)], version=2)
    assert order.average_price_matched == 2.87


def test_what_waits_at_the_close_lapses() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.9, 10.0, persistence="PERSIST")
    placed(x)
    x.tick(status="CLOSED", runners=[runner_def(1, "WINNER"), runner_def(2, "LOSER")])
    assert x.sim.closed
    assert order.status == "EXECUTION_COMPLETE"
    assert order.size_lapsed == 5.0
    assert order.profit == round(5.0 * (2.94 - 1), 2)


def test_a_file_ending_before_the_close_lapses_and_settles_nothing() -> None:
    x = Exchange()
    x.tick(LADDER)
    order = x.place(1, "BACK", 3.5, 10.0, persistence="PERSIST")
    placed(x)
    x.sim.finish()
    assert order.status == "LAPSED"
    assert order.profit is None


def test_a_removal_before_the_order_reduces_nothing() -> None:
    x = Exchange(runners=[runner_def(1), runner_def(2, "REMOVED", adjustmentFactor=20.0)])
    x.tick(LADDER)
    order = x.place(1, "BACK", 2.8, 10.0)
    placed(x)
    x.tick(version=2)  # a new definition, the same removal
    assert order.average_price_matched == 2.87


def test_a_market_is_followed_from_its_first_order_only() -> None:
    # simulate() hands the simulator no book before the first order: that must not matter
    x = Exchange()
    x.sim.update = lambda book: None  # type: ignore[method-assign]
    x.tick(inPlay=True, version=2)
    x.tick(LADDER)
    del x.sim.update
    assert not x.sim.active
    order = x.place(1, "BACK", 3.5, 10.0, persistence="PERSIST")
    placed(x)
    assert x.sim.active and order.status == "EXECUTABLE"  # in play already: nothing to lapse

"""The simulation's public names, and the Strategy defaults users rely on."""

from __future__ import annotations

import copy
import pickle

import marketstreams.simulation as simulation
from marketstreams.simulation import SimulatedOrder, Strategy

AGREED = {"Strategy", "SimulatedMarket", "SimulatedOrder", "SimulationResult", "simulate"}


def test_the_agreed_names_are_public() -> None:
    assert AGREED <= set(simulation.__all__)
    for name in simulation.__all__:
        assert getattr(simulation, name) is not None, name


class Mine(Strategy):
    pass


def test_strategy_name_and_controls_default_without_init() -> None:
    class Bare(Strategy):
        def __init__(self) -> None:  # a subclass that never calls super().__init__
            self.seen = 0

    bare = Bare()
    assert bare.name == "Bare"
    assert bare.max_order_exposure is None and bare.max_live_trade_count is None
    named = Mine("variant-30s", max_trade_count=1)
    assert (named.name, named.max_trade_count) == ("variant-30s", 1)
    twin = copy.deepcopy(named)
    assert twin.name == "variant-30s"
    assert pickle.loads(pickle.dumps(named)).name == "variant-30s"


def test_orders_pickle_with_their_fills() -> None:
    order = SimulatedOrder("7", "s", "1.1", 3, 0.0, "LAY", 2.5, 4.0)
    order._matched = [[1, 2.5, 4.0]]
    order.size_matched, order.average_price_matched = 4.0, 2.5
    order.notes["why"] = "test"
    back = pickle.loads(pickle.dumps(order))
    assert back.as_dict() == order.as_dict()
    assert back.matches == [(1, 2.5, 4.0)]
    assert order.exposure == 6.0 and "LAY" in repr(order)

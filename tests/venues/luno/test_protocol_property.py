"""Random create / trade / delete streams through LunoProtocol equal a naive order-level book."""

from __future__ import annotations

from decimal import Decimal

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams.venues.luno import LunoProtocol

volumes = st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("3"), places=6)
steps = st.lists(
    st.tuples(
        st.sampled_from(["create", "trade", "delete", "empty"]),
        st.sampled_from(["BID", "ASK"]),
        st.integers(min_value=1, max_value=40),
        volumes,
        st.integers(min_value=0, max_value=10_000),
    ),
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_protocol_levels_equal_naive_reference(
    ops: list[tuple[str, str, int, Decimal, int]],
) -> None:
    proto = LunoProtocol("XBTZAR")
    proto.receive(orjson.dumps({"sequence": "1", "bids": [], "asks": [], "status": "ACTIVE"}))
    orders: dict[str, tuple[str, Decimal, Decimal]] = {}
    seq = 1
    for n, (op, side, price, volume, pick) in enumerate(ops):
        seq += 1
        msg: dict[str, object] = {
            "sequence": str(seq),
            "trade_updates": [],
            "create_update": None,
            "delete_update": None,
            "status_update": None,
            "timestamp": n,
        }
        if op == "create":
            oid = f"O{n}"
            orders[oid] = (side, Decimal(price), volume)
            msg["create_update"] = {
                "order_id": oid,
                "type": side,
                "price": str(price),
                "volume": str(volume),
            }
        elif op in ("trade", "delete") and orders:
            oid = sorted(orders)[pick % len(orders)]
            o_side, o_price, o_vol = orders[oid]
            if op == "delete":
                del orders[oid]
                msg["delete_update"] = {"order_id": oid}
            else:
                take = min(volume, o_vol)
                left = o_vol - take
                if left == 0:
                    del orders[oid]
                else:
                    orders[oid] = (o_side, o_price, left)
                msg["trade_updates"] = [
                    {
                        "base": str(take),
                        "counter": str(take * o_price),
                        "maker_order_id": oid,
                        "taker_order_id": "T",
                    }
                ]
        proto.receive(orjson.dumps(msg))
    levels: dict[str, dict[Decimal, Decimal]] = {"BID": {}, "ASK": {}}
    for o_side, o_price, o_vol in orders.values():
        levels[o_side][o_price] = levels[o_side].get(o_price, Decimal(0)) + o_vol
    assert proto.book.depth() == {
        "bids": [[p, v] for p, v in sorted(levels["BID"].items(), reverse=True)],
        "asks": [[p, v] for p, v in sorted(levels["ASK"].items())],
    }
    assert set(proto.orders) == set(orders) and proto.book.sequence == seq

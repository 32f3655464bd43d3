"""Property: any valid orderBookL2 stream leaves the book equal to a naive id-keyed model."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams.venues.bitmex import BitmexProtocol

# An operation: (action, id, side, price tick, size); ids and ticks from small pools to collide.
ops = st.lists(
    st.tuples(
        st.sampled_from(["insert", "update", "delete"]),
        st.integers(0, 6),
        st.sampled_from(["Buy", "Sell"]),
        st.integers(1, 12),
        st.one_of(st.just(0), st.integers(1, 500)),  # size 0 often: it removes a level
    ),
    min_size=10,
    max_size=150,
)


def frame(action: str, rows: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"table": "orderBookL2", "action": action, "data": rows})


@settings(max_examples=200, deadline=None)
@given(ops=ops, id_only=st.booleans(), batch=st.integers(1, 4))
def test_book_equals_naive_model(
    ops: list[tuple[str, int, str, int, int]], id_only: bool, batch: int
) -> None:
    proto = BitmexProtocol(["orderBookL2:T"])
    model: dict[tuple[int, str], list[Any]] = {}  # (id, side) -> [price, size]
    proto.receive(
        orjson.dumps(
            {
                "table": "orderBookL2",
                "action": "partial",
                "keys": ["symbol", "id", "side"],
                "filter": {"symbol": "T"},
                "data": [],
            }
        )
    )
    pending: list[dict[str, Any]] = []
    pending_action = None
    unknown = 0

    def flush() -> None:
        nonlocal pending, pending_action
        if pending:
            proto.receive(frame(str(pending_action), pending))
        pending, pending_action = [], None

    for action, rid, side, tick, size in ops:
        key = (rid, side)
        # A level is one price: ids keep their price; a price has one id per side.
        taken = {(p, s) for (i, s), (p, _) in model.items() if (i, s) != key}
        price = tick * 0.5
        if action == "insert" and (key in model or (price, side) in taken or size == 0):
            continue
        row: dict[str, Any] = {"symbol": "T", "id": rid, "side": side}
        if action == "insert":
            row.update(price=price, size=size)
            model[key] = [price, size]
        elif action == "update":
            if key in model:
                model[key][1] = size
            else:
                unknown += 1
            row["size"] = size
            if not id_only and key in model:
                row["price"] = model[key][0]
        else:
            if key in model:
                if not id_only:
                    row["price"] = model[key][0]
                del model[key]
            else:
                unknown += 1
        if pending_action not in (None, action) or len(pending) >= batch:
            flush()
        pending_action = action
        pending.append(row)
    flush()

    book = proto.books["T"]
    bids = sorted(
        ([p, s] for (_, sd), (p, s) in model.items() if sd == "Buy" and s > 0), reverse=True
    )
    asks = sorted([p, s] for (_, sd), (p, s) in model.items() if sd == "Sell" and s > 0)
    assert book.depth() == {"bids": bids, "asks": asks}
    assert book.is_valid
    assert proto.counters.unknown_keys == unknown
    assert all(v > 0 for v in book.bids.values()) and all(v > 0 for v in book.asks.values())

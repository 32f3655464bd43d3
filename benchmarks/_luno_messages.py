"""A deterministic Luno message sequence: one big snapshot, then creates, deletes and trades.

Shared by benchmarks/luno_bench.py and its peer runner; plain Python, no project imports.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal


def generate(orders: int = 18_000, updates: int = 20_000, seed: int = 1) -> tuple[str, list[str]]:
    rng = random.Random(seed)
    mid = 1_200_000
    book: dict[str, tuple[str, int, Decimal]] = {}
    next_id = 0

    def new_id() -> str:
        nonlocal next_id
        next_id += 1
        return f"BX{next_id:013d}"

    def volume() -> Decimal:
        return Decimal(rng.randint(1, 2_000_000)) / Decimal(1_000_000)

    for i in range(orders):
        side = "BID" if i % 2 == 0 else "ASK"
        offset = int(rng.expovariate(1 / 2000)) + 1
        price = mid - offset if side == "BID" else mid + offset
        book[new_id()] = (side, price, volume())
    snapshot = {
        "sequence": "1000",
        "asks": [
            {"id": k, "price": f"{p}.00", "volume": str(v)}
            for k, (s, p, v) in book.items()
            if s == "ASK"
        ],
        "bids": [
            {"id": k, "price": f"{p}.00", "volume": str(v)}
            for k, (s, p, v) in book.items()
            if s == "BID"
        ],
        "status": "ACTIVE",
        "timestamp": 1_700_000_000_000,
    }
    messages = []
    ids = list(book)
    seq = 1000
    for n in range(updates):
        seq += 1
        msg: dict[str, object] = {
            "sequence": str(seq),
            "trade_updates": [],
            "create_update": None,
            "delete_update": None,
            "status_update": None,
            "timestamp": 1_700_000_000_000 + n,
        }
        r = rng.random()
        if r < 0.45:
            side = rng.choice(("BID", "ASK"))
            offset = int(rng.expovariate(1 / 200)) + 1
            price = (mid - offset) if side == "BID" else (mid + offset)
            oid = new_id()
            v = volume()
            book[oid] = (side, price, v)
            ids.append(oid)
            msg["create_update"] = {
                "order_id": oid,
                "type": side,
                "price": f"{price}.00",
                "volume": str(v),
            }
        elif r < 0.85 and ids:
            oid = ids.pop(rng.randrange(len(ids)))
            if oid in book:
                del book[oid]
                msg["delete_update"] = {"order_id": oid}
        elif ids:
            oid = ids[rng.randrange(len(ids))]
            if oid in book:
                side, price, v = book[oid]
                take = v if rng.random() < 0.5 else (v / 2).quantize(Decimal("0.000001"))
                if take <= 0:
                    take = v
                left = v - take
                if left == 0:
                    del book[oid]
                else:
                    book[oid] = (side, price, left)
                msg["trade_updates"] = [
                    {
                        "sequence": n,
                        "base": str(take),
                        "counter": str(take * price),
                        "maker_order_id": oid,
                        "taker_order_id": f"T{n}",
                        "order_id": oid,
                    }
                ]
        messages.append(json.dumps(msg))
    return json.dumps(snapshot), messages

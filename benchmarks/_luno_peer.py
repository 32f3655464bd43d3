"""Runs luno_streams (installed in a separate environment) over the benchmark's messages.

Usage: python _luno_peer.py MESSAGES_JSON -> prints {"seconds": s, "updates": n, "top": [...]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal

from luno_streams import Updater


async def run(path: str) -> None:
    with open(path) as f:
        data = json.load(f)
    snapshot = json.loads(data["snapshot"])
    messages = data["messages"]
    tops = []

    def hook(order_book, trades):  # the benchmark's hook: read the top 10 levels
        tops.append((order_book["bids"][:10], order_book["asks"][:10]))

    updater = Updater("XBTZAR", "key", "secret", hooks=[hook])
    # What luno_streams' connect() does with the first frame, without a socket.
    updater.sequence = int(snapshot["sequence"])
    updater.asks = {o["id"]: [Decimal(o["price"]), Decimal(o["volume"])] for o in snapshot["asks"]}
    updater.bids = {o["id"]: [Decimal(o["price"]), Decimal(o["volume"])] for o in snapshot["bids"]}
    start = time.perf_counter()
    for message in messages:
        await updater.handle_message(message)
    seconds = time.perf_counter() - start
    bids, asks = tops[-1]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "updates": len(tops),
                "top": {
                    "bids": [[str(p), str(v)] for p, v in bids],
                    "asks": [[str(p), str(v)] for p, v in asks],
                },
            }
        )
    )


asyncio.run(run(sys.argv[1]))

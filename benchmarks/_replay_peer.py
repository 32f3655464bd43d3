"""betfairlightweight side of benchmarks/replay_bench.py (runs in .venv-peers).

    python _replay_peer.py cache FILE...       listener cache only (StreamListener, no output)
    python _replay_peer.py generator FILE...   historical generator, lightweight=True, and a
                                               consumer reading the best 3 back/lay of every runner
Prints {"lines": n, "seconds": s, "books": n}.
"""

from __future__ import annotations

import json
import logging
import sys
import time

import betfairlightweight
from betfairlightweight.streaming.listener import StreamListener


def cache_only(paths: list[str]) -> dict[str, float]:
    data = [open(p, "rb").read().split(b"\n") for p in paths]
    lines = sum(1 for chunk in data for line in chunk if line.strip())
    start = time.perf_counter()
    for chunk in data:
        listener = StreamListener(
            max_latency=None, calculate_market_tv=True, cumulative_runner_tv=True
        )
        listener.register_stream(0, "marketSubscription")
        for line in chunk:
            if line.strip():
                listener.on_data(line.decode())
    return {"lines": lines, "seconds": time.perf_counter() - start, "books": 0}


def generator(paths: list[str]) -> dict[str, float]:
    trading = betfairlightweight.APIClient("username", "password", app_key="appkey")
    lines = sum(1 for p in paths for line in open(p, "rb") if line.strip())
    books = 0
    start = time.perf_counter()
    for path in paths:
        listener = StreamListener(
            max_latency=None, lightweight=True, calculate_market_tv=True, cumulative_runner_tv=True
        )
        stream = trading.streaming.create_historical_generator_stream(
            file_path=path, listener=listener
        )
        for market_books in stream.get_generator()():
            for book in market_books:
                books += 1
                for runner in book["runners"]:
                    ex = runner.get("ex") or {}
                    (ex.get("availableToBack") or [])[:3]
                    (ex.get("availableToLay") or [])[:3]
    return {"lines": lines, "seconds": time.perf_counter() - start, "books": books}


if __name__ == "__main__":
    # betfairlightweight warns on every PRO line (``con``); silenced, as its users would.
    logging.disable(logging.CRITICAL)
    mode, files = sys.argv[1], sys.argv[2:]
    print(json.dumps(cache_only(files) if mode == "cache" else generator(files)))

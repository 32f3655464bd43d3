"""Paper-trading benchmark: updates per second through the live path with and without one paper
strategy, on the Luno and BitMEX mocks' streams, in the same run.

1. A session of each mock (``mock_servers/luno.py``, ``mock_servers/bitmex.py``) is recorded off
   the wire by the real feed (``record=``): real sockets, the mocks' real streams.
2. Each recording is played back through the same feed logic (``RecordingFeed``: every frame
   through the venue's protocol core, reconnects as they happened) into an ``Updater`` with a
   counting hook, once alone and once with ``PaperTrading`` running one strategy that always
   keeps a buy near the best bid and a sell near the best ask (moved when the best goes
   away), so its orders are matched on every update. Played back, the client is CPU-bound and the mock's own cost is not in the figure.
3. Alternating runs, best of ``--runs`` each; overhead = 1 - paper / alone.

Usage (from the repository root)::

    .venv/bin/python benchmarks/paper_bench.py [--updates 30000] [--runs 3] [--json]

Target: under 20 % overhead on each venue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketstreams import Backoff, Updater  # noqa: E402
from marketstreams.recording import Recorder, RecordingFeed  # noqa: E402
from marketstreams.simulation import PaperMarket, PaperTrading, Strategy  # noqa: E402
from marketstreams.venues import bitmex, luno  # noqa: E402
from mock_servers.bitmex import MockBitmexServer  # noqa: E402
from mock_servers.luno import LunoMockServer  # noqa: E402

TARGET = 0.20


class Quote(Strategy):
    """One buy at the best bid and one sell at the best ask; an order left more than ``away``
    behind the best is moved there (replace_order)."""

    def __init__(self, size: Any, away: Any) -> None:
        super().__init__()
        self.size = size
        self.away = away

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        working = market.context
        for side, best in (("buy", book.best_bid()), ("sell", book.best_ask())):
            if best is None:
                continue
            order = working.get(side)
            if order is None or not order.is_open:
                working[side] = market.place_order(side, best[0], self.size)
            elif abs(order.price - best[0]) > self.away:
                working[side] = market.replace_order(order, best[0])


class Count:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, book: Any, trades: Any) -> None:
        self.n += 1


async def record(venue: str, folder: Path, updates: int) -> None:
    """Record ``updates`` updates of a mock session with the real feed."""
    count = Count()
    recorder = Recorder(folder, flush_interval=0.2)
    if venue == "luno":
        server: Any = LunoMockServer(pairs=("XBTZAR",), rate=4000.0, ping_interval=None)
    else:
        server = MockBitmexServer(["XBTUSD"], interval=0.0002)
    async with server:
        if venue == "luno":
            feed: Any = luno.Feed("XBTZAR", url=server.url, record=recorder)
        else:
            feed = bitmex.Feed(
                ["orderBookL2:XBTUSD", "trade:XBTUSD"],
                url=server.url,
                backoff=Backoff(initial=0.01, maximum=0.05),
                record=recorder,
            )
        task = asyncio.create_task(Updater(feed, hooks=[count]).run())
        while count.n < updates:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await recorder.aclose()


async def play(folder: Path, paper: bool) -> tuple[int, float, int]:
    """Updates, seconds, paper orders of one playback through an Updater."""
    count = Count()
    hooks: list[Any] = [count]
    hook = None
    if paper:
        is_luno = "luno" in str(folder)
        hook = PaperTrading(Quote(0.01, 100) if is_luno else Quote(100, 5.0))
        hooks.insert(0, hook)
    feed = RecordingFeed(folder)
    started = time.perf_counter()
    await Updater(feed, hooks=hooks).run()
    seconds = time.perf_counter() - started
    return count.n, seconds, hook.paper_orders if hook else 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for venue in ("luno", "bitmex"):
            folder = Path(tmp) / venue
            await record(venue, folder, args.updates)
            best = {False: 0.0, True: 0.0}
            orders = 0
            n = 0
            for _ in range(args.runs):
                for paper in (False, True):
                    n, seconds, placed = await play(folder, paper)
                    best[paper] = max(best[paper], n / seconds)
                    orders = max(orders, placed)
            overhead = 1 - best[True] / best[False]
            out[venue] = {
                "updates": n,
                "updates_per_s_alone": round(best[False]),
                "updates_per_s_paper": round(best[True]),
                "overhead": round(overhead, 3),
                "paper_orders": orders,
                "target_met": overhead < TARGET,
            }
            if not args.json:
                print(
                    f"{venue}: {n} updates; alone {best[False]:,.0f}/s, with one paper strategy "
                    f"{best[True]:,.0f}/s ({orders} orders): overhead {overhead:.1%} "
                    f"(target < {TARGET:.0%})"
                )
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

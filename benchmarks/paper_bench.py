"""Paper-trading benchmark: updates per second through the live path with and without one paper
strategy, on the Luno and BitMEX mocks' streams, in the same run.

1. A session of each mock (``mock_servers/luno.py``, ``mock_servers/bitmex.py``) is recorded off
   the wire by the real feed (``record=``): real sockets, the mocks' real streams.
2. Each recording is played back through the same feed logic (``RecordingFeed``: every frame
   through the venue's protocol core, reconnects as they happened) into an ``Updater`` with a
   counting hook, once alone and once with ``PaperTrading`` running one strategy that always
   keeps a buy near the best bid and a sell near the best ask (moved when the best goes
   away), so its orders are matched on every update. Played back, the client is CPU-bound and the mock's own cost is not in the figure.
3. Alternating runs, best of ``--runs`` each, per CPU second of the process (other load on
   the machine does not count); overhead = 1 - paper / alone.

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
from mock_servers.bitmex import BitmexMockServer  # noqa: E402
from mock_servers.luno import LunoMockServer  # noqa: E402

TARGET = 0.20


class Quote(Strategy):
    """One buy at the best bid and one sell at the best ask, as a quoting strategy runs: it acts
    only when its quote would change (the best price moved, or its order filled), and an order
    left more than ``away`` behind the best is moved there (replace_order). The best prices are
    read through ``PaperMarket.best_bid_price`` / ``best_ask_price``."""

    def __init__(self, size: Any, away: Any) -> None:
        super().__init__()
        self.size = size
        self.away = away
        self.buy: Any = None
        self.sell: Any = None
        self.bid: Any = None  # the best bid / ask last acted on
        self.ask: Any = None
        self.buy_moves_above: Any = None  # move the buy when the best bid goes above this
        self.sell_moves_below: Any = None

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        bid = market.best_bid_price
        if bid != self.bid:
            self.bid = bid
            if bid is not None:
                buy = self.buy
                if buy is None or buy.status != "open":
                    buy = self.buy = market.place_order("buy", bid, self.size)
                    self.buy_moves_above = buy.price + self.away
                elif bid > self.buy_moves_above:
                    buy = self.buy = market.replace_order(buy, bid)
                    self.buy_moves_above = buy.price + self.away
        ask = market.best_ask_price
        if ask != self.ask:
            self.ask = ask
            if ask is not None:
                sell = self.sell
                if sell is None or sell.status != "open":
                    sell = self.sell = market.place_order("sell", ask, self.size)
                    self.sell_moves_below = sell.price - self.away
                elif ask < self.sell_moves_below:
                    sell = self.sell = market.replace_order(sell, ask)
                    self.sell_moves_below = sell.price - self.away

    def on_order_update(self, market: PaperMarket, order: Any) -> None:  # type: ignore[override]
        # filled (or no longer open): quote again on this update, whatever the best does
        if order.status != "open":
            if order is self.buy:
                self.bid = None
            elif order is self.sell:
                self.ask = None


class Idle(Strategy):
    """Places nothing: what the paper machinery costs by itself (hook, validity, matcher)."""

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        return None


class Count:
    def __init__(self, until: int = 0) -> None:
        self.n = 0
        self.until = until
        self.reached = asyncio.Event()

    def __call__(self, book: Any, trades: Any) -> None:
        self.n += 1
        if self.n == self.until:
            self.reached.set()


async def record(venue: str, folder: Path, updates: int) -> None:
    """Record ``updates`` updates of a mock session with the real feed."""
    count = Count(updates)
    recorder = Recorder(folder, flush_interval=0.2)
    if venue == "luno":
        server: Any = LunoMockServer(pairs=("XBTZAR",), rate=4000.0, ping_interval=None)
    else:
        server = BitmexMockServer(["XBTUSD"], interval=0.0002)
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
        await count.reached.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await recorder.aclose()


async def play(folder: Path, mode: str) -> tuple[int, float, int]:
    """Updates, CPU seconds, paper orders of one playback through an Updater; ``mode``:
    "alone", "idle" (PaperTrading with a strategy that places nothing) or "paper"."""
    count = Count()
    hooks: list[Any] = [count]
    hook = None
    if mode != "alone":
        is_luno = "luno" in str(folder)
        strategy = Idle() if mode == "idle" else Quote(0.01, 100) if is_luno else Quote(100, 5.0)
        hook = PaperTrading(strategy)
        hooks.insert(0, hook)
    feed = RecordingFeed(folder)
    # CPU time of this process: the machine's other load does not count
    started = time.process_time()
    await Updater(feed, hooks=hooks).run()
    seconds = time.process_time() - started
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
            best = {"alone": 0.0, "idle": 0.0, "paper": 0.0}
            orders = 0
            n = 0
            for _ in range(args.runs):
                for mode in best:
                    n, seconds, placed = await play(folder, mode)
                    best[mode] = max(best[mode], n / seconds)
                    orders = max(orders, placed)
            overhead = 1 - best["paper"] / best["alone"]
            machinery = 1 - best["idle"] / best["alone"]
            out[venue] = {
                "updates": n,
                "updates_per_s_alone": round(best["alone"]),
                "updates_per_s_idle_strategy": round(best["idle"]),
                "updates_per_s_paper": round(best["paper"]),
                "overhead": round(overhead, 3),
                "overhead_idle_strategy": round(machinery, 3),
                "paper_orders": orders,
                "target_met": overhead < TARGET,
            }
            if not args.json:
                print(
                    f"{venue}: {n} updates; alone {best['alone']:,.0f}/s, with one quoting paper "
                    f"strategy {best['paper']:,.0f}/s ({orders} orders): overhead {overhead:.1%} "
                    f"(target < {TARGET:.0%}); with an idle strategy {best['idle']:,.0f}/s "
                    f"({machinery:.1%})"
                )
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

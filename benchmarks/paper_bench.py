"""Paper-trading benchmark: the cost of matching on the live path, as updates per second with
and without one paper strategy on the Luno and BitMEX mocks' streams, in the same run.

1. A session of each mock (``mock_servers/luno.py``, ``mock_servers/bitmex.py``) is recorded off
   the wire by the real feed (``record=``): real sockets, the mocks' real streams.
2. Each recording is played back through the same feed logic (``RecordingFeed``: every frame
   through the venue's protocol core, reconnects as they happened) into an ``Updater`` with a
   counting hook, in three modes: alone; with ``PaperTrading`` and an idle strategy (the hook
   and the paper machinery, no orders); with ``PaperTrading`` and a quoting strategy that keeps
   a buy at the best bid and a sell at the best ask, acting only when its quote would change
   (the best moved, or its order filled; an order more than ``away`` behind the best is
   moved), so two orders rest at the top and are matched on every update, by trades and (on
   BitMEX) by level changes. Played back, the client is CPU-bound and the mock's own cost is
   not in the figure.
3. Runs alternate between the modes; each mode's best (least) CPU seconds per update of
   ``--runs`` counts (CPU time of the process: other load on the machine does not count).
   Overhead = 1 - updates per CPU second with the strategy / alone; also printed as the
   microseconds each update costs more.

Usage (from the repository root)::

    .venv/bin/python benchmarks/paper_bench.py [--updates 30000] [--runs 5] [--json]

Target: under 20 % overhead with the quoting strategy on each venue.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
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
    read through ``PaperMarket.best_bid_price()`` / ``best_ask_price()``."""

    def __init__(self, size: Any, away: Any) -> None:
        super().__init__()
        self.size = size
        self.away = away
        self.buy: Any = None
        self.sell: Any = None
        self.bid: Any = None  # the best bid / ask last acted on
        self.ask: Any = None

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        bid = market.best_bid_price()
        if bid != self.bid:
            self.bid = bid
            if bid is not None:
                self.buy = self._quote(market, "buy", bid, self.buy)
        ask = market.best_ask_price()
        if ask != self.ask:
            self.ask = ask
            if ask is not None:
                self.sell = self._quote(market, "sell", ask, self.sell)

    def _quote(self, market: PaperMarket, side: str, best: Any, order: Any) -> Any:
        if order is None or order.status != "open":
            return market.place_order(side, best, self.size)
        behind = best - order.price if side == "buy" else order.price - best
        return market.replace_order(order, best) if behind > self.away else order

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
    "alone", "idle" (PaperTrading with a strategy that places nothing) or "quoting"."""
    count = Count()
    hooks: list[Any] = [count]
    hook = None
    if mode != "alone":
        is_luno = "luno" in str(folder)
        strategy = Idle() if mode == "idle" else Quote(0.01, 100) if is_luno else Quote(100, 5.0)
        hook = PaperTrading(strategy)
        hooks.insert(0, hook)
    feed = RecordingFeed(folder)
    gc.collect()  # a run is not charged for the garbage of the one before
    # CPU time of this process: the machine's other load does not count
    started = time.process_time()
    await Updater(feed, hooks=hooks).run()
    seconds = time.process_time() - started
    return count.n, seconds, hook.paper_orders if hook else 0


MODES = ("alone", "idle", "quoting")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for venue in ("luno", "bitmex"):
            folder = Path(tmp) / venue
            await record(venue, folder, args.updates)
            # best (least) CPU seconds per update of each mode, runs alternating between modes
            cost = dict.fromkeys(MODES, float("inf"))
            orders = n = 0
            for _ in range(args.runs):
                for mode in MODES:
                    n, seconds, placed = await play(folder, mode)
                    cost[mode] = min(cost[mode], seconds / n)
                    orders = max(orders, placed)
            alone = cost["alone"]
            # overhead: the fall in updates per CPU second, 1 - rate / rate alone
            overhead = {mode: 1 - alone / cost[mode] for mode in MODES}
            out[venue] = {
                "updates": n,
                "runs": args.runs,
                "updates_per_cpu_s_alone": round(1 / alone),
                "updates_per_cpu_s_idle_strategy": round(1 / cost["idle"]),
                "updates_per_cpu_s_quoting": round(1 / cost["quoting"]),
                "us_per_update_alone": round(alone * 1e6, 2),
                "us_added_idle_strategy": round((cost["idle"] - alone) * 1e6, 2),
                "us_added_quoting": round((cost["quoting"] - alone) * 1e6, 2),
                "overhead_idle_strategy": round(overhead["idle"], 3),
                "overhead_quoting": round(overhead["quoting"], 3),
                "paper_orders": orders,
                "target_met": overhead["quoting"] < TARGET,
            }
            if not args.json:
                print(
                    f"{venue}: {n} updates, best of {args.runs} alternating runs, per CPU second: "
                    f"alone {1 / alone:,.0f}/s ({alone * 1e6:.2f} us/update); "
                    f"idle strategy {1 / cost['idle']:,.0f}/s "
                    f"(+{(cost['idle'] - alone) * 1e6:.2f} us, overhead {overhead['idle']:.1%}); "
                    f"quoting strategy {1 / cost['quoting']:,.0f}/s ({orders} orders, "
                    f"+{(cost['quoting'] - alone) * 1e6:.2f} us, overhead "
                    f"{overhead['quoting']:.1%}, target < {TARGET:.0%})"
                )
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

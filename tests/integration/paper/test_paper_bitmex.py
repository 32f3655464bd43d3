"""BitMEX paper trading on the mock with a drop, recorded; ``simulate`` on the recording twice
gives the same orders and fills, and the same as the live session."""

from __future__ import annotations

import asyncio
from pathlib import Path

from marketstreams import Backoff, Updater
from marketstreams.recording import Recorder
from marketstreams.simulation import PaperTrading, simulate
from marketstreams.simulation.crypto import CryptoOrder
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer
from tests.integration.paper.strategies import Quote
from tests.integration.recording.conftest import Waiter


def fills(orders: list[CryptoOrder]) -> list[tuple[object, ...]]:
    return [
        (
            o.order_id,
            o.side,
            o.price,
            o.size,
            o.status,
            tuple((f.price, f.size, f.liquidity) for f in o.fills),
        )
        for o in orders
    ]


async def test_bitmex_recording_replayed_twice_gives_the_live_fills(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    waiter = Waiter()
    paper = PaperTrading(Quote(size=100, max_orders=60))
    async with BitmexMockServer(["XBTUSD"], interval=0.002) as server:
        recorder = Recorder(folder, flush_interval=0.05)
        feed = bitmex.Feed(
            ["orderBookL2:XBTUSD", "trade:XBTUSD"],
            url=server.url,
            backoff=Backoff(initial=0.01, maximum=0.05),
            record=recorder,
        )
        task = asyncio.create_task(Updater(feed, hooks=[paper, waiter]).run())

        def filled() -> int:
            return sum(len(o.fills) for o in paper.crypto.orders()) if paper.crypto else 0

        try:
            await waiter.until(lambda: filled() >= 5)
            await server.drop()
            await waiter.until(lambda: feed.stats.connects >= 2 and feed.books["XBTUSD"].is_valid)
            target = filled() + 5
            await waiter.until(lambda: filled() >= target)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
    live = paper.result()
    assert live.waiting >= 1  # the dropped connection's invalid book was not matched

    first = simulate(folder, [Quote(size=100, max_orders=60)])
    second = simulate(folder, [Quote(size=100, max_orders=60)])
    assert first.errors == [] and first.strategy_errors == 0
    assert fills(first.crypto_orders) == fills(second.crypto_orders)
    assert fills(first.crypto_orders) == fills(live.crypto_orders)
    assert sum(len(o.fills) for o in first.crypto_orders) >= 10
    assert first.positions == live.positions
    # the orders joined real queues: some waited behind volume at their price
    assert any(o.fills and o.fills[0].liquidity == "maker" for o in first.crypto_orders)

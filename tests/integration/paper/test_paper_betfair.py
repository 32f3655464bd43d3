"""Betfair: live paper trading on the mock with drops injected gives the same orders and fills
as ``simulate`` on the recording of that session."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from marketstreams import Backoff, Updater
from marketstreams.recording import Recorder
from marketstreams.simulation import PaperTrading, SimulatedOrder, simulate
from marketstreams.venues import betfair
from mock_servers.betfair import BetfairMockServer
from tests.integration.paper.strategies import BackAndLay
from tests.integration.recording.conftest import Waiter


def row(o: SimulatedOrder) -> tuple[Any, ...]:
    return (
        o.trade_id == o.bet_id,  # ids: simulate renumbers them across files
        o.market_id,
        o.selection_id,
        o.side,
        o.price,
        o.size,
        o.status,
        o.violation,
        o.placed_at,
        o.size_matched,
        o.average_price_matched,
        o.matches,
    )


async def test_live_paper_equals_simulate_on_the_recording(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    waiter = Waiter()
    paper = PaperTrading(BackAndLay())
    async with BetfairMockServer(rate=1500.0, batch=10, seed=9) as srv:
        srv.drop_every = 400
        ep = srv.endpoint()
        recorder = Recorder(folder, flush_interval=0.05)
        feed = betfair.Feed(
            ep.app_key,
            ep.session,
            [betfair.MarketSubscription(heartbeat_ms=500)],
            host=ep.host,
            port=ep.port,
            ssl_context=ep.ssl_context,
            backoff=Backoff(initial=0.01, maximum=0.05),
            record=recorder,
        )
        task = asyncio.create_task(Updater(feed, hooks=[paper, waiter]).run())
        try:
            await waiter.until(lambda: feed.stats.reconnects >= 3 and paper.paper_orders >= 20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
    live = paper.result()
    assert live.waiting >= 1  # books marked invalid by the drops were not matched

    recordings = [p for p in folder.rglob("*.gz") if "betfair-historical" not in p.parts]
    assert recordings
    replayed = simulate(recordings, [BackAndLay()])
    assert replayed.errors == [] and replayed.strategy_errors == 0
    assert [row(o) for o in replayed.orders] == [row(o) for o in live.betfair.orders]
    assert len(live.betfair.orders) >= 20
    assert sum(o.size_matched for o in live.betfair.orders) > 0

"""Betfair: record market and order streams through drops, garbage and segmented images,
replay them, get what the live hooks got; the historical files beside them replay to the same
markets; no app key or session token anywhere."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from marketstreams import Backoff, Updater, replay
from marketstreams.recording import Recorder
from marketstreams.venues import betfair
from mock_servers.betfair import BetfairMockServer

from .conftest import (
    Observer,
    Waiter,
    assert_same,
    recording_bytes,
    replay_with_feed,
    replay_with_function,
)


class FinalMarkets:
    """Replay hook keeping each market's last state (without what differs between a live
    stream and a file by nature: validity marks)."""

    def __init__(self) -> None:
        self.markets: dict[str, Any] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.markets[book.market] = book.snapshot()

    def result(self) -> dict[str, Any]:
        return self.markets


def without_marks(snapshot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in snapshot.items() if k not in ("is_valid", "stale")}


async def test_recorded_session_replays_call_for_call(tmp_path: Path, waiter: Waiter) -> None:
    folder = tmp_path / "recordings"
    observer = Observer()
    async with BetfairMockServer(rate=1500.0, batch=10, seed=9, segment_size=2) as srv:
        srv.split_utf8 = True
        srv.drop_every = 400
        ep = srv.endpoint()
        recorder = Recorder(folder, flush_interval=0.05)
        feed = betfair.Feed(
            ep.app_key,
            ep.session,
            [
                betfair.MarketSubscription(heartbeat_ms=500),
                betfair.OrderSubscription(heartbeat_ms=500),
            ],
            host=ep.host,
            port=ep.port,
            ssl_context=ep.ssl_context,
            backoff=Backoff(initial=0.01, maximum=0.05),
            record=recorder,
        )
        task = asyncio.create_task(Updater(feed, hooks=[observer, waiter]).run())
        try:
            await waiter.until(lambda: feed.stats.reconnects >= 2)
            srv.malformed()
            await waiter.until(lambda: feed.stats.malformed >= 1)
            await waiter.until(
                lambda: (
                    feed.stats.reconnects >= 5
                    and all(b.is_valid for b in feed.market_cache.markets.values())
                )
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
        live_markets = {
            mid: without_marks(b.snapshot()) for mid, b in feed.market_cache.markets.items()
        }
    live = observer.seen

    assert feed.stats.malformed >= 1 and feed.stats.reconnects >= 5
    assert sum(s.resubscribes for s in feed.states) >= 4  # RESUB_DELTA after the drops
    assert any(not o[0] for calls in live.values() for o in calls)  # hooks saw invalid books
    assert any(key.endswith(":orders") for key in live)

    assert_same(live, replay_with_function(folder))
    replayed, rfeed = await replay_with_feed(folder)
    assert_same(live, replayed)
    reconnects = sum(f.stats.reconnects for f in rfeed.feeds)
    assert reconnects == feed.stats.reconnects
    assert sum(f.stats.malformed for f in rfeed.feeds) == feed.stats.malformed

    # Betfair's own format, beside the recording: one mcm per line, the same markets at the end.
    historical = folder / "betfair-historical"
    files = sorted(historical.rglob("*.mcm.gz"))
    assert files
    result = replay(historical, hooks=[FinalMarkets()])
    assert result.errors == []
    final = {mid: without_marks(s) for mid, s in result.results[0].items()}
    assert final == live_markets
    assert sorted(historical.rglob("*.ocm.gz"))

    raw = recording_bytes(folder)
    assert ep.app_key.encode() not in raw and ep.session.encode() not in raw
    assert raw.count(b'{"op":"authentication"}') == feed.stats.connects

"""BitMEX: record an authenticated session with injected faults, replay it, get what the live
hooks got; no key, secret or signature in the files."""

from __future__ import annotations

import asyncio
from pathlib import Path

from marketstreams import Backoff, Updater
from marketstreams.recording import Recorder
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer

from .conftest import (
    Observer,
    Waiter,
    assert_same,
    recording_bytes,
    replay_with_feed,
    replay_with_function,
)

KEY, SECRET = "bitmex-key-0042abcd", "bitmex-secret-0042abcdef"
TOPICS = ["orderBookL2:XBTUSD", "orderBookL2:ETHUSD", "trade:XBTUSD", "trade:ETHUSD"]


async def test_recorded_session_replays_call_for_call(tmp_path: Path, waiter: Waiter) -> None:
    folder = tmp_path / "recordings"
    observer = Observer()
    async with BitmexMockServer(
        ["XBTUSD", "ETHUSD"], interval=0.005, credentials={KEY: SECRET}
    ) as server:
        recorder = Recorder(folder, flush_interval=0.05)
        feed = bitmex.Feed(
            TOPICS,
            KEY,
            SECRET,
            url=server.url,
            backoff=Backoff(initial=0.01, maximum=0.05),
            ping_interval=0.2,
            pong_timeout=0.4,
            record=recorder,
        )
        task = asyncio.create_task(Updater(feed, hooks=[observer, waiter]).run())

        def calls() -> int:
            return sum(len(v) for v in observer.seen.values())

        async def healthy(connects: int) -> None:
            target = calls() + 80
            await waiter.until(
                lambda: (
                    feed.stats.connects >= connects
                    and all(feed.books[s].is_valid for s in ("XBTUSD", "ETHUSD"))
                    and calls() >= target
                )
            )

        try:
            await healthy(1)
            await server.drop()
            await healthy(2)
            server.malformed()
            await healthy(3)
            server.repeat_partial("XBTUSD")
            server.gap("XBTUSD")
            server.error(503, "Service temporarily unavailable")
            await waiter.until(lambda: feed.counters.unknown_keys >= 1)
            await healthy(3)
            server.silence()
            await healthy(4)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
        signatures = [c["args"][2] for c in server.commands if c.get("op") == "authKeyExpires"]
    live = observer.seen

    stats = feed.stats
    assert (stats.reconnects, stats.malformed, stats.silences) == (3, 1, 1)
    assert feed.counters.unknown_keys == 1 and stats.errors >= 1
    for symbol in ("XBTUSD", "ETHUSD"):
        calls_seen = live[f"bitmex:{symbol}"]
        assert sum(1 for o in calls_seen if not o[0]) == 3  # one per drop, per book
        assert any(o[7] for o in calls_seen)  # trades arrived

    assert_same(live, replay_with_function(folder))
    replayed, rfeed = await replay_with_feed(folder)
    assert_same(live, replayed)
    [again] = rfeed.feeds
    for name in ("connects", "reconnects", "messages", "updates", "malformed", "silences"):
        assert getattr(again.stats, name) == getattr(stats, name), name
    assert again.counters.unknown_keys == feed.counters.unknown_keys  # type: ignore[attr-defined]

    raw = recording_bytes(folder)
    assert len(signatures) == 4
    for secret in (KEY, SECRET, *signatures):
        assert secret.encode() not in raw, secret
    assert raw.count(b'{"op":"authKeyExpires"}') == 4  # the withheld frames, content-free
    assert b'"request":{"op":"authKeyExpires","args":["***"]}' in raw  # the echoed ack

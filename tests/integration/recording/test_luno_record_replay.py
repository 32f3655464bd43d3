"""Luno: record a session with injected faults, replay it, get what the live hooks got."""

from __future__ import annotations

import asyncio
from pathlib import Path

from marketstreams import Backoff, Updater
from marketstreams.recording import Recorder
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer

from .conftest import (
    Observer,
    Waiter,
    assert_same,
    recording_bytes,
    replay_with_feed,
    replay_with_function,
)

KEY, SECRET = "luno-key-id-0042", "luno-secret-value-0042"
PAIRS = ("XBTZAR", "ETHZAR")


async def test_recorded_session_replays_call_for_call(tmp_path: Path, waiter: Waiter) -> None:
    folder = tmp_path / "recordings"
    observer = Observer()
    async with LunoMockServer(
        pairs=PAIRS,
        seed=11,
        orders=800,
        rate=300.0,
        credentials={KEY: SECRET},
        keepalive_interval=0.2,
        ping_interval=None,
    ) as server:
        async with Recorder(folder, flush_interval=0.05) as recorder:
            feeds = {
                pair: luno.Feed(
                    pair,
                    KEY,
                    SECRET,
                    url=server.url,
                    backoff=Backoff(initial=0.01, maximum=0.05),
                    silence_timeout=1.5,  # well above the 0.2 s keepalive, even on a loaded machine
                    keepalive_interval=0.3,
                    record=recorder,
                )
                for pair in PAIRS
            }
            xbt, eth = feeds["XBTZAR"], feeds["ETHZAR"]
            task = asyncio.create_task(Updater(*feeds.values(), hooks=[observer, waiter]).run())

            def calls(pair: str) -> int:
                return len(observer.seen.get(f"luno:{pair}", ()))

            async def healthy(feed: luno.Feed, connects: int) -> None:
                target = calls(feed.pair) + 60
                await waiter.until(
                    lambda: (
                        feed.stats.connects >= connects
                        and feed.book.is_valid
                        and calls(feed.pair) >= target
                    )
                )

            try:
                await healthy(xbt, 1)
                await healthy(eth, 1)
                await server.drop("XBTZAR")
                await healthy(xbt, 2)
                server.inject_gap("XBTZAR")
                server.inject_gap("ETHZAR")
                await healthy(xbt, 3)
                await healthy(eth, 2)
                server.send_malformed("XBTZAR")
                await waiter.until(lambda: xbt.stats.malformed == 1)
                server.send_error("internal_error", "try again", pair="XBTZAR")
                await healthy(xbt, 4)
                server.silence(30.0, "ETHZAR")
                await healthy(eth, 3)
                await server.drop()
                await healthy(xbt, 5)
                await healthy(eth, 4)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
    live = observer.seen

    # The session had every fault, and the hooks were told each time the book went invalid.
    assert (xbt.stats.gaps, xbt.stats.malformed, xbt.stats.errors) == (1, 1, 1)
    assert eth.stats.silences == 1 and eth.stats.gaps == 1
    for pair, feed in feeds.items():
        invalid = [o for o in live[f"luno:{pair}"] if not o[0]]
        assert len(invalid) == feed.stats.reconnects
        assert any(o[7] for o in live[f"luno:{pair}"])  # trades arrived
    assert recorder.stats.dropped == 0

    assert_same(live, replay_with_function(folder))
    replayed, feed = await replay_with_feed(folder)
    assert_same(live, replayed)
    # The replaying feeds counted what the live ones counted.
    by_pair = {f.pair: f for f in feed.feeds}  # type: ignore[attr-defined]
    for pair, live_feed in feeds.items():
        stats = by_pair[pair].stats.as_dict()
        expected = live_feed.stats.as_dict()
        for name in ("connects", "reconnects", "messages", "updates", "gaps", "malformed"):
            assert stats[name] == expected[name], (pair, name)
        assert (stats["errors"], stats["silences"]) == (expected["errors"], expected["silences"])

    raw = recording_bytes(folder)
    assert KEY.encode() not in raw and SECRET.encode() not in raw
    assert raw.count(b'{"frame":"credentials"}') == xbt.stats.connects + eth.stats.connects


async def test_replay_in_worker_processes_matches(tmp_path: Path, waiter: Waiter) -> None:
    folder = tmp_path / "rec"
    observer = Observer()
    async with LunoMockServer(pairs=PAIRS, seed=5, orders=300, rate=400.0) as server:
        recorder = Recorder(folder)
        feeds = [
            luno.Feed(
                p, url=server.url, backoff=Backoff(initial=0.01, maximum=0.05), record=recorder
            )
            for p in PAIRS
        ]
        task = asyncio.create_task(Updater(*feeds, hooks=[observer, waiter]).run())
        try:
            await waiter.until(lambda: sum(map(len, observer.seen.values())) >= 200)
            await server.drop("ETHZAR")
            await waiter.until(lambda: feeds[1].stats.connects == 2 and feeds[1].book.is_valid)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
    assert_same(observer.seen, replay_with_function(folder, workers=2))

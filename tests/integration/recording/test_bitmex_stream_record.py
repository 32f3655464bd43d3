"""BitMEX ``connect()`` streams record too: listeners come and go, a drop is injected, and the
replay (through the feed's protocol core) ends on the book the live stream held."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from marketstreams import Backoff
from marketstreams.exceptions import SubscriptionError
from marketstreams.recording import Recorder
from marketstreams.replay.recordings import find_recordings
from marketstreams.sources import discover
from marketstreams.venues import bitmex
from mock_servers.bitmex import BitmexMockServer

from .conftest import HANG_GUARD, recording_bytes, replay_with_function

KEY, SECRET = "stream-key-0099", "stream-secret-0099xyz"


async def test_stream_recording_replays_to_the_live_book(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    book_rows: list[dict[str, Any]] = []
    trade_ids: list[str] = []
    async with BitmexMockServer(["XBTUSD"], interval=0.005, credentials={KEY: SECRET}) as server:
        recorder = Recorder(folder, flush_interval=0.05)
        async with bitmex.connect(
            server.url,
            KEY,
            SECRET,
            record=recorder,
            backoff=Backoff(initial=0.01, maximum=0.05),
            ping_interval=0.2,
            pong_timeout=0.4,
        ) as ws:
            arrived = asyncio.Event()  # set on every row

            async def books() -> None:
                async for row in ws.listen("orderBookL2", "XBTUSD"):
                    book_rows.append(row)
                    arrived.set()

            async def trades() -> None:
                async for row in ws.listen("trade", "XBTUSD"):
                    trade_ids.append(row["trdMatchID"])
                    arrived.set()

            async def until(check: Any) -> None:
                async with asyncio.timeout(HANG_GUARD):
                    while not check():
                        arrived.clear()
                        await arrived.wait()

            tasks = [asyncio.create_task(books()), asyncio.create_task(trades())]
            try:
                book = lambda: ws.books.get("XBTUSD")  # noqa: E731
                await until(
                    lambda: (b := book()) is not None and b.is_valid and len(book_rows) > 100
                )
                await server.drop()
                seen = len(book_rows)
                await until(
                    lambda: (
                        ws.stats.connects >= 2
                        and (b := book()) is not None
                        and b.is_valid
                        and len(book_rows) > seen + 100
                        and trade_ids
                    )
                )
                # a refused topic ends its listener only (live and replayed alike)
                with pytest.raises(SubscriptionError):
                    async for _ in ws.listen("trade", "NOSUCH"):
                        pass
                # the trade listener leaves: its unsubscribe is recorded and replayed
                tasks[1].cancel()
                await asyncio.gather(tasks[1], return_exceptions=True)
                seen = len(book_rows)
                await until(lambda: len(book_rows) > seen + 50)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            live_book = ws.books["XBTUSD"]
        live_depth = live_book.depth()
        await recorder.aclose()
    assert ws.stats.reconnects == 1

    [[part]], _ = find_recordings(discover(folder))
    assert part.header.feed["stream"] is True and part.header.venue == "bitmex"
    replayed = replay_with_function(folder)["bitmex:XBTUSD"]
    assert replayed[-1][6] == live_depth  # the same full book at the end
    assert sum(1 for o in replayed if not o[0]) == 1  # the drop, announced once
    replayed_trades = [t["id"] for o in replayed for t in o[7]]
    assert replayed_trades and set(replayed_trades) <= set(trade_ids)

    raw = recording_bytes(folder)
    assert KEY.encode() not in raw and SECRET.encode() not in raw
    assert b'{"op":"unsubscribe","args":["trade:XBTUSD"]}' in raw
    assert b"Unknown or expired symbol: NOSUCH" in raw

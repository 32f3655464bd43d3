"""Record a Luno session (with a dropped connection), then replay it and get the same hook calls.

    python examples/record_luno_and_replay.py [FOLDER]

Starts the built-in mock Luno server, records two pairs for a few seconds into FOLDER (default: a
temporary folder), drops one connection mid-way, then replays the recording twice: with
``marketstreams.replay`` (the batch API) and with ``RecordingFeed`` in an Updater (what a strategy
runs), and checks that every hook call saw the same book and trades as live.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from marketstreams import Backoff, Updater, replay
from marketstreams.recording import Recorder, RecordingFeed
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


class Seen:
    """A hook noting, per book, the full depth and the trades at every call."""

    def __init__(self) -> None:
        self.calls: dict[str, list[Any]] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.calls.setdefault(book.market, []).append(
            (book.is_valid, book.sequence, book.depth(), [t.as_dict() for t in trades])
        )

    def result(self) -> dict[str, list[Any]]:
        return self.calls


async def record(folder: Path) -> dict[str, list[Any]]:
    live = Seen()
    async with LunoMockServer(pairs=("XBTZAR", "ETHZAR"), orders=300, rate=200) as server:
        async with Recorder(folder) as recorder:
            feeds = [
                luno.Feed(pair, url=server.url, record=recorder, backoff=Backoff(0.05, 0.2))
                for pair in ("XBTZAR", "ETHZAR")
            ]
            task = asyncio.create_task(Updater(*feeds, hooks=[live]).run())
            await asyncio.sleep(1.5)
            await server.drop("XBTZAR")  # the recording keeps the drop and the reconnect
            await asyncio.sleep(1.5)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        print(f"recorded {recorder.stats.records} records into {len(recorder.files)} files:")
        for path in recorder.files:
            print(f"  {path.relative_to(folder)} ({path.stat().st_size:,} bytes)")
    return live.calls


async def main(folder: Path) -> None:
    live = await record(folder)

    result = replay(folder, hooks=[Seen()])  # one job per recorded connection
    print(f"replay(): {result.summary()['updates']} updates, errors {result.summary()['errors']}")
    print("same hook calls as live:", result.results[0] == live)

    again = Seen()
    # As fast as it goes; RecordingFeed(folder, speed=1) would take the recorded pace.
    await Updater(RecordingFeed(folder), hooks=[again]).run()
    print("RecordingFeed: same hook calls as live:", again.calls == live)
    for market, calls in live.items():
        invalid = sum(1 for valid, *_ in calls if not valid)
        print(f"  {market}: {len(calls)} hook calls, {invalid} with the book out of sync")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(Path(sys.argv[1])))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(Path(tmp)))

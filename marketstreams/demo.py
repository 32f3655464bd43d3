"""The credential-free demo: built-in mock venues, the real network code, a live summary."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, TextIO

from .feed import Feed
from .models import Trade
from .updater import Updater

__all__ = ["run_demo"]

VENUES = ("luno",)


@contextlib.asynccontextmanager
async def _luno_feeds() -> AsyncIterator[list[Feed]]:
    from mock_servers.luno import LunoMockServer

    from .venues import luno

    async with LunoMockServer(pairs=("XBTZAR", "ETHZAR"), seed=7, rate=40.0) as server:
        yield [luno.Feed(pair, url=server.url) for pair in ("XBTZAR", "ETHZAR")]


class _Summary:
    """Counts deliveries per venue and draws the terminal summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.delivered: Counter[str] = Counter()
        self.trades: Counter[str] = Counter()
        self.books: dict[tuple[str, str], Any] = {}
        self.tty = out.isatty()
        self._lines = 0

    def hook(self, book: Any, trades: list[Trade]) -> None:
        self.delivered[book.venue] += 1
        self.trades[book.venue] += len(trades)
        self.books[(book.venue, book.market)] = book

    def draw(self, elapsed: float) -> None:
        rows = [f"marketstreams demo: {elapsed:6.1f} s"]
        for (venue, market), book in sorted(self.books.items()):
            bid, ask = book.best_bid(), book.best_ask()
            state = "ok" if book.is_valid else "INVALID"
            rows.append(
                f"  {venue:<8} {market:<14} {state:<8} "
                f"bid {_fmt(bid):>24}  ask {_fmt(ask):>24}  seq {book.sequence}"
            )
        rows.append(
            "  delivered "
            + " ".join(f"{v}={self.delivered[v]}" for v in VENUES)
            + "  trades "
            + " ".join(f"{v}={self.trades[v]}" for v in VENUES)
        )
        if self.tty:
            if self._lines:
                self.out.write(f"\x1b[{self._lines}F\x1b[J")
            self._lines = len(rows)
            self.out.write("\n".join(rows) + "\n")
        else:
            self.out.write(rows[-1].strip() + "\n")
        self.out.flush()

    def last_line(self) -> str:
        return "demo: " + " ".join(f"{v}={self.delivered[v]}" for v in VENUES)


def _fmt(level: Any) -> str:
    if level is None:
        return "-"
    price, volume = level
    return f"{volume} @ {price}"


async def run_demo(duration: float | None = None, out: TextIO | None = None) -> int:
    """Run the demo for ``duration`` seconds (forever when None); returns the exit status."""
    out = out or sys.stdout
    summary = _Summary(out)
    async with _luno_feeds() as luno_feeds:
        updater = Updater(*luno_feeds, hooks=[summary.hook])
        runner = asyncio.create_task(updater.run())
        start = time.monotonic()
        interval = 1.0 if summary.tty else 5.0
        try:
            while duration is None or time.monotonic() - start < duration:
                remaining = interval if duration is None else duration - (time.monotonic() - start)
                done, _ = await asyncio.wait({runner}, timeout=max(0.0, min(interval, remaining)))
                if done:
                    runner.result()
                    break
                summary.draw(time.monotonic() - start)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    out.write(summary.last_line() + "\n")
    out.flush()
    return 0

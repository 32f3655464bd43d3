"""The credential-free demo: built-in mock venues, the real network code, the proxy and viewer.

Every registered venue (:mod:`marketstreams.venues.registry`) whose demo can run in this build
is started: its mock server in-process on a free port, its real feed connecting to it through real
sockets. The books go through one :class:`~marketstreams.Updater` to the proxy, which serves the
viewer on http://127.0.0.1:8765 (``port`` to change), and to a terminal summary. A venue's demo
is the ``demo`` of its spec.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
import time
import webbrowser
from collections import Counter
from typing import Any, TextIO

from .feed import Feed
from .models import Trade, describe
from .updater import Updater
from .venues import registry
from .venues.registry import VenueSpec

__all__ = [
    "DEFAULT_PORT",
    "available_venues",
    "launch_browser",
    "run_demo",
]

logger = logging.getLogger("marketstreams.demo")

DEFAULT_PORT = 8765


def available_venues() -> list[VenueSpec]:
    """The registered venues whose demo this build can run."""
    specs = [registry.get(name) for name in registry.names()]
    return [spec for spec in specs if spec.demo_available]


class _Summary:
    """Counts deliveries per venue and market and draws the terminal summary."""

    def __init__(self, out: TextIO, venues: list[str]) -> None:
        self.out = out
        self.venues = venues
        self.delivered: Counter[str] = Counter()
        self.trades: Counter[str] = Counter()
        self.books: dict[tuple[str, str], Any] = {}
        self.updates: Counter[tuple[str, str]] = Counter()  # per market
        self.market_trades: Counter[tuple[str, str]] = Counter()
        self._before: tuple[float, Counter[tuple[str, str]]] = (0.0, Counter())
        self.tty = out.isatty()
        self._lines = 0
        self.paper: Any = None  # the demo's PaperTrading hook (one paper strategy per venue)

    def hook(self, book: Any, trades: list[Trade]) -> None:
        key = (book.venue, book.market)
        self.delivered[book.venue] += 1
        self.trades[book.venue] += len(trades)
        self.updates[key] += 1
        self.market_trades[key] += len(trades)
        self.books[key] = book

    def rows(self, elapsed: float) -> list[str]:
        """One row per market: state, best bid and ask (Betfair: the favourite's best back and
        lay), updates a second since the last draw, trades (Betfair: matched volume)."""
        then, counts = self._before
        span = elapsed - then
        rows = []
        for key, book in sorted(self.books.items()):
            venue, market = key
            rate = (self.updates[key] - counts[key]) / span if span > 0 else 0.0
            state = "ok" if book.is_valid else "INVALID"
            quote = _quote(book, self.market_trades[key])
            rows.append(f"  {venue:<8} {market:<14} {state:<8} {rate:6.1f} upd/s  {quote}")
        self._before = (elapsed, self.updates.copy())
        return rows

    def draw(self, elapsed: float, url: str | None) -> None:
        rows = [f"marketstreams demo: {elapsed:6.1f} s" + (f"   viewer {url}" if url else "")]
        rows.extend(self.rows(elapsed))
        rows.append(
            "  delivered "
            + " ".join(f"{v}={self.delivered[v]}" for v in self.venues)
            + "  trades "
            + " ".join(f"{v}={self.trades[v]}" for v in self.venues)
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
        paper = f" paper_orders={self.paper.paper_orders}" if self.paper is not None else ""
        return "demo: " + " ".join(f"{v}={self.delivered[v]}" for v in self.venues) + paper


def _quote(book: Any, trades: int) -> str:
    """Best bid and ask and the trades of an order book; the favourite's best back and lay and
    the matched volume of a Betfair market."""
    view = describe(book, 1)
    if view["kind"] == "orderbook":
        bid, ask = (view[side][0] if view[side] else None for side in ("bids", "asks"))
        return f"bid {_fmt(bid):>24}  ask {_fmt(ask):>24}  trades {trades:>6}"
    runners = [r for r in view.get("runners", []) if r["status"] in (None, "ACTIVE")]
    priced = [r for r in runners if r["back"] or r["ltp"]]
    if not priced:
        return f"{view['status'] or '-':<6} no prices yet"
    # the favourite: the shortest price (its best back, else its last traded price)
    fav = min(priced, key=lambda r: r["back"][0][0] if r["back"] else r["ltp"])
    name = str(fav["name"] or fav["id"])[:12]
    back = _fmt(tuple(fav["back"][0]) if fav["back"] else None)
    lay = _fmt(tuple(fav["lay"][0]) if fav["lay"] else None)
    matched = f"{view['matched'] or 0:,.0f}"
    status = view["status"] or "-"
    return f"{status:<6} fav {name:<12} back {back:>14}  lay {lay:>14}  matched {matched}"


def _fmt(level: Any) -> str:
    if level is None:
        return "-"
    price, volume = level
    return f"{volume} @ {price}"


async def launch_browser(url: str) -> bool:
    """Open ``url`` in a browser when this machine has one; False otherwise."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        logger.warning("no browser found to open %s", url)
        return False
    return await asyncio.to_thread(webbrowser.open, url)


async def _start_proxy(updater: Updater, port: int | None, out: TextIO) -> Any:
    from .proxy import Proxy

    wanted = DEFAULT_PORT if port is None else port
    proxy = Proxy(updater, port=wanted, app=True)
    try:
        await proxy.start()
    except OSError as exc:
        if port is not None or exc.errno != errno.EADDRINUSE:
            raise
        out.write(f"port {DEFAULT_PORT} is taken; the viewer gets a free port instead\n")
        proxy = Proxy(updater, port=0, app=True)
        await proxy.start()
    return proxy


async def run_demo(
    duration: float | None = None,
    out: TextIO | None = None,
    *,
    port: int | None = None,
    open_browser: bool = False,
    viewer: bool = True,
) -> int:
    """Run the demo for ``duration`` seconds (forever when None); returns the exit status.

    ``port``: the viewer's port (8765 by default, a free one when 8765 is taken; an explicit
    port that is taken is an error). ``viewer=False`` runs the feeds and the summary only.
    """
    out = out or sys.stdout
    venues = available_venues()
    missing = [name for name in registry.names() if name not in {v.name for v in venues}]
    if missing:
        out.write(f"(not in this build yet: {', '.join(missing)})\n")
    summary = _Summary(out, [v.name for v in venues])
    async with contextlib.AsyncExitStack() as stack:
        feeds: list[Feed] = []
        for venue in venues:
            if venue.demo is not None:  # (always: available_venues keeps those with a demo)
                feeds.extend(await venue.demo(stack))
        from .simulation import PaperTrading
        from .simulation.demo import demo_strategies

        summary.paper = PaperTrading(demo_strategies([v.name for v in venues]))
        updater = Updater(*feeds, hooks=[summary.hook, summary.paper])
        proxy = None
        if viewer:
            try:
                proxy = await _start_proxy(updater, port, out)
            except OSError as exc:
                out.write(f"demo: cannot serve the viewer on port {port}: {exc.strerror}\n")
                return 1
            proxy.hub.overlay = summary.paper.overlay  # paper orders and profit in the viewer
            out.write(f"viewer: {proxy.url}\n")
            out.flush()
            if open_browser:
                await _open_soon(proxy.url)
        runner = asyncio.create_task(updater.run(), name="marketstreams-demo")
        stop = asyncio.Event()  # SIGTERM: stop as at the end of --duration
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        stopping = asyncio.create_task(stop.wait())
        start = time.monotonic()
        interval = 1.0 if summary.tty else 5.0
        try:
            while duration is None or time.monotonic() - start < duration:
                remaining = interval if duration is None else duration - (time.monotonic() - start)
                done, _ = await asyncio.wait(
                    {runner, stopping},
                    timeout=max(0.0, min(interval, remaining)),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if runner in done:
                    runner.result()
                    break
                if stopping in done:
                    break
                summary.draw(time.monotonic() - start, proxy.url if proxy else None)
        finally:
            # (Ctrl-C cancels this coroutine: the final line is still printed)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGTERM)
            for task in (runner, stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if proxy is not None:
                await proxy.stop()
            out.write(summary.last_line() + "\n")
            out.flush()
    return 0


async def _open_soon(url: str) -> None:
    try:
        await launch_browser(url)
    except Exception as exc:  # a broken browser set-up must not stop the demo
        logger.warning("could not open a browser: %s", exc)

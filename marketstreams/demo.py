"""The credential-free demo: built-in mock venues, the real network code, the proxy and viewer.

Every venue in :data:`DEMO_VENUES` whose mock server and feed are present in this build is
started: its mock server in-process on a free port, its real feed connecting to it through real
sockets. The books go through one :class:`~marketstreams.Updater` to the proxy, which serves the
viewer on http://127.0.0.1:8765 (``port`` to change), and to a terminal summary. Adding a venue
to the demo is one :class:`DemoVenue` entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import logging
import sys
import time
import webbrowser
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .feed import Feed
from .models import Trade
from .transport.backoff import Backoff
from .updater import Updater

__all__ = [
    "DEFAULT_PORT",
    "DEMO_VENUES",
    "DemoVenue",
    "available_venues",
    "launch_browser",
    "run_demo",
]

logger = logging.getLogger("marketstreams.demo")

DEFAULT_PORT = 8765


@dataclass(frozen=True)
class DemoVenue:
    """One venue of the demo: the modules it needs, and how to start its mock server(s) (on
    ``stack``, so they stop with the demo) and return the feeds that connect to them."""

    name: str
    requires: tuple[str, ...]
    start: Callable[[contextlib.AsyncExitStack], Awaitable[list[Feed]]]

    @property
    def available(self) -> bool:
        for module in self.requires:
            try:
                if importlib.util.find_spec(module) is None:
                    return False
            except ImportError:
                return False
        return True


def _quick_backoff() -> Backoff:
    return Backoff(initial=0.2, maximum=2.0)


async def _luno(stack: contextlib.AsyncExitStack) -> list[Feed]:
    from mock_servers.luno import LunoMockServer

    from .venues import luno

    pairs = ("XBTZAR", "ETHZAR")
    server = await stack.enter_async_context(LunoMockServer(pairs=pairs, seed=7, rate=40.0))
    return [luno.Feed(pair, url=server.url, backoff=_quick_backoff()) for pair in pairs]


async def _bitmex(stack: contextlib.AsyncExitStack) -> list[Feed]:
    from mock_servers.bitmex import MockBitmexServer

    from .venues.bitmex.feed import Feed as BitmexFeed

    symbols = ("XBTUSD", "ETHUSD", "SOLUSDT")
    server = await stack.enter_async_context(MockBitmexServer(symbols, interval=0.05, seed=7))
    topics = [f"orderBookL2_25:{s}" for s in symbols] + [f"trade:{s}" for s in symbols]
    feed: Feed = BitmexFeed(topics, url=server.url, backoff=_quick_backoff())
    return [feed]


async def _betfair(stack: contextlib.AsyncExitStack) -> list[Feed]:
    from mock_servers.betfair import demo_server

    from .venues.betfair import MarketSubscription
    from .venues.betfair.feed import Feed as BetfairFeed

    endpoint = await stack.enter_async_context(demo_server(markets=4, rate=30.0, seed=7))
    feed: Feed = BetfairFeed(
        endpoint.app_key,
        endpoint.session,
        [MarketSubscription()],
        host=endpoint.host,
        port=endpoint.port,
        ssl_context=endpoint.ssl_context,
        backoff=_quick_backoff(),
    )
    return [feed]


DEMO_VENUES: tuple[DemoVenue, ...] = (
    DemoVenue(
        "betfair",
        ("mock_servers.betfair", "marketstreams.venues.betfair.feed"),
        _betfair,
    ),
    DemoVenue("luno", ("mock_servers.luno", "marketstreams.venues.luno.feed"), _luno),
    DemoVenue("bitmex", ("mock_servers.bitmex", "marketstreams.venues.bitmex.feed"), _bitmex),
)


def available_venues() -> list[DemoVenue]:
    """The demo venues this build can run."""
    return [v for v in DEMO_VENUES if v.available]


class _Summary:
    """Counts deliveries per venue and draws the terminal summary."""

    def __init__(self, out: TextIO, venues: list[str]) -> None:
        self.out = out
        self.venues = venues
        self.delivered: Counter[str] = Counter()
        self.trades: Counter[str] = Counter()
        self.books: dict[tuple[str, str], Any] = {}
        self.tty = out.isatty()
        self._lines = 0

    def hook(self, book: Any, trades: list[Trade]) -> None:
        self.delivered[book.venue] += 1
        self.trades[book.venue] += len(trades)
        self.books[(book.venue, book.market)] = book

    def draw(self, elapsed: float, url: str | None) -> None:
        rows = [f"marketstreams demo: {elapsed:6.1f} s" + (f"   viewer {url}" if url else "")]
        for (venue, market), book in sorted(self.books.items()):
            state = "ok" if book.is_valid else "INVALID"
            rows.append(f"  {venue:<8} {market:<14} {state:<8} {_quote(book)}")
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
        return "demo: " + " ".join(f"{v}={self.delivered[v]}" for v in self.venues)


def _quote(book: Any) -> str:
    if hasattr(book, "best_bid"):
        bid, ask = book.best_bid(), book.best_ask()
        return f"bid {_fmt(bid):>24}  ask {_fmt(ask):>24}  seq {book.sequence}"
    runners = getattr(book, "runners", [])
    status = getattr(book, "status", None)
    return f"{status or '-'}  {len(runners)} runners"


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
    missing = [v.name for v in DEMO_VENUES if v not in venues]
    if missing:
        out.write(f"(not in this build yet: {', '.join(missing)})\n")
    summary = _Summary(out, [v.name for v in venues])
    async with contextlib.AsyncExitStack() as stack:
        feeds: list[Feed] = []
        for venue in venues:
            feeds.extend(await venue.start(stack))
        updater = Updater(*feeds, hooks=[summary.hook])
        proxy = None
        if viewer:
            try:
                proxy = await _start_proxy(updater, port, out)
            except OSError as exc:
                out.write(f"demo: cannot serve the viewer on port {port}: {exc.strerror}\n")
                return 1
            out.write(f"viewer: {proxy.url}\n")
            out.flush()
            if open_browser:
                await _open_soon(proxy.url)
        runner = asyncio.create_task(updater.run(), name="marketstreams-demo")
        start = time.monotonic()
        interval = 1.0 if summary.tty else 5.0
        try:
            while duration is None or time.monotonic() - start < duration:
                remaining = interval if duration is None else duration - (time.monotonic() - start)
                done, _ = await asyncio.wait({runner}, timeout=max(0.0, min(interval, remaining)))
                if done:
                    runner.result()
                    break
                summary.draw(time.monotonic() - start, proxy.url if proxy else None)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
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

"""The viewer in a real chromium, served by the real demo (mock venues, real feeds, the proxy).

Drives Debian's chromium through Playwright: every venue's books are listed, a ladder changes
live, a click opens a Betfair market and one of its runners' ladders, and the page comes back by
itself after the demo (proxy included) is killed and started again on the same port.
Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
GUARD_MS = 30_000  # hang guards only: each wait ends as soon as the page shows the condition
VENUES = ("betfair", "bitmex", "luno")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}"),
]


class Demo:
    """``marketstreams demo`` in a subprocess; :meth:`start` returns once the viewer URL is out."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, port: int = 0) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "marketstreams.cli",
            "demo",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(60):
            while True:
                line = (await self.proc.stdout.readline()).decode()
                assert line, "the demo exited before printing the viewer URL"
                match = re.match(r"viewer: (http://127\.0\.0\.1:(\d+)/)", line)
                if match:
                    self.url = match.group(1)
                    # keep reading so a full pipe never blocks the demo
                    asyncio.get_running_loop().create_task(self._drain())
                    return self.url

    async def _drain(self) -> None:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        while await proc.stdout.readline():
            pass

    @property
    def port(self) -> int:
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)  # a crash, not a clean shutdown
            await self.proc.wait()


@pytest.fixture
async def demo() -> AsyncIterator[Demo]:
    d = Demo()
    await d.start()
    try:
        yield d
    finally:
        await d.kill()


async def test_viewer_lists_every_venue_follows_clicks_and_survives_a_restart(
    demo: Demo, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(GUARD_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(demo.url)

        # Books of all three venues are listed.
        for venue in VENUES:
            await page.wait_for_selector(f'[data-venue="{venue}"] [data-book]')
        listed = await page.eval_on_selector_all(
            "[data-book]", "els => els.map(e => e.dataset.book)"
        )
        assert {name.split(":")[0] for name in listed} == set(VENUES)

        # A Luno ladder changes live: its sequence moves on and the ladder has both sides.
        await page.click('[data-book="luno:XBTZAR"]')
        await page.wait_for_selector('[data-testid="ladder"] .row.buy')
        first = await page.inner_text('[data-testid="sequence"]')
        await page.wait_for_function(
            "seq => document.querySelector('[data-testid=sequence]').innerText !== seq", arg=first
        )
        assert await page.locator('[data-testid="ladder"] .row.sell').count() > 0
        bid = float((await page.inner_text('[data-testid="best-bid"]')).replace(",", ""))
        ask = float((await page.inner_text('[data-testid="best-ask"]')).replace(",", ""))
        assert bid < ask
        await page.screenshot(path=str(tmp_path / "viewer-luno.png"))

        # A click opens a Betfair market: its runners' back and lay prices, then a runner's ladder.
        market = listed[[n.split(":")[0] for n in listed].index("betfair")]
        await page.click(f'[data-book="{market}"]')
        await page.wait_for_selector(
            '[data-testid="runners"] .runner-row[data-runner] .cell.back b'
        )
        assert await page.locator('[data-testid="runners"] .runner-row[data-runner]').count() >= 2
        assert await page.locator('[data-testid="runners"] .cell.lay b').count() > 0
        await page.click('[data-testid="runners"] .runner-row[data-runner]')
        await page.wait_for_selector('[data-testid="runner-ladder"] .rl-row')
        assert page.url.endswith("#" + market.replace(":", "%3A"))
        await page.screenshot(path=str(tmp_path / "viewer-betfair.png"))

        # The header's rate is the venues' rates added up (read in one go: they move every second).
        await page.wait_for_function(
            "() => [...document.querySelectorAll('[data-venue] header')]"
            ".some(h => Number(h.dataset.rate) > 0)"
        )
        header, venues = await page.evaluate(
            "() => [Number(document.querySelector('[data-testid=rate]').dataset.rate),"
            " [...document.querySelectorAll('[data-venue] header')].map(h => Number(h.dataset.rate))]"
        )
        assert len(venues) == len(VENUES) and header == pytest.approx(sum(venues)) and header > 0
        assert (await page.inner_text('[data-testid="book-state"]')).lower() == "live"

        # The proxy dies: the page says so, the book is no longer called live, and it keeps trying.
        port = demo.port
        await demo.kill()
        await page.wait_for_selector('[data-testid="disconnected"]')
        await page.wait_for_selector('[data-testid="connection"].waiting')
        assert (await page.inner_text('[data-testid="book-state"]')).lower() == "offline"
        assert await page.locator(".badge.good").count() == 0
        await page.screenshot(path=str(tmp_path / "viewer-disconnected.png"))

        # It comes back on the same port: the page reconnects and resubscribes by itself.
        await demo.start(port)
        await page.wait_for_selector('[data-testid="connection"].open')
        await page.wait_for_selector('[data-testid="disconnected"]', state="detached")
        await page.wait_for_selector(
            '[data-testid="runners"] .runner-row[data-runner] .cell.back b'
        )
        await page.click('[data-book="bitmex:XBTUSD"]')
        await page.wait_for_selector('[data-testid="ladder"] .row.buy')
        before = await page.inner_text('[data-testid="ladder"]')
        await page.wait_for_function(
            "text => document.querySelector('[data-testid=ladder]').innerText !== text",
            arg=before,
        )
        await page.screenshot(path=str(tmp_path / "viewer.png"))
        await browser.close()
    assert errors == []
    assert (tmp_path / "viewer.png").stat().st_size > 10_000

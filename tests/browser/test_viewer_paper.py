"""The viewer shows paper trading (the demo runs one paper strategy per venue): a working paper
order marked on the Luno ladder at its price, the strategy's running profit, its fills."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.test_viewer import ARGS, CHROMIUM, GUARD_MS, Demo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}"),
]


async def test_viewer_marks_paper_orders_and_profit(tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    demo = Demo()
    await demo.start()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            page.set_default_timeout(GUARD_MS)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(demo.url)
            await page.click('[data-book="luno:XBTZAR"]')
            # the demo's Luno strategy keeps a buy at the best bid and a sell at the best ask
            mark = page.locator('[data-testid="ladder"] [data-testid="paper-order"]').first
            await mark.wait_for()
            found = await page.evaluate(
                """() => [...document.querySelectorAll('[data-testid=paper-order]')].map(m => {
                    const row = m.closest('.row');
                    return [m.dataset.side, m.dataset.price,
                            row.querySelector('.price').firstChild.textContent.trim(),
                            row.classList.contains('buy') ? 'buy' : 'sell'];
                })"""
            )
            assert found
            for side, price, row_price, row_side in found:
                assert price == row_price and side == row_side  # on its own row and side
            profit = page.locator('[data-testid="paper-profit"][data-strategy="paper-luno"]')
            await profit.wait_for()
            value = await profit.get_attribute("data-profit")
            assert value is not None and float(value) == float(value)  # a number
            # fills in the trades tape, among the venue's trades, marked as paper
            fill = page.locator('.tape [data-testid="paper-fill"]').first
            await fill.wait_for()
            assert "paper" in (await fill.get_attribute("class") or "")
            assert (await fill.locator(".paper-mark").inner_text()).strip() == "P"
            assert await page.locator(".tape .tape-row:not(.paper)").count() > 0
            await page.screenshot(path=str(tmp_path / "viewer-paper.png"))
            await browser.close()
        assert errors == []
    finally:
        await demo.kill()

"""The simulation's HTML report in a real chromium: one cumulative-profit line per strategy,
each ending at the summary's net profit, and nothing asked of the network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from marketstreams.simulation import simulate
from tests.browser.test_viewer import ARGS, CHROMIUM
from tests.conftest import shared_data
from tests.integration.simulation.strategies import BackFavourite, LayFavourite30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no chromium at {CHROMIUM}"),
]


async def test_the_report_draws_one_line_per_strategy_ending_at_its_net_profit(
    tmp_path: Path,
) -> None:
    from playwright.async_api import async_playwright

    folder = shared_data("betfair", "historic")
    result = simulate(folder, [BackFavourite(), LayFavourite30()], commission=0.05)
    summary = result.summary()
    assert len(result.markets) >= 4
    report = tmp_path / "report.html"
    result.report(report)
    url = report.as_uri()
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            await page.goto(url)
            lines = page.locator("svg#chart polyline.series")
            assert await lines.count() == 2
            drawn = {}
            for i in range(2):
                line = lines.nth(i)
                name = await line.get_attribute("data-strategy")
                values = (await line.get_attribute("data-values") or "").split(",")
                box = await line.bounding_box()
                assert box is not None and box["width"] > 100  # drawn across the chart
                drawn[name] = (float(await line.get_attribute("data-last") or "nan"), values)
            assert set(drawn) == {"BackFavourite", "LayFavourite30"}
            for name, (last, values) in drawn.items():
                expected = summary["strategies"][name]["net_profit"]
                assert last == expected
                assert float(values[-1]) == expected
                settled = [m for m in result.markets if m.strategy == name]
                assert len(values) == len(settled)
            total = float(await page.locator("body").get_attribute("data-net-profit") or "nan")
            assert total == summary["net_profit"] == round(sum(v[0] for v in drawn.values()), 2)
            rows = page.locator("table#markets tbody tr")
            assert await rows.count() == len(result.markets)
            await page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            await browser.close()
    assert requests == [url]  # the page itself only: nothing from the network

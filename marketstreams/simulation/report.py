"""The HTML report of a simulation: one self-contained file (inline SVG and CSS, no script, no
network): cumulative net profit per strategy over time, the summary, the per-market table.

The chart's lines carry their values as data attributes (``data-strategy``, ``data-last``,
``data-values``) so tools and tests can read what is drawn."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .result import SimulationResult

__all__ = ["render"]

_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
_W, _H, _PAD = 900, 360, 48


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000.0, UTC).strftime("%Y-%m-%d %H:%M")


def _chart(series: dict[str, list[tuple[int, float]]]) -> str:
    points = [p for values in series.values() for p in values]
    if not points:
        return '<p class="empty">No settled market: nothing to draw.</p>'
    t0 = min(t for t, _ in points)
    t1 = max(t for t, _ in points)
    lo = min(0.0, *(v for _, v in points))
    hi = max(0.0, *(v for _, v in points))
    if hi == lo:
        hi = lo + 1.0
    span = (t1 - t0) or 1

    def x(t: int) -> float:
        return _PAD + (t - t0) / span * (_W - 2 * _PAD)

    def y(v: float) -> float:
        return _H - _PAD - (v - lo) / (hi - lo) * (_H - 2 * _PAD)

    parts = [
        f'<svg id="chart" viewBox="0 0 {_W} {_H}" width="{_W}" height="{_H}" role="img" '
        'aria-label="cumulative net profit per strategy">',
        f'<line class="zero" x1="{_PAD}" x2="{_W - _PAD}" y1="{y(0):.1f}" y2="{y(0):.1f}"/>',
        f'<text x="4" y="{y(hi) + 4:.1f}">{hi:.2f}</text>',
        f'<text x="4" y="{y(lo) + 4:.1f}">{lo:.2f}</text>',
        f'<text x="{_PAD}" y="{_H - 12}">{escape(_when(t0))}</text>',
        f'<text x="{_W - _PAD}" y="{_H - 12}" text-anchor="end">{escape(_when(t1))}</text>',
    ]
    legend = []
    for i, (name, values) in enumerate(series.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        last = values[-1][1] if values else 0.0
        # a step line: from 0 at the start, each settled market moves it
        coords = [f"{x(t0):.1f},{y(0):.1f}"]
        level = 0.0
        for t, v in values:
            coords.append(f"{x(t):.1f},{y(level):.1f}")
            coords.append(f"{x(t):.1f},{y(v):.1f}")
            level = v
        data = ",".join(f"{v:.2f}" for _, v in values)
        parts.append(
            f'<polyline class="series" data-strategy="{escape(name)}" data-last="{last:.2f}" '
            f'data-values="{data}" points="{" ".join(coords)}" stroke="{colour}"/>'
        )
        legend.append(
            f'<li><span style="background:{colour}"></span>{escape(name)}: {last:.2f}</li>'
        )
    parts.append("</svg>")
    return "".join(parts) + f'<ul class="legend">{"".join(legend)}</ul>'


def _cell(value: Any) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"<td>{escape(str(value))}</td>"
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    return f'<td class="num">{text}</td>'


def _table(rows: list[dict[str, Any]], columns: list[str], table_id: str) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render(result: SimulationResult, title: str = "Simulation report") -> str:
    """The report of ``result`` as one HTML document."""
    summary = result.summary()
    per = summary["strategies"]
    keys = [
        "orders",
        "matched_orders",
        "matched_volume",
        "markets",
        "gross_profit",
        "commission",
        "net_profit",
        "strike_rate",
        "max_drawdown",
    ]
    summary_rows = [{"strategy": name, **{k: s.get(k) for k in keys}} for name, s in per.items()]
    summary_rows.append({"strategy": "all", **{k: summary.get(k) for k in keys}})
    markets = [m.as_dict() for m in sorted(result.markets, key=lambda m: m.settled_at or 0)]
    market_cols = [
        "settled_at",
        "market_id",
        "event_name",
        "market_type",
        "strategy",
        "orders",
        "matched",
        "gross_profit",
        "commission",
        "net_profit",
    ]
    errors = "".join(f"<li>{escape(e)}</li>" for e in summary["errors"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#222}}
table{{border-collapse:collapse;margin:8px 0 24px}}
th,td{{border:1px solid #ccc;padding:3px 8px;text-align:left}}
th{{background:#f3f3f3}} td.num{{text-align:right}}
svg text{{font-size:11px;fill:#555}} .zero{{stroke:#999;stroke-dasharray:4 3}}
.series{{fill:none;stroke-width:2}}
.legend{{list-style:none;padding:0}}
.legend span{{display:inline-block;width:12px;height:12px;margin-right:6px}}
</style></head>
<body data-net-profit="{summary["net_profit"]:.2f}">
<h1>{escape(title)}</h1>
<p id="totals">files {summary["files"]}, lines {summary["lines"]:,}, markets {summary["markets"]},
orders {summary["orders"]}, matched {summary["matched_volume"]:.2f},
net profit <b>{summary["net_profit"]:.2f}</b> (gross {summary["gross_profit"]:.2f},
commission {summary["commission"]:.2f}), strategy errors {summary["strategy_errors"]}</p>
{f'<ul class="errors">{errors}</ul>' if errors else ""}
<h2>Cumulative net profit</h2>
{_chart(result.cumulative())}
<h2>Summary</h2>
{_table(summary_rows, ["strategy", *keys], "summary")}
<h2>Markets</h2>
{_table(markets, market_cols, "markets")}
</body></html>
"""

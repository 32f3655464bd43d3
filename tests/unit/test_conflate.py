"""The one conflator (hooks and proxy clients) and the one Prometheus renderer."""

from __future__ import annotations

from dataclasses import dataclass

from marketstreams.conflate import Conflator
from marketstreams.prometheus import Exposition


@dataclass
class Counters:
    conflated: int = 0
    dropped_trades: int = 0


def test_latest_value_wins_trades_concatenate_and_are_capped_oldest_first() -> None:
    counters = Counters()
    c: Conflator[str, int, int] = Conflator(max_trades=4, counters=counters)
    c.offer("a", 1, [1, 2])
    c.offer("b", 10)
    c.offer("a", 2, [3, 4, 5], snapshot=True)
    c.offer("a", 3)
    assert len(c) == 2 and counters.conflated == 2 and counters.dropped_trades == 1
    key, pending = c.pop_first()
    assert key == "a" and pending.value == 3 and pending.trades == [2, 3, 4, 5]
    assert pending.merged == 2 and pending.dropped == 1 and pending.snapshot
    key, pending = c.pop_first()
    assert key == "b" and pending.merged == 0 and not pending.snapshot and not c


def test_exposition_keeps_each_family_together() -> None:
    out = Exposition(prefix="x_")
    for venue in ("luno", "bitmex"):
        out.add("updates_total", "counter", "Updates.", 3, {"venue": venue})
        out.add("up", "gauge", "Up.", True, {"venue": venue})
    out.histogram("lag", "Lag.", {"buckets": [(0.5, 1), (float("inf"), 2)], "sum": 1, "count": 2})
    lines = out.text().splitlines()
    assert lines[:4] == [
        "# HELP x_updates_total Updates.",
        "# TYPE x_updates_total counter",
        'x_updates_total{venue="luno"} 3',
        'x_updates_total{venue="bitmex"} 3',
    ]
    assert 'x_up{venue="bitmex"} 1' in lines and 'x_lag_bucket{le="+Inf"} 2' in lines

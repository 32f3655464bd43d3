"""Rules the simulation benchmarks' strategies share, for flumine's and marketstreams' books alike
(no imports: benchmarks/_flumine_sim.py runs it in the peers' environment)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def favourite(
    runners: Iterable[Any], key: Callable[[Any], float | None]
) -> tuple[Any, float] | None:
    """The ACTIVE runner with the lowest `key` (ties: the lowest selection id), and that value;
    None when no active runner has one."""
    priced = [
        (price, runner.selection_id, runner)
        for runner in runners
        if runner.status == "ACTIVE" and (price := key(runner))
    ]
    if not priced:
        return None
    price, _, runner = min(priced, key=lambda item: (item[0], item[1]))
    return runner, price


def to_win(amount: float, price: float) -> float:
    """The stake that wins (or, laid, risks) `amount` at `price`, to the penny."""
    return round(amount / (price - 1), 2)

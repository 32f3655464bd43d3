"""The Betfair mock's synthetic data against what the real venue sends (issue 15)."""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from mock_servers.betfair import SyntheticMarkets
from tests.conftest import shared_data

# Keys a real definition carries only in states the synthetic markets never reach.
ONLY_WHEN_CLOSED = {"settledTime"}
# A runner's ``bsp`` comes with reconciliation, ``removalDate`` with its removal.
RUNNER_ONLY_LATER = {"bsp", "removalDate"}
LADDERS = ("atb", "atl", "trd", "spb", "spl", "batb", "batl", "bdatb", "bdatl")


def real_definitions(folder: Path) -> Iterator[dict[str, Any]]:
    """Every market definition in the historic files (plain, .gz and .bz2)."""
    for path in sorted(folder.iterdir()):
        opener: Any = (
            bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
        )
        with opener(path, "rb") as f:
            for line in f:
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(message, dict):
                    continue
                for mc in message.get("mc") or ():
                    definition = mc.get("marketDefinition")
                    if isinstance(definition, dict):
                        yield definition


def kind(value: object) -> str:
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else type(value).__name__
    )


def test_synthetic_definitions_carry_every_key_of_real_ones() -> None:
    real = list(real_definitions(shared_data("betfair", "historic")))
    assert len(real) > 100
    synthetic = SyntheticMarkets(markets=3, runners=5).definitions
    assert len(synthetic) == 3
    market_kinds: dict[str, set[str]] = {}
    runner_kinds: dict[str, set[str]] = {}
    for definition in real:
        for key, value in definition.items():
            market_kinds.setdefault(key, set()).add(kind(value))
        for runner in definition["runners"]:
            for key, value in runner.items():
                runner_kinds.setdefault(key, set()).add(kind(value))
    for definition in synthetic.values():
        missing = set(market_kinds) - ONLY_WHEN_CLOSED - set(definition)
        assert not missing, f"synthetic definitions lack {sorted(missing)}"
        for key, value in definition.items():
            assert kind(value) in market_kinds.get(key, {kind(value)}), key
        assert definition["numberOfActiveRunners"] == len(definition["runners"]) == 5
        for runner in definition["runners"]:
            missing = set(runner_kinds) - RUNNER_ONLY_LATER - set(runner)
            assert not missing, f"synthetic runners lack {sorted(missing)}"
            for key, value in runner.items():
                assert kind(value) in runner_kinds[key], key


def test_definition_changes_stay_complete() -> None:
    markets = SyntheticMarkets(markets=2, runners=3, seed=5)
    keys = set(next(iter(markets.definitions.values())))
    changed = 0
    for _ in range(3000):
        _op, change = markets.next()
        definition = change.get("marketDefinition")
        if definition is not None:
            changed += 1
            assert set(definition) == keys
            assert definition["betDelay"] == (1 if definition["inPlay"] else 0)
    assert changed >= 4


def test_no_price_repeats_inside_one_ladder() -> None:
    markets = SyntheticMarkets(markets=4, runners=6, seed=11)
    changes = [change for op, change in markets.initial() if op == "mcm"]
    changes += [change for op, change in (markets.next() for _ in range(50_000)) if op == "mcm"]
    ladders = 0
    for change in changes:
        for rc in change.get("rc") or ():
            for key in LADDERS:
                levels = rc.get(key)
                if levels is None:
                    continue
                ladders += 1
                firsts = [level[0] for level in levels]
                assert len(firsts) == len(set(firsts)), (key, change)
    assert ladders > 50_000  # atb and atl in nearly every change, trd in some

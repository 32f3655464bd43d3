"""The venue registry: every venue reached through one spec, and a fourth venue added with its
own package (tests/unit/toyvenue) plus one registry entry, with nothing else changed."""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketstreams import Updater, replay
from marketstreams.demo import available_venues
from marketstreams.exceptions import ConfigurationError
from marketstreams.proxy.config import build_feeds, parse_markets
from marketstreams.recording import Recorder, RecordingFeed
from marketstreams.recording import cli as record_cli
from marketstreams.recording.format import Header, Kind, Record
from marketstreams.venues import registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def toy() -> Iterator[None]:
    registry.register("toy", "tests.unit.toyvenue")  # the one entry a new venue needs
    try:
        yield
    finally:
        registry.unregister("toy")


def test_the_three_venues_and_their_specs() -> None:
    assert registry.names() == ("luno", "bitmex", "betfair")
    for name in registry.names():
        spec = registry.get(name)
        assert spec.name == name and spec.mock == f"mock_servers.{name}"
    with pytest.raises(ConfigurationError, match="known: luno, bitmex, betfair"):
        registry.get("nasdaq")


def test_naming_the_venues_imports_none_of_them() -> None:
    code = (
        "import sys, marketstreams.venues.registry as r; r.names(); r.require('luno');"
        "import marketstreams.proxy.config, marketstreams.recording;"
        "print(sorted(m for m in sys.modules if m.startswith('marketstreams.venues.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['marketstreams.venues.registry']"


def test_the_capability_table_in_the_docs_is_the_registrys() -> None:
    table = registry.capability_table()
    assert table.count("\n") == 2 + len(registry.names())
    assert table in (ROOT / "docs" / "architecture.md").read_text()


def test_no_module_outside_venues_imports_a_venue() -> None:
    """The farm-studio walk: only venues/ (and its registry) import a venue's modules at run
    time. Imports under ``if TYPE_CHECKING:`` (a venue's types named for readers and type
    checkers, as the Betfair simulation's strategies do) make no import edge and are allowed."""
    offenders = []
    for path in sorted((ROOT / "marketstreams").rglob("*.py")):
        rel = path.relative_to(ROOT / "marketstreams")
        if rel.parts[0] == "venues":
            continue
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for stmt in block.body
            for node in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in type_only:
                continue
            text = ast.unparse(node)
            if any(f"venues.{v}" in text or f"venues import {v}" in text for v in registry.names()):
                offenders.append(f"{rel}: {text}")
    assert offenders == []


def test_a_toy_venue_through_the_proxy_config(toy: None) -> None:
    [spec] = parse_markets(["toy:ABC,DEF"])
    feeds = build_feeds([spec], {"TOY_TOKEN": "t0ken"})
    assert [f.market for f in feeds] == ["ABC", "DEF"]  # type: ignore[attr-defined]
    assert [f.token for f in feeds] == ["t0ken", "t0ken"]  # type: ignore[attr-defined]
    [spec] = parse_markets(["toy:ABC"])
    spec.options["colour"] = "red"
    with pytest.raises(ConfigurationError, match="unknown toy option"):
        build_feeds([spec], {})


def test_a_toy_venue_recorded_replayed_and_in_the_demo(toy: None, tmp_path: Path) -> None:
    with Recorder(tmp_path) as recorder:
        options = argparse.Namespace(url=None, orders=False)
        [feed] = record_cli.build_feeds("toy", ["ABC"], recorder, environ={}, options=options)

        async def live() -> list[Any]:
            seen: list[Any] = []
            await Updater(feed, hooks=[lambda book, trades: seen.append(book.best_bid())]).run()
            return seen

        live_calls = asyncio.run(live())
    assert live_calls == [(100.0, 1.0), (101.0, 2.0), (102.0, 3.0)]

    class Bids:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def __call__(self, book: Any, trades: list[Any]) -> None:
            self.seen.append(book.best_bid())

        def result(self) -> list[Any]:
            return self.seen

    result = replay(tmp_path, hooks=[Bids()])
    assert result.errors == [] and result.results == [live_calls]

    async def again() -> list[Any]:
        seen: list[Any] = []
        hooks = [lambda book, trades: seen.append(book.best_bid())]
        await Updater(RecordingFeed(tmp_path), hooks=hooks).run()
        return seen

    assert asyncio.run(again()) == live_calls

    [toy_demo] = [v for v in available_venues() if v.name == "toy"]
    assert toy_demo.demo is not None

    async def demo_feeds() -> list[Any]:
        async with contextlib.AsyncExitStack() as stack:
            return await toy_demo.demo(stack)  # type: ignore[misc]

    assert [f.market for f in asyncio.run(demo_feeds())] == ["DEMO"]
    assert "| toy | memory |" in registry.capability_table()


# What each venue's spec needs to build a feed without connecting, and the header of a
# recording of that feed.
CORE_CASES: dict[str, tuple[list[str], dict[str, Any], dict[str, Any]]] = {
    "luno": (["XBTZAR"], {}, {"pair": "XBTZAR"}),
    "bitmex": (["XBTUSD"], {}, {"topics": ["orderBookL2_25:XBTUSD"]}),
    "betfair": (
        ["1.234"],
        {"app_key": "key", "session_token": "token"},
        {"kind": "market", "subscription": {"op": "marketSubscription"}},
    ),
    "toy": (["ABC"], {}, {"market": "ABC"}),
}


@pytest.mark.parametrize("venue", list(CORE_CASES))
def test_one_session_core_class_serves_the_live_feed_and_its_replay(toy: None, venue: str) -> None:
    """Every venue's live feed and the feed replaying its recording hold a session core of the
    same class (the toy's too: the pattern a new venue follows), and the replay goes through it."""
    markets, options, feed_info = CORE_CASES[venue]
    spec = registry.get(venue)
    live: Any = spec.build(markets, options)[0]
    header = Header(venue, "test://", markets, "c0", feed=feed_info)
    replaying: Any = spec.from_recording(header)
    assert type(replaying.core) is type(live.core)
    for method in ("on_connect", "on_data", "on_lost", "on_fatal", "retry", "data_to_send"):
        assert callable(getattr(live.core, method)), method
    assert live.core.stats is live.stats and replaying.core.stats is replaying.stats
    assert replaying.replay_record(Record(Kind.CONNECTED, 1.0, b"{}")) == []
    assert replaying.stats.connects == 1  # counted by the core, as the live loop's connect is
    assert live.stats.connects == 0

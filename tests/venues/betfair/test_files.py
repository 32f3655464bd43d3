"""Every historic file and fixture in ../shared/data/betfair through the caches, with integrity
checks after every message (skipped when the shared data is absent)."""

from __future__ import annotations

import bz2
import gzip
import itertools
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from marketstreams.venues.betfair import MarketBook, MarketCache, OrderCache, core

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "betfair"
HISTORIC = DATA / "historic"
FIXTURES = DATA / "fixtures"

needs_data = pytest.mark.skipif(
    not HISTORIC.is_dir(), reason=f"shared Betfair data not found at {HISTORIC}"
)


def historic_files() -> list[str]:
    if not HISTORIC.is_dir():
        return ["(none)"]
    return sorted(p.name for p in HISTORIC.iterdir() if p.is_file())


def read_lines(path: Path) -> Iterator[bytes]:
    opener = bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            if line.strip():
                yield line


def check_integrity(book: MarketBook, runner_set: bool = True) -> None:
    where = f"{book.market_id} pt={book.publish_time}"
    for r in book.runners:
        backs = r.available_to_back
        lays = r.available_to_lay
        assert all(a[0] > b[0] for a, b in itertools.pairwise(backs)), where
        assert all(a[0] < b[0] for a, b in itertools.pairwise(lays)), where
        for ladder in (
            backs,
            lays,
            r.traded_volume,
            r.best_available_to_back,
            r.best_available_to_lay,
            r.best_display_available_to_back,
            r.best_display_available_to_lay,
            r.sp.back,
            r.sp.lay,
        ):
            assert all(size != 0 for _, size in ladder), where
        assert r.best_back(3) == backs[:3] and r.best_lay(3) == lays[:3], where
        assert r.total_matched >= 0, where
    md = book.market_definition
    if runner_set and md is not None and md.get("runners") is not None:
        expected = {(rd["id"], rd.get("hc") or 0.0) for rd in md["runners"]}
        held = {(r.selection_id, r.handicap) for r in book.runners}
        assert held == expected, where


@needs_data
@pytest.mark.parametrize("name", historic_files())
def test_historic_file_through_market_cache(name: str) -> None:
    cache = MarketCache()
    orders = OrderCache()
    mcm = 0
    for line in read_lines(HISTORIC / name):
        books = cache(line)
        orders(line)
        for book in books:
            check_integrity(book)
            assert book.is_valid
        if b'"mcm"' in line[:40]:
            mcm += 1
            assert books, "an mcm with market changes must report the markets it changed"
    if name.startswith(("CRICKET", "RACE", "sportsdata")):
        assert len(cache) == 0
    elif name.startswith("ORDER"):
        assert len(orders.markets) == 1
    else:
        assert mcm > 0 and len(cache) >= 1
        assert cache.changes >= mcm


def dumps(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)


def changed_view(books: list[MarketBook]) -> list[object]:
    return [
        (
            b.market_id,
            b.publish_time,
            b.conflated,
            b.total_matched,
            [
                [
                    r.selection_id,
                    r.handicap,
                    r.last_price_traded,
                    r.total_matched,
                    r.best_back(3),
                    r.best_lay(3),
                    repr(r.sp_near),
                    repr(r.sp_far),
                ]
                for r in b.changed_runners
            ],
        )
        for b in books
    ]


@needs_data
@pytest.mark.skipif(not core.COMPILED, reason="the compiled core is not in use")
@pytest.mark.parametrize("name", historic_files())
def test_compiled_fast_path_matches_the_full_path(name: str) -> None:
    """The compiled path for plain deltas gives what the full Python path gives, message by
    message (the changed runners' reads every message, whole snapshots every 250)."""
    fast, full = MarketCache(), MarketCache()
    full._deltas = full._line = None
    for i, line in enumerate(read_lines(HISTORIC / name)):
        a, b = fast(line), full(line)
        assert changed_view(a) == changed_view(b), (name, i)
        if i % 250 == 0:  # (compared as JSON: NaN never equals NaN)
            assert dumps([x.snapshot() for x in a]) == dumps([y.snapshot() for y in b]), (name, i)
    assert dumps([x.snapshot() for x in fast.markets.values()]) == dumps(
        [y.snapshot() for y in full.markets.values()]
    )
    assert (fast.messages, fast.changes, fast.publish_time) == (
        full.messages,
        full.changes,
        full.publish_time,
    )


@needs_data
def test_pro_file_final_state() -> None:
    """A golden check on the largest PRO file: the settled market as Betfair closed it."""
    path = HISTORIC / "bfparser-1.127236622.bz2"
    cache = MarketCache(evict_closed_after=10**9)
    peak = 0.0
    for line in read_lines(path):
        for book in cache(line):
            if book.traded_seen:
                assert book.total_matched == round(sum(r.total_matched for r in book.runners), 2)
            peak = max(peak, book.total_matched)
    book = cache["1.127236622"]
    assert book.status == "CLOSED"
    winners = [r.selection_id for r in book.runners if r.status == "WINNER"]
    assert len(winners) == 1
    # PRO totals are the traded ladder's sum, far above any single message's runner tv;
    # Betfair zeroes every traded price once the market is suspended for good
    assert peak == 443901.3
    assert book.total_matched == 0


def fixture_files() -> list[str]:
    if not FIXTURES.is_dir():
        return ["(none)"]
    return sorted(
        str(p.relative_to(FIXTURES))
        for p in FIXTURES.rglob("*")
        if p.suffix in (".json", ".ndjson", ".jsonl")
    )


@needs_data
@pytest.mark.parametrize("name", fixture_files())
def test_fixture_through_caches(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    if name.endswith((".ndjson", ".jsonl")):
        messages = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    else:
        decoded = orjson.loads(raw)
        messages = decoded if isinstance(decoded, list) else [decoded]
    markets, orders = MarketCache(), OrderCache()
    touched = 0
    for message in messages:
        for book in markets(message):
            # several fixtures are trimmed by hand (definitions cut to 3 runners)
            check_integrity(book, runner_set=False)
            touched += 1
        touched += len(orders(message))
    if any(isinstance(m, dict) and (m.get("mc") or m.get("oc")) for m in messages):
        assert touched > 0


@needs_data
@pytest.mark.skipif(not core.COMPILED, reason="the compiled core is not in use")
@pytest.mark.parametrize("name", historic_files())
def test_line_fast_path_takes_every_line_the_delta_path_takes(name: str) -> None:
    """``apply_line`` (bytes) takes every line ``apply_deltas`` (decoded) takes, and the
    definitions of known markets too: on Betfair's own files no plain delta is left to the
    slower decode by the scanner's limits."""
    by_line, by_dict = MarketCache(), MarketCache()
    assert core.apply_deltas is not None
    taken = [0, 0]
    definitions = 0
    for line in read_lines(HISTORIC / name):
        if by_line.apply_line(line) is not None:
            taken[0] += 1
            definitions += b'"marketDefinition"' in line or b'"img":true' in line
        else:
            by_line(line)
        m = orjson.loads(line)
        mcs = m.get("mc") if isinstance(m, dict) else None
        by_dict._stamp += 1
        if (
            mcs
            and not by_dict.stale
            and core.apply_deltas(by_dict.markets, m, mcs, by_dict._stamp) is not None
        ):
            taken[1] += 1
            by_dict.messages += 1
            by_dict.changes += len(mcs)
            by_dict.publish_time = m.get("pt", by_dict.publish_time)
        else:
            by_dict(m)
        assert taken[0] - definitions == taken[1], (name, line[:200])
    assert dumps([x.snapshot() for x in by_line.markets.values()]) == dumps(
        [y.snapshot() for y in by_dict.markets.values()]
    )


@needs_data
@pytest.mark.skipif(not core.COMPILED, reason="the compiled core is not in use")
@pytest.mark.parametrize("name", ["bfparser-1.127236622.bz2", "SELF-1.181223995"])
def test_idle_runs_of_lines_leave_the_cache_as_line_by_line(name: str) -> None:
    """apply_idle_lines over a whole file (its market idle until the time of its line at 80 %)
    gives the books and counts of applying every line alone; it stops at each definition
    and at the limit, handing that line back untouched."""
    lines = list(read_lines(HISTORIC / name))
    limit = orjson.loads(lines[len(lines) * 4 // 5])["pt"]
    bulk, alone = MarketCache(evict_closed_after=10**12), MarketCache(evict_closed_after=10**12)
    for line in lines:
        alone(line)
    idle: dict[str, float] = {}
    it = iter(lines)
    taken_total = stops = 0
    for line in it:
        taken, left = bulk.apply_idle_lines(line, it, idle)
        taken_total += taken
        if left is None:
            break
        stops += 1
        if taken:
            assert left is not line  # the first line left, after those taken
        bulk(left)
        if not idle:
            idle.update({mid: limit for mid in bulk.markets})
    assert taken_total > len(lines) // 2
    assert stops >= 1
    assert dumps([x.snapshot() for x in bulk.markets.values()]) == dumps(
        [y.snapshot() for y in alone.markets.values()]
    )
    assert (bulk.messages, bulk.changes, bulk.publish_time) == (
        alone.messages,
        alone.changes,
        alone.publish_time,
    )

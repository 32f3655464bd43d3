"""The compiled runner core (``_speedups``) against its pure-Python reference (``_pycore``).

Both get the same random runner changes; after every change list every read must agree. Also:
book copies (what queue and thread hooks get) and pickling.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams import FeedStats, Hook, Trade, Update, Updater
from marketstreams.exceptions import MalformedFrameError
from marketstreams.venues.betfair import MarketBook, MarketCache, core
from marketstreams.venues.betfair import _pycore as pycore

try:
    from marketstreams.venues.betfair import _speedups as ccore
except ImportError:  # pragma: no cover - only without a compiler
    ccore = None  # type: ignore[assignment]

needs_compiled = pytest.mark.skipif(
    ccore is None, reason="the compiled core is not built (pip install -e . with gcc)"
)


def test_compiled_core_is_built_and_used() -> None:
    if os.environ.get("MARKETSTREAMS_PURE_PYTHON", "") not in ("", "0"):
        assert core.COMPILED is False and core.RunnerCore is pycore.RunnerCore
        return
    # CI and `./dev` build the extension; falling back silently would hide a 2x slowdown.
    assert core.COMPILED, "marketstreams' compiled Betfair core is not built: pip install -e ."
    assert core.RunnerCore is ccore.RunnerCore


PRICES = [1.01, 1.5, 2.0, 2.02, 3, 3.05, 10.0, 1000]
SIZES = [0, 0, 0.01, 1.5, 2, 10.0, 250.75]

price_entry = st.tuples(st.sampled_from(PRICES), st.sampled_from(SIZES)).map(list)
level_entry = st.tuples(st.integers(0, 3), st.sampled_from(PRICES), st.sampled_from(SIZES)).map(
    list
)
price_ladder = st.lists(price_entry, max_size=5)
level_ladder = st.lists(level_entry, max_size=4)
scalar = st.one_of(st.none(), st.sampled_from(PRICES), st.just(12.5))
sp_value = st.one_of(st.sampled_from(PRICES), st.sampled_from(["NaN", "Infinity"]))

runner_change = st.fixed_dictionaries(
    {"id": st.sampled_from([1, 2, 3])},
    optional={
        "hc": st.sampled_from([0, 0.0, 0.5, -1.5]),
        "atb": price_ladder,
        "atl": price_ladder,
        "trd": price_ladder,
        "spb": price_ladder,
        "spl": price_ladder,
        "batb": level_ladder,
        "batl": level_ladder,
        "bdatb": level_ladder,
        "bdatl": level_ladder,
        "ltp": scalar,
        "tv": scalar,
        "spn": sp_value,
        "spf": sp_value,
        "unknown": st.just([1, 2]),
    },
)
steps = st.lists(
    st.tuples(st.lists(runner_change, max_size=4), st.booleans(), st.booleans()), max_size=25
)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def reads(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {f"best_back({n})": r.best_back(n) for n in (0, 1, 3, 10)} | {
        f"best_lay({n})": r.best_lay(n) for n in (0, 1, 3, 10)
    }
    out["full_depth"] = r.full_depth
    out["traded"] = r._traded()
    for kind in range(pycore.NLADDERS):
        out[f"ladder{kind}"] = r._ladder(kind)
    out["state"] = r._core_state()[4:]
    return out


@needs_compiled
@settings(max_examples=300, deadline=None)
@given(steps)
def test_compiled_core_matches_the_reference(
    plan: list[tuple[list[dict[str, Any]], bool, bool]],
) -> None:
    sides: list[tuple[Any, dict[Any, Any]]] = [(pycore, {}), (ccore, {})]
    for stamp, (rcs, read_between, read_full) in enumerate(plan):
        results = []
        for module, runners in sides:

            def add(
                sid: int, hc: float, module: Any = module, runners: dict[Any, Any] = runners
            ) -> Any:
                r = module.RunnerCore()
                runners[sid if not hc else (sid, hc)] = r
                return r

            changed: list[Any] = []
            flags = module.apply_changes(runners, rcs, stamp, changed, add)
            keys = {id(r): k for k, r in runners.items()}
            results.append((flags, [keys[id(r)] for r in changed]))
        assert results[0] == results[1]
        (_, py_runners), (_, c_runners) = sides
        assert py_runners.keys() == c_runners.keys()
        for key in py_runners:
            a, b = py_runners[key], c_runners[key]
            for name in ("last_price_traded", "tv", "sp_near", "sp_far"):
                assert same(getattr(a, name), getattr(b, name)), (key, name)
            if read_full:  # caches a full list on both: later best_n reads must still agree
                assert a.available_to_back == b.available_to_back
                assert a.available_to_lay == b.available_to_lay
            if read_between:
                ra, rb = reads(a), reads(b)
                assert ra.keys() == rb.keys()
                for name in ra:
                    if name == "traded" and ra[name] is not None:
                        assert rb[name] == pytest.approx(ra[name]), key
                    else:
                        assert ra[name] == rb[name], (key, name)


@needs_compiled
@pytest.mark.parametrize(
    "rc",
    [
        {"id": 1, "atb": [[1.5, 2, 3]]},  # entry of the wrong width
        {"id": 1, "batb": [[0, 1.5]]},
        {"id": 1, "atl": 5},  # ladder that is not a list
        {"id": 1, "trd": [["x", 1]]},  # not a number
        {"id": 1, "atb": [[True, 1]]},  # bools are not prices
        {"hc": 1},  # no id
    ],
)
def test_compiled_core_rejects_malformed_changes(rc: dict[str, Any]) -> None:
    runners: dict[Any, Any] = {}

    def add(sid: int, hc: float) -> Any:
        r = runners[sid] = ccore.RunnerCore()
        return r

    with pytest.raises((TypeError, ValueError, KeyError)):
        ccore.apply_changes(runners, [rc], 1, [], add)


@needs_compiled
def test_compiled_core_checks_what_add_runner_returns() -> None:
    with pytest.raises(TypeError, match="not a runner"):
        ccore.apply_changes({}, [{"id": 1}], 1, [], lambda sid, hc: object())
    with pytest.raises(TypeError, match="not a runner"):
        ccore.apply_changes({1: "x"}, [{"id": 1}], 1, [], lambda sid, hc: object())
    # a runner that add_runner does not keep is still applied (and reported) safely
    changed: list[Any] = []
    ccore.apply_changes(
        {}, [{"id": 1, "atb": [[2.0, 5]]}], 1, changed, lambda s, h: ccore.RunnerCore()
    )
    assert changed[0].best_back() == [(2.0, 5.0)]


IMAGE = (
    b'{"op":"mcm","pt":1000,"mc":[{"id":"1.5","img":true,"marketDefinition":{"status":"OPEN",'
    b'"inPlay":false,"runners":[{"id":7,"sortPriority":1,"status":"ACTIVE"},'
    b'{"id":8,"sortPriority":2,"status":"ACTIVE"}]},"rc":[{"id":7,"atb":[[2.0,10],[1.9,5]],'
    b'"atl":[[2.1,4]],"trd":[[2.0,3.5]],"ltp":2.0,"spn":"NaN"},{"id":8,"batb":[[0,3.0,1]]}]}]}'
)


def moved(price: float, size: float) -> bytes:
    return (
        b'{"op":"mcm","pt":2000,"mc":[{"id":"1.5","rc":[{"id":7,"atb":[[%r,%r]],"trd":[[2.0,9]]}]}]}'
        % (price, size)
    )


def test_book_copy_is_independent_and_reads_the_same() -> None:
    cache = MarketCache()
    (book,) = cache(IMAGE)
    twin = book.copy()
    assert isinstance(twin, MarketBook) and twin is not book
    assert twin.snapshot() == book.snapshot()
    assert [r.selection_id for r in twin.changed_runners] == [7, 8]
    assert twin.changed_runners[0] is twin.runner(7)  # the copy's own runners
    cache(moved(2.0, 0))
    assert book.runner(7).best_back(1) == [(1.9, 5)]
    assert twin.runner(7).best_back(1) == [(2.0, 10)]  # unchanged by later messages
    assert twin.total_matched == 3.5 and book.total_matched == 9
    assert math.isnan(twin.runner(7).sp.near)


def test_book_pickles() -> None:
    cache = MarketCache()
    (book,) = cache(IMAGE)
    back = pickle.loads(pickle.dumps(book))
    assert back.snapshot() == book.snapshot() | {"runners": back.snapshot()["runners"]}
    assert back.runners[0].snapshot()["available_to_back"] == [(2.0, 10), (1.9, 5)]
    assert back.runner(8).best_back(3) == [(3.0, 1)]


class CacheFeed:
    """A finite feed of Betfair messages through a MarketCache, as betfair.Feed hands them on."""

    venue = "betfair"

    def __init__(self, messages: list[bytes]) -> None:
        self.stats = FeedStats()
        self.messages = messages

    async def updates(self) -> AsyncIterator[Update]:
        cache = MarketCache()
        for message in self.messages:
            for book in cache(message):
                yield Update(book, [])
            await asyncio.sleep(0)


@pytest.mark.parametrize("kwargs", [{"policy": "queue"}, {"thread": True}])
async def test_queue_and_thread_hooks_get_frozen_betfair_books(kwargs: dict[str, Any]) -> None:
    # Regression: these hooks are handed book.copy(), which Betfair books did not have.
    seen: list[list[tuple[float, float]]] = []

    def hook(book: MarketBook, trades: list[Trade]) -> None:
        seen.append(book.runner(7).best_back(1))

    messages = [IMAGE] + [moved(2.0 + i / 100, 1 + i) for i in range(1, 20)]
    h = Hook(hook, maxsize=100, **kwargs) if "policy" in kwargs else Hook(hook, **kwargs)
    await Updater(CacheFeed(messages), hooks=[h]).run()
    assert h.stats.errors == 0
    if "policy" in kwargs:  # every update, each as it was at its own time
        assert seen == [[(2.0, 10)]] + [[(2.0 + i / 100, 1 + i)] for i in range(1, 20)]
    else:
        assert seen and seen[-1] == [(2.19, 20)]


definition = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["OPEN", "SUSPENDED", "CLOSED"]),
        "inPlay": st.booleans(),
        "runners": st.just([{"id": 1, "sortPriority": 1}, {"id": 2, "sortPriority": 2}]),
    }
)
market_change = st.fixed_dictionaries(
    {"id": st.sampled_from(["1.1", "1.2"])},
    optional={
        "rc": st.one_of(st.lists(runner_change, max_size=3), st.none()),
        "img": st.booleans(),
        "con": st.booleans(),
        "tv": st.one_of(st.none(), st.just(5.5)),
        "marketDefinition": definition,
    },
)
mcm = st.fixed_dictionaries(
    {"op": st.just("mcm"), "mc": st.lists(market_change, max_size=3)},
    optional={
        "pt": st.integers(1, 10**6),
        "ct": st.sampled_from(["SUB_IMAGE", "RESUB_DELTA", "HEARTBEAT"]),
        "status": st.just(503),
    },
)
broken = st.sampled_from(
    [
        {"op": "mcm", "mc": [{"id": "1.1", "rc": [{"id": 1, "atb": [[1.5, 2, 3]]}]}]},
        {"op": "mcm", "mc": [{"id": "1.2", "rc": [{"id": 2, "batl": None}]}]},
        {"op": "mcm", "mc": [{"id": "1.1", "rc": [[1, 2]]}]},
        {"op": "mcm", "mc": [{"id": "1.1", "rc": [{"id": 1, "atl": [["x", 1]]}]}]},
    ]
)


def runner_view(r: Any) -> list[object]:
    return [r.selection_id, r.handicap, r.available_to_back, r.available_to_lay, r.traded_volume]


def cache_view(cache: MarketCache) -> str:
    # A market a failed message named is invalid until its next image, its contents
    # unspecified (it may hold part of that message): only its validity is compared.
    markets = [
        [b.market_id, b.status, b.publish_time, b.is_valid, b.stale, b.conflated, b.tv]
        + [[*runner_view(r), r.total_matched, r.last_price_traded, r._stamp] for r in b.runners]
        if b.is_valid
        else [b.market_id, False]
        for b in cache.markets.values()
    ]
    return repr([markets, cache.messages, cache.changes, cache.publish_time, cache.repaired])


def three_caches() -> tuple[MarketCache, MarketCache, MarketCache]:
    """Caches that take a message three ways: compiled from the line's bytes (apply_line),
    compiled from the decoded message (apply_deltas), and all in Python."""
    line, fast, full = MarketCache(), MarketCache(), MarketCache()
    fast._line = None
    full._deltas = full._line = None
    assert line._line is not None and fast._deltas is not None
    return line, fast, full


def as_given(as_line: bool, m: dict[str, Any]) -> Any:
    """A fresh copy of ``m``: as JSON bytes for the line cache (when orjson reads them back as
    the same message: not integers beyond 64 bits), else as a dict."""
    if as_line:
        raw = json.dumps(m).encode()
        try:
            if json.dumps(orjson.loads(raw)) == raw.decode():  # (types compared too)
                return raw
        except orjson.JSONDecodeError:
            pass
    return pickle.loads(pickle.dumps(m))


@pytest.mark.skipif(not core.COMPILED, reason="the cache does not use the compiled core")
@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(mcm, broken), max_size=20))
def test_compiled_delta_path_matches_the_full_path(messages: list[dict[str, Any]]) -> None:
    line, fast, full = three_caches()
    for m in messages:
        outcomes = []
        for cache in (line, fast, full):
            try:
                books = cache(as_given(cache is line, m))  # each its own copy
                outcomes.append(
                    [(b.market_id, [r.selection_id for r in b.changed_runners]) for b in books]
                )
            except Exception as exc:  # both must fail alike
                outcomes.append(type(exc).__name__)
        assert outcomes[0] == outcomes[1] == outcomes[2], m
        assert cache_view(line) == cache_view(fast) == cache_view(full), m


json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
fuzzed_rc = (
    st.dictionaries(
        st.sampled_from(
            ["id", "hc", "atb", "atl", "trd", "batb", "bdatl", "spn", "ltp", "tv", "x"]
        ),
        json_value,
        max_size=5,
    )
    | runner_change
)
fuzzed_mc = st.fixed_dictionaries(
    {"id": st.sampled_from(["1.1", "1.2"]) | json_value},
    optional={
        "rc": st.lists(fuzzed_rc, max_size=3) | json_value,
        "con": json_value,
        "tv": json_value,
    },
)
fuzzed = st.fixed_dictionaries(
    {"op": st.just("mcm"), "mc": st.lists(fuzzed_mc, max_size=3)},
    optional={"pt": json_value, "ct": json_value},
)
image = {
    "op": "mcm",
    "mc": [
        {"id": mid, "img": True, "marketDefinition": {"status": "OPEN", "runners": [{"id": 1}]}}
        for mid in ("1.1", "1.2")
    ],
}


@pytest.mark.skipif(not core.COMPILED, reason="the cache does not use the compiled core")
@settings(max_examples=300, deadline=None)
@given(st.lists(fuzzed, min_size=1, max_size=8))
def test_compiled_delta_path_survives_arbitrary_values(messages: list[dict[str, Any]]) -> None:
    """Any JSON in any field: the compiled path raises what the Python path raises (or
    applies the same), and leaves the same books."""
    line, fast, full = three_caches()
    for m in [image, *messages]:
        outcomes = []
        for cache in (line, fast, full):
            try:
                books = cache(as_given(cache is line, m))
                outcomes.append([b.market_id for b in books])
            except MalformedFrameError:
                outcomes.append("malformed")
        assert outcomes[0] == outcomes[1] == outcomes[2], m
        assert cache_view(line) == cache_view(fast) == cache_view(full), m


LINES = [
    b'{"op":"mcm","clk":"AB","pt":1000,"mc":[{"id":"1.1","rc":[{"atb":[[2.5,10.25],[3,0]],'
    b'"trd":[[2.5,4.5]],"ltp":2.5,"tv":4.5,"id":1}],"con":true,"img":false,"tv":4.5}]}',
    b'{"op": "mcm", "pt": 1001, "ct": "HEARTBEAT", "mc": [{"id": "1.2", "tv": null, "rc": '
    b'[{"id": 1, "hc": -1.5, "batl": [[0, 1.01, 2], [1, 1.02, 0]], "spn": "NaN", "spf": 1e2},'
    b' {"id": 2, "trd": [], "x": {"y": [true, false, null, "z"]}}]}, {"id": "1.1", "rc": null}]}',
    b'{"mc":[{"rc":[{"spb":[[1.01,-0.0]],"spl":[[1000,12345678901234567]],"id":3}],"id":"1.1"}]}',
]


@pytest.mark.skipif(not core.COMPILED, reason="the cache does not use the compiled core")
@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(LINES),
    st.lists(
        st.tuples(
            st.integers(0, 240), st.sampled_from(list(b' ,:[]{}"0123456789.-eE+tnx\\\x01\xff'))
        ),
        max_size=3,
    ),
    st.lists(st.integers(0, 240), max_size=2),
)
def test_line_path_reads_mangled_bytes_as_the_full_path_does(
    line: bytes, edits: list[tuple[int, int]], cuts: list[int]
) -> None:
    """A line's bytes changed at random: apply_line applies what orjson reads and applies, and
    leaves every line orjson rejects (or that the scanner does not cover) to the full path."""
    raw = bytearray(line)
    for at, byte in edits:
        raw[at % len(raw)] = byte
    for at in cuts:
        del raw[at % max(len(raw), 1) : at % max(len(raw), 1) + 1]
    line_cache, _, full = three_caches()
    for cache in (line_cache, full):
        cache(LINES[0].replace(b'"rc"', b'"img":true,"marketDefinition":{"runners":[]},"rc"', 1))
        cache(LINES[0].replace(b'"1.1"', b'"1.2"').replace(b'"rc"', b'"img":true,"rc"', 1))
    outcomes = []
    for cache in (line_cache, full):
        try:
            outcomes.append([b.market_id for b in cache(bytes(raw))])
        except MalformedFrameError:
            outcomes.append(["malformed"])
    assert outcomes[0] == outcomes[1], bytes(raw)
    assert cache_view(line_cache) == cache_view(full), bytes(raw)


def _delta(mid: str, pt: int, size: float) -> bytes:
    return b'{"op":"mcm","pt":%d,"mc":[{"id":"%s","rc":[{"id":1,"atb":[[2.0,%s]]}]}]}' % (
        pt,
        mid.encode(),
        repr(size).encode(),
    )


@pytest.mark.skipif(not core.COMPILED, reason="the cache does not use the compiled core")
def test_idle_lines_stop_where_someone_waits() -> None:
    """apply_idle_lines takes plain deltas of idle markets before their limit, and hands back
    untouched the first line that is a definition, another market's, at the limit, malformed
    or for an invalid book."""
    cache = MarketCache()
    cache(LINES[0].replace(b'"rc"', b'"img":true,"marketDefinition":{"runners":[]},"rc"', 1))
    cache(LINES[0].replace(b'"1.1"', b'"1.2"').replace(b'"rc"', b'"img":true,"rc"', 1))
    idle = {"1.1": 2000.0}
    definition = LINES[0].replace(b'"rc"', b'"marketDefinition":{"status":"OPEN"},"rc"', 1)
    for stop in (
        definition,
        _delta("1.2", 1500, 1.0),
        _delta("1.1", 2000, 1.0),
        b'{"op":"mcm","pt":1500,"mc":[{"id":"1.1","rc":[{"id":1,"atb":[[2.0,1]]}]}',
        b"",
    ):
        run = [_delta("1.1", 1000 + i, 10.0 + i) for i in range(3)] + [stop, _delta("1.1", 1, 1)]
        it = iter(run)
        messages = cache.messages
        taken, left = cache.apply_idle_lines(next(it), it, idle)
        assert (taken, left) == (3, stop)
        assert cache.messages == messages + 3 and cache.publish_time == 1002
        assert cache["1.1"].runner(1).available_to_back == [(2.5, 10.25), (2.0, 12.0)]
        assert next(it) == _delta("1.1", 1, 1)  # nothing read past the line handed back
    it = iter([_delta("1.1", 1500, 3.0)])
    assert cache.apply_idle_lines(_delta("1.1", 1400, 4.0), it, idle) == (2, None)
    cache.invalidate("a test")
    line = _delta("1.1", 1500, 5.0)
    assert cache.apply_idle_lines(line, iter([]), idle) == (0, line)
    assert cache.apply_idle_lines(line, iter([]), {}) == (0, line)

"""MarketCache / OrderCache, one case per fixture (fixtures/ are small hand-made messages)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from marketstreams.exceptions import MalformedFrameError, ProtocolError
from marketstreams.models import Book
from marketstreams.venues.betfair import MarketBook, MarketCache, OrderCache

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def image_cache() -> tuple[MarketCache, MarketBook]:
    cache = MarketCache()
    (book,) = cache(fixture("mcm_SUB_IMAGE.json"))
    return cache, book


def test_sub_image_builds_sorted_ladders_in_sort_priority_order() -> None:
    _, book = image_cache()
    as_book: Book = book  # the common Book protocol (checked by mypy)
    assert as_book.is_valid
    assert (book.venue, book.market, book.market_id) == ("betfair", "1.100", "1.100")
    assert book.is_valid and book.status == "OPEN" and book.inplay is False
    assert book.publish_time == 1700000000000
    assert [r.selection_id for r in book.runners] == [11, 22]
    r = book.runner(11)
    assert r.available_to_back == [(2.02, 5), (2.0, 10), (1.99, 3)]
    assert r.available_to_lay == [(2.04, 7), (2.06, 4), (2.1, 1)]
    assert r.best_back(2) == [(2.02, 5), (2.0, 10)]
    assert r.best_lay(1) == [(2.04, 7)]
    assert r.traded_volume == [(2.02, 5), (2.04, 2.5)]
    assert r.last_price_traded == 2.04
    assert r.total_matched == 7.5
    assert r.status == "ACTIVE" and r.adjustment_factor == 60.0
    assert book.total_matched == 12.5
    assert book.version == 10


def test_delta_replaces_removes_and_adds_prices() -> None:
    cache, book = image_cache()
    r = book.runner(11)
    assert r.best_back(1) == [(2.02, 5)]  # read before the delta: caches must be invalidated
    assert cache(fixture("mcm_UPDATE.json")) == [book]
    assert r.available_to_back == [(2.03, 8), (2.0, 10), (1.99, 3)]
    assert r.best_back(3) == [(2.03, 8), (2.0, 10), (1.99, 3)]
    assert r.available_to_lay == [(2.06, 4), (2.1, 1)]
    assert r.last_price_traded == 2.03
    assert r.traded_volume == [(2.02, 5), (2.03, 1), (2.04, 2.5)]
    assert r.total_matched == 8.5
    assert book.total_matched == 13.5


def test_size_only_change_updates_cached_reads() -> None:
    cache, book = image_cache()
    r = book.runner(11)
    assert r.available_to_back[0] == (2.02, 5)
    cache({"op": "mcm", "pt": 1, "mc": [{"id": "1.100", "rc": [{"id": 11, "atb": [[2.02, 9]]}]}]})
    assert r.available_to_back[0] == (2.02, 9)
    assert r.best_back(1) == [(2.02, 9)]


def test_pro_file_duplicate_runner_entries_merge_and_totals_come_from_traded() -> None:
    cache, book = image_cache()
    (same,) = cache(fixture("mcm_PRO_duplicate_rc.json"))
    assert same is book
    r = book.runner(11)
    # the rc tv (2) covers this message only: the total is the traded ladder's sum
    assert r.traded_volume == [(2.02, 5), (2.03, 2), (2.04, 2.5)]
    assert r.total_matched == 9.5
    assert r.sp.near is not None and math.isnan(r.sp.near)
    assert r.sp.far == math.inf
    # the second entry for runner 11 did not wipe the first one's data
    assert r.last_price_traded == 2.03
    assert book.runner(22).total_matched == 6
    assert book.total_matched == 15.5
    assert book.conflated is True
    assert len(book.runners) == 2


def test_tv_zero_is_kept_and_level_ladders_fall_back() -> None:
    cache = MarketCache()
    (book,) = cache(fixture("mcm_best_offers.json"))
    r = book.runner(5)
    assert r.full_depth is False
    assert r.total_matched == 0
    assert r.tv == 0
    assert r.available_to_back == [(1.5, 10), (1.49, 20), (1.48, 30)]
    assert r.best_available_to_lay == [(1.52, 5), (1.53, 6)]
    assert r.best_display_available_to_back == [(1.51, 3)]
    assert r.best_back(2) == [(1.5, 10), (1.49, 20)]
    cache({"op": "mcm", "pt": 2, "mc": [{"id": "1.200", "rc": [{"id": 5, "batb": [[1, 0, 0]]}]}]})
    assert r.available_to_back == [(1.5, 10), (1.48, 30)]
    assert book.runner(6).status == "REMOVED"
    offers = book.best_offers
    assert offers.shape == (2, 2, 3, 2)
    assert offers[0, 0, 0].tolist() == [1.5, 10]
    assert offers[0, 1, 1].tolist() == [1.53, 6]
    assert np.isnan(offers[1]).all()
    display = book.best_display_array(levels=1)
    assert display.shape == (2, 2, 1, 2) and display[0, 1, 0].tolist() == [1.52, 9]


def test_first_sight_without_image_creates_the_market() -> None:
    cache = MarketCache()
    books = cache(fixture("mcm_UPDATE.json"))
    assert [b.market_id for b in books] == ["1.100"]
    assert books[0].runner(11).available_to_back == [(2.03, 8)]
    assert books[0].is_valid


def test_image_mid_stream_replaces_market_data() -> None:
    cache, book = image_cache()
    cache(
        {
            "op": "mcm",
            "pt": 5,
            "mc": [{"id": "1.100", "img": True, "rc": [{"id": 11, "atb": [[5.0, 1]]}]}],
        }
    )
    r = book.runner(11)
    assert r.available_to_back == [(5.0, 1)]
    assert r.available_to_lay == []
    assert r.traded_volume == [] and r.total_matched == 0
    assert book.runner(22).available_to_back == []
    assert book.status == "OPEN"  # the definition is kept until a new one arrives


def test_definition_adds_runners_and_null_clock_and_unknown_fields_are_tolerated() -> None:
    cache, book = image_cache()
    cache(
        b'{"op":"mcm","clk":null,"_stream_id":7,"pt":9,"mc":[{"id":"1.100","name":"x",'
        b'"marketDefinition":{"status":"SUSPENDED","inPlay":true,"eventName":"e","runners":['
        b'{"id":11,"sortPriority":3,"status":"ACTIVE","name":"a"},'
        b'{"id":22,"sortPriority":1,"status":"ACTIVE"},'
        b'{"id":33,"sortPriority":2,"status":"ACTIVE"}]},'
        b'"rc":[{"id":33,"atl":[[9.0,2]],"zz":1}]}]}'
    )
    assert book.status == "SUSPENDED" and book.inplay is True
    assert [r.selection_id for r in book.runners] == [22, 33, 11]
    assert book.runner(33).available_to_lay == [(9.0, 2)]


def test_inputs_bytes_str_and_dict_are_equivalent() -> None:
    raw = fixture("mcm_SUB_IMAGE.json")
    snaps = []
    for message in (raw, raw.decode(), orjson.loads(raw), bytearray(raw)):
        (book,) = MarketCache()(message)
        snaps.append(book.snapshot())
    assert all(s == snaps[0] for s in snaps)


def test_status_503_marks_stale_until_a_normal_message() -> None:
    cache, book = image_cache()
    assert cache(fixture("mcm_503.json")) == [book]
    assert book.stale and cache.stale
    cache(fixture("mcm_UPDATE.json"))
    assert not book.stale


def test_handicap_runners_are_keyed_by_selection_and_handicap() -> None:
    cache = MarketCache()
    (book,) = cache(
        {
            "op": "mcm",
            "pt": 1,
            "mc": [
                {
                    "id": "1.300",
                    "img": True,
                    "rc": [
                        {"id": 7, "hc": -1.5, "atb": [[1.9, 3]]},
                        {"id": 7, "hc": 1.5, "atb": [[2.1, 4]]},
                        {"id": 7, "hc": 0, "atb": [[2.0, 5]]},
                    ],
                }
            ],
        }
    )
    assert book.runner(7, -1.5).best_back() == [(1.9, 3)]
    assert book.runner(7, 1.5).best_back() == [(2.1, 4)]
    assert book.runner(7).best_back() == [(2.0, 5)]
    assert len(book.runners) == 3


def test_other_ops_change_nothing() -> None:
    cache = MarketCache()
    assert cache(b'{"op":"connection","connectionId":"x"}') == []
    assert cache(b'{"op":"ocm","oc":[{"id":"1.1"}]}') == []
    assert cache(b'{"op":"rcm","rc":[]}') == []
    assert len(cache) == 0


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1,2]", b'{"op":"mcm","mc":[{"rc":[]}]}', b'{"op":"mcm","mc":"x"}'],
)
def test_malformed_messages_raise_with_an_excerpt(raw: bytes) -> None:
    with pytest.raises(MalformedFrameError) as info:
        MarketCache()(raw)
    assert isinstance(info.value, ProtocolError)
    assert info.value.frame is not None and info.value.frame[:5] == raw.decode()[:5]


def test_closed_markets_are_evicted_after_the_delay() -> None:
    cache = MarketCache(evict_closed_after=60)
    cache(fixture("mcm_SUB_IMAGE.json"))
    closed_at = 1700000100000
    cache(
        {
            "op": "mcm",
            "pt": closed_at,
            "mc": [{"id": "1.100", "marketDefinition": {"status": "CLOSED", "runners": []}}],
        }
    )
    cache({"op": "mcm", "pt": closed_at + 30_000, "mc": [{"id": "1.999", "rc": []}]})
    assert "1.100" in cache
    cache({"op": "mcm", "pt": closed_at + 61_000, "mc": [{"id": "1.999", "rc": []}]})
    assert "1.100" not in cache and "1.999" in cache


def test_invalidate_and_mark_valid() -> None:
    cache, book = image_cache()
    assert cache.invalidate("connection lost") == [book]
    assert not book.is_valid and book.invalid_reason == "connection lost"
    assert cache.mark_valid() == [book]
    assert book.is_valid
    assert "valid" in repr(book)


def test_snapshot_is_independent() -> None:
    cache, book = image_cache()
    snap = book.snapshot()
    cache(fixture("mcm_UPDATE.json"))
    assert snap["runners"][0]["available_to_back"][0] == (2.02, 5)
    assert book.snapshot()["runners"][0]["available_to_back"][0] == (2.03, 8)


# -- order cache ----------------------------------------------------------------------------


def test_order_image_then_fill() -> None:
    cache = OrderCache()
    (market,) = cache(fixture("ocm_SUB_IMAGE.json"))
    assert (market.venue, market.market, market.market_id) == ("betfair", "1.100:orders", "1.100")
    assert market.account_id == 99
    runner = market.runners[(11, 0.0)]
    order = runner.orders["b1"]
    assert (order.side, order.price, order.size, order.status) == ("B", 2.0, 10, "E")
    assert order.customer_strategy_ref == "s1"
    assert runner.matched_backs == {2.1: 4}
    assert runner.strategy_matches["s1"]["mb"] == {2.1: 4}

    (same,) = cache(fixture("ocm_FILLED.json"))
    assert same is market
    assert order.status == "EC" and order.size_matched == 10 and order.average_price_matched == 2.0
    assert order.execution_complete
    assert runner.matched_backs == {2.1: 4, 2.0: 10}
    assert runner.strategy_matches["s1"]["mb"] == {2.1: 4, 2.0: 10}
    assert market.orders == [order]


def test_runner_full_image_replaces_the_runner_and_completed_orders_expire() -> None:
    cache = OrderCache(keep_complete_orders=60)
    cache(fixture("ocm_SUB_IMAGE.json"))
    cache(fixture("ocm_FILLED.json"))
    later = 1700000005000 + 61_000
    cache(
        {"op": "ocm", "pt": later, "oc": [{"id": "1.100", "orc": [{"id": 11, "ml": [[3.0, 1]]}]}]}
    )
    runner = cache["1.100"].runners[(11, 0.0)]
    assert "b1" not in runner.orders  # execution complete for longer than 60 s
    assert runner.matched_lays == {3.0: 1}
    cache(
        {"op": "ocm", "pt": later, "oc": [{"id": "1.100", "orc": [{"id": 11, "fullImage": True}]}]}
    )
    assert cache["1.100"].runners[(11, 0.0)].matched_lays == {}


def test_order_market_closed_is_evicted() -> None:
    cache = OrderCache(evict_closed_after=10)
    cache(fixture("ocm_SUB_IMAGE.json"))
    cache({"op": "ocm", "pt": 1700000020000, "oc": [{"id": "1.100", "closed": True}]})
    assert cache["1.100"].closed
    cache({"op": "ocm", "pt": 1700000040000, "ct": "HEARTBEAT"})
    assert len(cache) == 0


def _orders_after(messages: list[dict[str, Any]]) -> OrderCache:
    cache = OrderCache()
    for m in messages:
        cache(m)
    return cache


def test_order_cache_ignores_market_messages() -> None:
    cache = _orders_after([orjson.loads(fixture("mcm_SUB_IMAGE.json"))])
    assert len(cache) == 0


def test_null_ladders_and_malformed_entries_are_repaired_not_fatal() -> None:
    cache = MarketCache()
    (book,) = cache(
        b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","con":null,"rc":[{"id":1,"atb":null,'
        b'"atl":[[0,2.5,3],[2.6,4],[1]],"batb":[[0,1.5]],"ltp":null},"junk"]}]}'
    )
    r = book.runner(1)
    assert r.available_to_lay == [(2.5, 3), (2.6, 4)]
    assert r.best_available_to_back == []
    assert cache.repaired == 1 and cache.messages == 1 and cache.changes == 1


def test_partial_best_reads_then_full_reads_agree() -> None:
    cache, book = image_cache()
    r = book.runner(11)
    cache(fixture("mcm_UPDATE.json"))
    assert r.best_back(1) == [(2.03, 8)]  # only the best level read
    assert r.best_back(2) == [(2.03, 8), (2.0, 10)]  # more levels than cached: read again
    assert r.available_to_back == [(2.03, 8), (2.0, 10), (1.99, 3)]  # the whole ladder
    assert r.best_lay(5) == [(2.06, 4), (2.1, 1)]  # fewer than asked: the whole side
    assert r.available_to_lay == [(2.06, 4), (2.1, 1)]


def test_a_change_that_cannot_be_applied_invalidates_until_the_next_image() -> None:
    from marketstreams.exceptions import MalformedFrameError
    from marketstreams.venues.betfair import MarketCache

    cache = MarketCache()
    cache(b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"atb":[[2.0,5]]}]}]}')
    bad = b'{"op":"mcm","pt":2,"mc":[{"id":"1.1","rc":[{"id":1,"atb":[[2.2,3]]},{"id":2,"spn":"abc"}]}]}'
    with pytest.raises(MalformedFrameError):  # raised once, no recursion
        cache(bad)
    assert not cache["1.1"].is_valid and "could not be applied" in (
        cache["1.1"].invalid_reason or ""
    )
    cache(b'{"op":"mcm","pt":3,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"atb":[[2.0,5]]}]}]}')
    assert cache["1.1"].is_valid
    assert cache["1.1"].runners[0].best_back(1) == [(2.0, 5)]


def test_a_repaired_message_lists_every_runner_it_changed() -> None:
    # Regression: the first, failed attempt stamped runner 1, and the repaired retry reused
    # that stamp, so runner 1 was missing from changed_runners although its offers changed.
    cache = MarketCache()
    cache(b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","img":true,"rc":[{"id":1},{"id":2}]}]}')
    message = {
        "op": "mcm",
        "pt": 2,
        "mc": [{"id": "1.1", "rc": [{"id": 1, "atb": [[3.0, 10.0]]}, {"id": 2, "atl": None}]}],
    }
    (book,) = cache(message)
    assert cache.repaired == 1
    assert book.runner(1).available_to_back == [(3.0, 10.0)]
    assert [r.selection_id for r in book.changed_runners] == [1, 2]


@pytest.mark.parametrize(
    "entries",
    [
        [[1.5, "x"]],  # not a number
        {"1.5": 2},  # not a list of entries
        [[True, 2]],  # bools are not prices
        ["ab"],  # a string is not an entry
        [[float("nan"), 0]],  # NaN would match any price
        [[float("inf"), 2]],
        [[10**400, 2]],  # too big for a price
    ],
)
def test_garbage_ladder_entries_are_dropped_not_stored(entries: object) -> None:
    # (dict messages can carry what JSON cannot: the same rules hold for both cores)
    cache = MarketCache()
    cache(b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"atb":[[2.0,5]]}]}]}')
    (book,) = cache(
        {"op": "mcm", "pt": 2, "mc": [{"id": "1.1", "rc": [{"id": 1, "atb": entries}]}]}
    )
    assert book.runner(1).available_to_back == [(2.0, 5)]
    assert cache.repaired == 1


def test_trd_null_does_not_clear_the_traded_ladder() -> None:
    cache = MarketCache()
    cache(b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","img":true,"rc":[{"id":1,"trd":[[2.0,7]]}]}]}')
    (book,) = cache(b'{"op":"mcm","pt":2,"mc":[{"id":"1.1","rc":[{"id":1,"trd":null}]}]}')
    assert book.runner(1).traded_volume == [(2.0, 7)] and book.runner(1).total_matched == 7
    (book,) = cache(b'{"op":"mcm","pt":3,"mc":[{"id":"1.1","rc":[{"id":1,"trd":[]}]}]}')
    assert book.runner(1).traded_volume == [] and book.runner(1).total_matched == 0

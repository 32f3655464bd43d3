from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams import OrderBook
from marketstreams import book as book_module


def make_book() -> OrderBook:
    book = OrderBook("test", "XBTZAR")
    for price, vol in [(100, 1), (99, 2), (98, 3)]:
        book.set_level("bid", Decimal(price), Decimal(vol))
    for price, vol in [(101, 4), (102, 5), (103, 6)]:
        book.set_level("ask", Decimal(price), Decimal(vol))
    return book


def test_best_and_depth_order() -> None:
    book = make_book()
    assert book.best_bid() == (100, 1)
    assert book.best_ask() == (101, 4)
    assert book.spread() == 1
    assert book.depth() == {
        "bids": [[100, 1], [99, 2], [98, 3]],
        "asks": [[101, 4], [102, 5], [103, 6]],
    }
    assert book.depth(2) == {"bids": [[100, 1], [99, 2]], "asks": [[101, 4], [102, 5]]}
    assert book.depth(10)["bids"][-1] == [98, 3]


def test_empty_book_reads() -> None:
    book = OrderBook("test", "X")
    assert book.best_bid() is None and book.best_ask() is None and book.spread() is None
    assert book.depth() == {"bids": [], "asks": []}
    assert not book.is_valid and book.invalid_reason == "no snapshot yet"
    assert np.isnan(book.to_numpy(3)).all()


def test_set_zero_and_add_volume_remove_levels() -> None:
    book = make_book()
    book.set_level("bid", Decimal(100), Decimal(0))
    assert book.best_bid() == (99, 2)
    assert book.add_volume("ask", Decimal(101), Decimal(-4)) == 0
    assert book.best_ask() == (102, 5)
    assert book.add_volume("ask", Decimal(110), Decimal("0.5")) == Decimal("0.5")
    assert book.asks[Decimal(110)] == Decimal("0.5")
    with pytest.raises(ValueError, match="side must be"):
        book.set_level("buy", 1, 1)  # type: ignore[arg-type]


def test_crossed_detection() -> None:
    book = make_book()
    assert not book.is_crossed
    book.set_level("bid", Decimal(101), Decimal(1))
    assert book.is_crossed


def test_to_numpy_shape_and_padding() -> None:
    arr = make_book().to_numpy(4)
    assert arr.shape == (2, 4, 2)
    assert arr[0, 0].tolist() == [100.0, 1.0]
    assert arr[1, 2].tolist() == [103.0, 6.0]
    assert np.isnan(arr[0, 3]).all() and np.isnan(arr[1, 3]).all()


def test_copy_is_independent() -> None:
    book = make_book()
    book.mark_valid()
    book.sequence = 7
    other = book.copy()
    book.set_level("bid", Decimal(100), Decimal(0))
    assert other.best_bid() == (100, 1) and other.sequence == 7 and other.is_valid
    assert "XBTZAR" in repr(other)


def test_top_reads_do_not_touch_the_whole_book() -> None:
    """Reading the top N walks N keys: a SortedDict whose deep keys raise proves it."""
    book = OrderBook("test", "X")
    for i in range(10_000):
        book.set_level("bid", i, 1)
        book.set_level("ask", 20_000 + i, 1)
    calls = 0
    original = book.bids.__getitem__

    class Counting(type(book.bids)):  # type: ignore[misc]
        def __getitem__(self, key: object) -> object:
            nonlocal calls
            calls += 1
            return original(key)

    counting = Counting(book.bids)
    book.bids = counting
    assert book.depth(10)["bids"][0] == [9999, 1]
    assert calls == 10


# -- property test against a naive reference ----------------------------------------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "trade", "delete"]),
        st.sampled_from(["bid", "ask"]),
        st.integers(min_value=1, max_value=30),  # price
        st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("5"), places=6),
        st.integers(min_value=0, max_value=50),  # which order
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(ops)
def test_levels_equal_naive_reference(operations: list[tuple[str, str, int, Decimal, int]]) -> None:
    book = OrderBook("test", "X")
    orders: dict[int, list[object]] = {}
    next_id = 0
    for op, side, price, volume, pick in operations:
        if op == "create":
            orders[next_id] = [side, Decimal(price), volume]
            book.add_volume(side, Decimal(price), volume)  # type: ignore[arg-type]
            next_id += 1
        elif orders:
            oid = sorted(orders)[pick % len(orders)]
            o_side, o_price, o_vol = orders[oid]
            if op == "delete":
                del orders[oid]
                book.add_volume(o_side, o_price, -o_vol)  # type: ignore[arg-type]
            else:  # a trade takes part (or all) of the order
                take = min(o_vol, volume)  # type: ignore[type-var]
                orders[oid][2] = o_vol - take  # type: ignore[operator]
                book.add_volume(o_side, o_price, -take)  # type: ignore[arg-type, operator]
                if orders[oid][2] == 0:
                    del orders[oid]
    reference: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "ask": {}}
    for o_side, o_price, o_vol in orders.values():
        levels = reference[o_side]  # type: ignore[index]
        levels[o_price] = levels.get(o_price, Decimal(0)) + o_vol  # type: ignore[index, operator]
    expected = {
        "bids": [[p, v] for p, v in sorted(reference["bid"].items(), reverse=True)],
        "asks": [[p, v] for p, v in sorted(reference["ask"].items())],
    }
    assert book.depth() == expected


# -- the top reads: sortedcontainers' sublists and peekitem give the same answers -------------

READS = [
    (book_module._fast_best_prices, book_module._public_best_prices),
    (book_module._fast_best_bid, book_module._public_best_bid),
    (book_module._fast_best_ask, book_module._public_best_ask),
    (book_module._fast_is_crossed, book_module._public_is_crossed),
]


def test_this_sortedcontainers_takes_the_fast_top_reads() -> None:
    """The installed sortedcontainers keeps the layout the fast reads expect: OrderBook uses
    them (a new layout would fall back to peekitem, and this test says so)."""
    assert book_module.FAST_ENDS
    assert OrderBook.best_prices is book_module._fast_best_prices


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["bid", "ask"]),
            st.integers(min_value=0, max_value=6_000),  # price: thousands of levels, sublists
            st.integers(min_value=0, max_value=3),  # volume (0 removes the level)
        ),
        min_size=1,
        max_size=3_000,
    )
)
def test_top_reads_agree_with_a_sorted_reference(ops: list[tuple[str, int, int]]) -> None:
    book = OrderBook("test", "X")
    # a deep starting book, so that the sides span several of sortedcontainers' sublists
    reference: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}
    for price in range(0, 6_000, 2):
        book.set_level("bid", price, 1)
        book.set_level("ask", price + 1, 1)
        reference["bid"][price] = reference["ask"][price + 1] = 1
    for i, (side, price, volume) in enumerate(ops):
        book.set_level(side, price, volume)  # type: ignore[arg-type]
        if volume > 0:
            reference[side][price] = volume
        else:
            reference[side].pop(price, None)
        if i % 97 and i != len(ops) - 1:
            continue
        bid = max(reference["bid"], default=None)
        ask = min(reference["ask"], default=None)
        expected = [
            (bid, ask),
            None if bid is None else (bid, reference["bid"][bid]),
            None if ask is None else (ask, reference["ask"][ask]),
            bid is not None and ask is not None and bid >= ask,
        ]
        for (fast, public), want in zip(READS, expected, strict=True):
            assert fast(book) == want
            assert public(book) == want


def test_top_reads_on_emptied_sides() -> None:
    book = OrderBook("test", "X")
    for price in range(3_000):
        book.set_level("bid", price, 1)
    for price in range(3_000):
        book.set_level("bid", price, 0)
    for fast, public in READS:
        assert fast(book) == public(book)
    assert book.best_prices() == (None, None) and not book.is_crossed

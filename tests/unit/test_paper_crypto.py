"""The crypto paper-matching core on literal books and trades: one test per rule."""

from __future__ import annotations

import gc
import weakref
from decimal import Decimal as D
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams.book import LevelWatch, OrderBook
from marketstreams.models import Trade
from marketstreams.simulation.crypto import CryptoMatcher, Fees, Position
from marketstreams.venues.bitmex import BitmexProtocol
from marketstreams.venues.luno.protocol import LunoBook


def level_book(bids: dict[float, float], asks: dict[float, float]) -> OrderBook:
    book = OrderBook("bitmex", "XBTUSD")
    book.bids.update(bids)
    book.asks.update(asks)
    book.mark_valid()
    book.timestamp = 1000
    return book


def luno_book(orders: list[tuple[str, str, str, str]]) -> LunoBook:
    """orders: (id, side, price, volume) in arrival order."""
    book = LunoBook("luno", "XBTZAR")
    for oid, side, price, volume in orders:
        book.orders[oid] = [side, D(price), D(volume)]
        book.add_volume(side, D(price), D(volume))  # type: ignore[arg-type]
    book.mark_valid()
    book.timestamp = 1000
    return book


def luno_trade(book: LunoBook, maker: str, base: str) -> Trade:
    """Apply a trade to the order-level book as the protocol does, and return it."""
    side, price, volume = book.orders[maker]
    volume -= D(base)
    book.add_volume(side, price, -D(base))
    if volume == 0:
        del book.orders[maker]
    else:
        book.orders[maker][2] = volume
    taker = "buy" if side == "ask" else "sell"
    return Trade("luno", "XBTZAR", taker, price, D(base), maker_order_id=maker, timestamp=2000)


def bitmex_trade(taker: str, price: float, size: float) -> Trade:
    return Trade("bitmex", "XBTUSD", taker, price, size, timestamp=2000)


def set_level(book: OrderBook, side: Any, price: float, size: float) -> None:
    book.set_level(side, price, size)


# -- placement -------------------------------------------------------------------------------


def test_marketable_limit_crosses_levels_as_taker_and_rests_the_rest() -> None:
    book = level_book({99.0: 5}, {100.0: 2, 101.0: 3, 103.0: 10})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(maker=0.0, taker=0.001))
    o = m.place("s", book, "buy", 7, 101.0)
    assert o.filled == 5 and o.average_price == pytest.approx((2 * 100 + 3 * 101) / 5)
    assert [f.liquidity for f in o.fills] == ["taker", "taker"]
    assert o.fees == pytest.approx((200 + 303) * 0.001)
    assert o.status == "open" and o.remaining == 2 and o in m.open
    assert o.queue_ahead == 0  # no bids at 101


def test_market_order_walks_the_book_and_cancels_what_is_left() -> None:
    book = level_book({99.0: 1, 98.0: 1}, {100.0: 1})
    m = CryptoMatcher("bitmex", "XBTUSDT")
    o = m.place("s", book, "sell", 5, order_type="market")
    assert o.filled == 2 and o.average_price == 98.5
    assert o.status == "cancelled" and o not in m.open


@pytest.mark.parametrize(
    ("side", "size", "price", "kind", "valid", "why"),
    [
        ("buy", 1, 100.0, "limit", False, "book invalid"),
        ("hold", 1, 100.0, "limit", True, "side must be"),
        ("buy", 0, 100.0, "limit", True, "size must be positive"),
        ("buy", 1, -1.0, "limit", True, "positive price"),
        ("buy", 1, None, "stop", True, "order_type"),
        ("buy", "x", 100.0, "limit", True, "bad number"),
        ("buy", 1, float("nan"), "limit", True, "bad number"),
        ("buy", float("inf"), 100.0, "limit", True, "bad number"),
    ],
)
def test_bad_orders_are_rejected_with_a_reason(
    side: str, size: Any, price: Any, kind: str, valid: bool, why: str
) -> None:
    book = level_book({99.0: 1}, {101.0: 1})
    if not valid:
        book.invalidate("gap")
    m = CryptoMatcher("bitmex", "XBTUSDT")
    o = m.place("s", book, side, size, price, kind)
    assert o.status == "rejected" and why in (o.reason or "")
    assert m.open == [] and o in m.orders


def test_market_order_on_an_empty_side_is_rejected() -> None:
    m = CryptoMatcher("bitmex", "XBTUSDT")
    o = m.place("s", level_book({99.0: 1}, {}), "buy", 1, order_type="market")
    assert o.status == "rejected" and "no liquidity" in (o.reason or "")


# -- Luno: the exact queue ----------------------------------------------------------------------


def test_luno_order_waits_behind_the_exact_orders_at_its_price() -> None:
    book = luno_book([("A", "bid", "100", "1"), ("B", "bid", "100", "2"), ("X", "ask", "101", "5")])
    m = CryptoMatcher("luno", "XBTZAR", Fees(maker=0, taker=0))
    o = m.place("s", book, "buy", "1.5", "100")
    assert o.queue_ahead == D(3) and [i for i, _ in m.ahead(o, book)] == ["A", "B"]
    book.orders["C"] = ["bid", D(100), D(4)]  # arrives behind us
    book.add_volume("bid", D(100), D(4))
    assert m.update(book, [luno_trade(book, "A", "1")]) == []
    assert m.queue(o, book) == D(2) and o.filled == 0
    assert m.update(book, [luno_trade(book, "B", "0.5")]) == []
    assert m.queue(o, book) == D("1.5")


def test_luno_trade_against_an_order_behind_us_fills_us() -> None:
    book = luno_book([("A", "bid", "100", "1")])
    m = CryptoMatcher("luno", "XBTZAR", Fees(maker=D("0.001"), taker=0))  # type: ignore[arg-type]
    o = m.place("s", book, "buy", "2", "100")
    book.orders["C"] = ["bid", D(100), D(4)]
    book.add_volume("bid", D(100), D(4))
    # a taker sells 1 (all of A, ahead) then 1.5 from C (behind us): ours in a true FIFO
    changed = m.update(book, [luno_trade(book, "A", "1"), luno_trade(book, "C", "1.5")])
    assert changed == [o]
    assert o.filled == D("1.5") and o.average_price == D(100) and o.fills[0].liquidity == "maker"
    assert o.fees == D("0.15")
    assert m.update(book, [luno_trade(book, "C", "2.5")]) == [o]
    assert o.filled == D(2) and o.status == "filled" and m.open == []


def test_luno_deleted_orders_ahead_leave_the_queue() -> None:
    book = luno_book([("A", "ask", "100", "1"), ("B", "ask", "100", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "sell", "1", "100")
    gone = book.orders.pop("A")
    book.add_volume("ask", gone[1], -gone[2])
    m.update(book, [])
    assert m.queue(o, book) == D(1) and m.ahead(o, book) == [("B", D(1))]


def test_luno_a_trade_at_a_worse_price_fills_us_whole() -> None:
    book = luno_book([("A", "bid", "100", "1"), ("B", "bid", "99", "5")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "buy", "3", "100")
    # A taker sweeps: A (ahead), then B at 99: below our bid, so we would have been hit first.
    m.update(book, [luno_trade(book, "A", "1"), luno_trade(book, "B", "2")])
    assert o.filled == D(2)
    # a better price than ours trading fills nothing
    book2 = luno_book([("A", "bid", "101", "1")])
    m2 = CryptoMatcher("luno", "XBTZAR")
    o2 = m2.place("s", book2, "buy", "3", "100")
    m2.update(book2, [luno_trade(book2, "A", "1")])
    assert o2.filled == 0


def test_two_paper_orders_share_a_trade_in_price_time_priority() -> None:
    book = luno_book([("C", "bid", "100", "10")])
    m = CryptoMatcher("luno", "XBTZAR")
    first = m.place("s", book, "buy", "1", "101")
    second = m.place("t", book, "buy", "5", "101")
    third = m.place("s", book, "buy", "5", "100")
    m.update(book, [luno_trade(book, "C", "3")])  # through both at 101; C is ahead of ours at 100
    assert (first.filled, second.filled, third.filled) == (D(1), D(2), D(0))


def test_invalid_book_matches_nothing_and_orders_wait() -> None:
    book = luno_book([("A", "bid", "100", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "buy", "1", "100")
    book.invalidate("sequence gap")
    trade = luno_trade(book, "A", "1")
    assert m.update(book, [trade]) == [] and m.skipped_trades == 1
    assert o.status == "open" and o.filled == 0
    refused = m.place("s", book, "buy", "1", "100")
    assert refused.status == "rejected" and "sequence gap" in (refused.reason or "")
    # the next snapshot: A is gone; our queue is re-read, nothing was filled meanwhile
    book.mark_valid()
    m.update(book, [])
    assert m.queue(o, book) == 0 and m.ahead(o, book) == []


def test_cancel_and_replace() -> None:
    book = luno_book([("A", "ask", "101", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "buy", "2", "100")
    assert m.cancel(o) and o.status == "cancelled" and not m.cancel(o)
    o = m.place("s", book, "buy", "2", "100")
    new = m.replace(o, book, "101")  # crosses the ask: 1 taker fill, the rest rests
    assert o.status == "cancelled" and new.filled == D(1) and new.status == "open"
    assert new.notes["replaces"] == o.order_id
    again = m.replace(o, book, "99")
    assert again.status == "rejected" and "not open" in (again.reason or "")


# -- BitMEX: the level-size queue rule (tables of level size, trades, queue ahead) --------------

# Each row: (event, argument, queue_ahead after, filled after). Our buy of 5 at 100 joined a
# level of 10. "trade" = a sell taker at 100 of that size; "level" = the level's new size.
QUEUE_TABLE: list[tuple[str, str, list[tuple[str, float, float, float]]]] = [
    (
        "trade before its level change",
        "trades come first, the level change is then explained by them",
        [("trade", 3, 7, 0), ("level", 7, 7, 0)],
    ),
    (
        "level change before its trade (BitMEX's order)",
        "the decrease is first taken as a cancel, then undone by the trade",
        [("level", 7, 7, 0), ("trade", 3, 7, 0)],
    ),
    (
        "a cancel, proportional",
        "a decrease no trade explains: ahead x cut / size",
        [("level", 6, 6, 0), ("level", 8, 6, 0)],
    ),
    (
        "trades consume the queue then fill us",
        "12 traded at 100: 10 ahead, 2 ours",
        [("level", 0, 0, 0), ("trade", 10, 0, 0), ("trade", 2, 0, 2)],
    ),
    (
        "a trade through our price fills us whole",
        "a sell at 99 would have hit our bid at 100 first",
        [("through", 4, 10, 4)],
    ),
    (
        "growth joins behind",
        "size increases leave the queue ahead as it was",
        [("level", 15, 10, 0), ("trade", 11, 0, 1)],
    ),
]


@pytest.mark.parametrize("rows", [r[2] for r in QUEUE_TABLE], ids=[r[0] for r in QUEUE_TABLE])
def test_bitmex_queue_rule(rows: list[tuple[str, float, float, float]]) -> None:
    book = level_book({100.0: 10.0, 99.0: 50.0}, {101.0: 10.0})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    o = m.place("s", book, "buy", 5, 100.0)
    assert o.queue_ahead == 10
    for event, value, ahead, filled in rows:
        if event == "level":
            set_level(book, "bid", 100.0, value)
            m.update(book, [])
        elif event == "trade":
            m.update(book, [bitmex_trade("sell", 100.0, value)])
        else:
            m.update(book, [bitmex_trade("sell", 99.0, value)])
        assert o.queue_ahead == pytest.approx(ahead), (event, value)
        assert o.filled == pytest.approx(filled), (event, value)


def test_bitmex_proportional_cut_with_a_partial_queue() -> None:
    # ahead 6 of 10 (4 joined behind after us), 5 cancelled: 6 x 5/10 = 3 comes off
    book = level_book({100.0: 6.0}, {101.0: 1.0})
    m = CryptoMatcher("bitmex", "XBTUSDT")
    o = m.place("s", book, "buy", 1, 100.0)
    set_level(book, "bid", 100.0, 10.0)
    m.update(book, [])
    set_level(book, "bid", 100.0, 5.0)
    m.update(book, [])
    assert o.queue_ahead == pytest.approx(3.0)


# -- positions and profit -----------------------------------------------------------------------

# (side, price, size) fills -> quantity, average entry, realised
POSITION_TABLE = [
    ([("buy", 100, 2), ("buy", 110, 2)], 4, 105, 0),
    ([("buy", 100, 2), ("sell", 110, 1)], 1, 100, 10),
    ([("buy", 100, 2), ("sell", 90, 3)], -1, 90, -20),
    ([("sell", 100, 2), ("buy", 80, 2)], 0, None, 40),
]


@pytest.mark.parametrize(("fills", "qty", "entry", "realised"), POSITION_TABLE)
def test_position(fills: list[tuple[str, int, int]], qty: int, entry: Any, realised: int) -> None:
    p = Position()
    for side, price, size in fills:
        p.apply(side, price, size, 0)
    assert (p.quantity, p.average_entry, p.realised) == (qty, entry, realised)


def test_profit_of_a_round_trip_with_fees() -> None:
    book = level_book({99.0: 10}, {100.0: 10})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(maker=-0.0001, taker=0.001))
    m.place("s", book, "buy", 2, 100.0)  # taker at 100: fee 0.2
    sell = m.place("s", book, "sell", 2, 105.0)  # rests at 105 (ahead 0)
    m.update(book, [bitmex_trade("buy", 106.0, 5)])  # through our ask: filled as maker
    pos = m.position("s")
    assert sell.status == "filled" and pos.quantity == 0
    assert pos.realised == pytest.approx(10.0)
    assert pos.fees == pytest.approx(0.2 - 0.021)
    assert pos.net(None) == pytest.approx(10.0 - 0.179)
    m.place("s", book, "buy", 1, 100.0)
    assert pos.unrealised(m.mark(book)) == pytest.approx(-0.5)


def test_inverse_contracts_fees_and_profit_in_usd() -> None:
    book = OrderBook("bitmex", "XBTUSD")
    book.bids.update({49_999.5: 1000.0})
    book.asks.update({50_000.0: 1000.0})
    book.mark_valid()
    m = CryptoMatcher("bitmex", "XBTUSD", Fees(maker=0.0, taker=0.001))
    assert m.inverse
    m.place("s", book, "buy", 1000, 50_000.0)  # 1000 USD of contracts: fee 1 USD
    book.bids.clear()
    book.bids.update({55_000.0: 1000.0})
    m.place("s", book, "sell", 1000, 55_000.0)
    pos = m.position("s")
    assert pos.fees == pytest.approx(2.0)
    # 1000 x (1/50000 - 1/55000) XBT, worth 100 USD at 55000
    assert pos.realised == pytest.approx(100.0) and pos.quantity == 0
    assert not CryptoMatcher("bitmex", "ETHUSD").inverse


def test_luno_arrival_order_between_two_paper_orders() -> None:
    book = luno_book([("A", "bid", "100", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    first = m.place("s", book, "buy", "1", "100")
    book.orders["D"] = ["bid", D(100), D(2)]  # arrives between our two orders
    book.add_volume("bid", D(100), D(2))
    second = m.place("s", book, "buy", "1", "100")
    assert [i for i, _ in m.ahead(second, book)] == ["A", "D"]
    assert [i for i, _ in m.ahead(first, book)] == ["A"]
    m.update(book, [luno_trade(book, "A", "1"), luno_trade(book, "D", "0.5")])
    # D was behind the first paper order, ahead of the second
    assert (first.filled, second.filled) == (D("0.5"), D(0))


def test_luno_a_new_snapshot_puts_orders_it_brings_behind_ours() -> None:
    book = luno_book([("A", "ask", "100", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "sell", "1", "100")
    # reconnect: a new snapshot (a new dict) where E, unseen, rests before A in the list
    book.orders = {"E": ["ask", D(100), D(1)], "A": ["ask", D(100), D(1)]}
    book.asks[D(100)] = D(2)
    assert [i for i, _ in m.ahead(o, book)] == ["A"]
    m.update(book, [luno_trade(book, "E", "1")])  # E arrived after us: its trade was ours
    assert o.filled == D(1)


def test_luno_nan_decimal_is_rejected_not_raised() -> None:
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", luno_book([("A", "bid", "100", "1")]), "buy", D("NaN"), "100")
    assert o.status == "rejected" and "bad number" in (o.reason or "")


# -- the fast paths: what a trade or a book update must reach to be looked at -----------------


def test_bitmex_trades_that_do_not_reach_our_prices_change_nothing() -> None:
    book = level_book({100.0: 10.0, 99.0: 50.0}, {101.0: 10.0, 102.0: 8.0})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    buy = m.place("s", book, "buy", 5, 99.0)  # behind the best bid
    sell = m.place("s", book, "sell", 5, 102.0)  # behind the best ask
    assert (m.bid_top, m.ask_top) == (99.0, 102.0)
    # a sell taker above our bid, a buy taker below our ask, an unknown taker side
    missed = [
        bitmex_trade("sell", 100.0, 7),
        bitmex_trade("buy", 101.0, 9),
        Trade("bitmex", "XBTUSDT", "", 99.0, 3),
    ]
    assert m.update(book, missed) == []
    assert (buy.queue_ahead, sell.queue_ahead) == (50, 8)
    assert buy.filled == sell.filled == 0 and m.last_price == 99.0
    # no credit was taken from them: a later cut at our level is a cancel (ahead x cut / size)
    set_level(book, "bid", 99.0, 40.0)
    m.update(book, [])
    assert buy.queue_ahead == pytest.approx(40.0)
    # a trade at our price still counts: it explains that cut (undone) and comes off the queue
    m.update(book, [bitmex_trade("sell", 99.0, 15)])
    assert buy.queue_ahead == pytest.approx(50.0 - 15.0) and buy.filled == 0
    # one through our ask fills it
    assert m.update(book, [bitmex_trade("buy", 103.0, 2)]) == [sell] and sell.filled == 2


def test_bitmex_a_book_update_away_from_our_levels_leaves_the_queue() -> None:
    book = level_book({100.0: 10.0, 99.0: 50.0}, {101.0: 10.0})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    o = m.place("s", book, "buy", 5, 100.0)
    assert m.follows_levels
    set_level(book, "bid", 99.0, 5.0)
    set_level(book, "ask", 101.0, 1.0)
    assert m.update(book, []) == [] and o.queue_ahead == 10
    m.cancel(o)
    assert not m.follows_levels and m.bid_top is None


def test_best_open_prices_follow_placements_fills_and_cancels() -> None:
    book = level_book({100.0: 10.0}, {101.0: 10.0})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    low = m.place("s", book, "buy", 2, 98.0)
    high = m.place("t", book, "buy", 2, 99.0)
    assert m.bid_top == 99.0 and m.ask_top is None
    # through both: the better price first, then the next (price-time priority)
    assert m.update(book, [bitmex_trade("sell", 97.0, 3)]) == [high, low]
    assert (high.status, low.filled) == ("filled", 1) and m.bid_top == 98.0
    m.cancel(low)
    assert m.bid_top is None
    # nothing open on the bids: a sell taker at any price fills nothing
    assert m.update(book, [bitmex_trade("sell", 1.0, 100)]) == []


def test_luno_trades_away_from_our_prices_fill_nothing() -> None:
    book = luno_book([("A", "bid", "100", "1"), ("B", "bid", "99", "2"), ("C", "ask", "102", "1")])
    m = CryptoMatcher("luno", "XBTZAR")
    o = m.place("s", book, "buy", "1", "99")
    assert not m.follows_levels and m.bid_top == D(99)
    # A (at 100, above our bid) trades: not ours to fill; C is an ask, on the other side
    assert m.update(book, [luno_trade(book, "A", "1"), luno_trade(book, "C", "1")]) == []
    assert o.filled == 0 and m.ahead(o, book) == [("B", D(2))]
    # B ahead of us trades at our price: still ours to wait for; then an order behind us
    m.update(book, [luno_trade(book, "B", "2")])
    assert o.filled == 0 and m.queue(o, book) == 0
    book.orders["E"] = ["bid", D(99), D(3)]
    book.add_volume("bid", D(99), D(3))
    assert m.update(book, [luno_trade(book, "E", "1")]) == [o] and o.filled == D(1)


# -- following levels: the watch gives what looking at every open order gives ------------------


class FollowsEveryOrder(CryptoMatcher):
    """The plain rule as a reference: every open order looked at on every update, followed when
    its level moved or it holds a pending cut or trade credit."""

    def follow_levels(self, book: Any) -> None:
        for order in self.open:
            side = book.bids if order.side == "buy" else book.asks
            size = float(side.get(order.price, 0.0))
            if size != order._level or order._pending_cut or order._credit:
                self._follow_level(order, size)


def same_after_update(
    fast: CryptoMatcher, slow: CryptoMatcher, book: Any, trades: list[Trade], step: Any
) -> None:
    """Both matchers take the update; the same orders change, and every order's status, fill,
    queue, fills and last-seen level are the same (a change a watch missed shows at once)."""
    assert [o.order_id for o in fast.update(book, trades)] == [
        o.order_id for o in slow.update(book, trades)
    ]
    for a, b in zip(fast.orders, slow.orders, strict=True):
        assert (a.status, a.filled, a.queue_ahead, a.fills, a._level) == (
            b.status,
            b.filled,
            b.queue_ahead,
            b.fills,
            b._level,
        ), step


PRICES = [98.0, 99.0, 100.0, 101.0, 102.0, 103.0]
bitmex_events = st.lists(
    st.one_of(
        st.tuples(
            st.just("level"),
            st.sampled_from(["bid", "ask"]),
            st.sampled_from(PRICES),
            st.integers(0, 40),
        ),
        st.tuples(
            st.just("trade"),
            st.sampled_from(["buy", "sell"]),
            st.sampled_from(PRICES),
            st.integers(1, 30),
        ),
        st.tuples(
            st.just("place"),
            st.sampled_from(["buy", "sell"]),
            st.sampled_from(PRICES),
            st.integers(1, 20),
        ),
        st.tuples(st.just("cancel"), st.just(""), st.just(0.0), st.integers(0, 5)),
        st.tuples(st.just("copy"), st.just(""), st.just(0.0), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(bitmex_events, st.booleans())
def test_bitmex_watched_levels_follow_as_every_order_does(
    events: list[tuple[str, str, float, int]], reports: bool
) -> None:
    """Random level changes, trades, placements, cancels and books with new sides (a copy):
    the matcher, which looks only at the levels it watches and its orders with a pending cut or
    credit, gives the same queues, fills and statuses as the reference after every step. With
    ``reports`` the book has a LevelWatch (its own set_level reports changes at watched
    prices) and the matcher passes over the updates that changed none of them; a copy has
    none."""
    book = level_book({100.0: 10.0, 99.0: 20.0, 98.0: 5.0}, {101.0: 10.0, 102.0: 20.0})
    if reports:
        book.level_watch = LevelWatch()
    fast = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    slow = FollowsEveryOrder("bitmex", "XBTUSDT", Fees(0, 0))
    for kind, side, price, n in events:
        if kind == "level":
            book.set_level(side, price, float(n))  # type: ignore[arg-type]
            trades: list[Trade] = []
        elif kind == "trade":
            trades = [bitmex_trade(side, price, float(n))]
        elif kind == "place":
            for m in (fast, slow):
                m.place("s", book, side, float(n), price)
            continue
        elif kind == "cancel":
            for m in (fast, slow):
                if m.open:
                    m.cancel(m.open[n % len(m.open)])
            continue
        else:
            book = book.copy()  # the same levels in new SortedDicts
            trades = []
        same_after_update(fast, slow, book, trades, (kind, side, price, n))


def l2_frame(action: str, rows: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"table": "orderBookL2", "action": action, "data": rows})


L2_PARTIAL = {"table": "orderBookL2", "action": "partial", "keys": ["symbol", "id", "side"]}
# (kind, row id, side, price tick, size): table rows (insert / update / move: an update to
# another price / delete / partial: a new snapshot), trades and paper orders (place / cancel)
bitmex_table_events = st.lists(
    st.tuples(
        st.sampled_from(
            [
                *("insert", "insert", "update", "update", "update", "move", "delete", "partial"),
                *("trade", "trade", "place", "place", "cancel"),
            ]
        ),
        st.integers(0, 3),  # few ids and prices: rows meet the paper orders' levels often
        st.sampled_from(["Buy", "Sell"]),
        st.integers(1, 5),
        st.integers(0, 40),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(bitmex_table_events)
def test_bitmex_tables_report_every_change_at_watched_prices(
    events: list[tuple[str, int, str, int, int]],
) -> None:
    """orderBookL2 rows through the real protocol (inserts, updates with and without a price,
    moves to another price, deletes, new partials), trades and paper orders: the matcher passes
    over the updates its book's LevelWatch says left its levels alone, and its queues, fills and
    statuses stay those of the reference that looks at every order on every update."""
    proto = BitmexProtocol(["orderBookL2:XBTUSDT"])
    proto.receive(orjson.dumps({**L2_PARTIAL, "filter": {"symbol": "XBTUSDT"}, "data": []}))
    book = proto.books["XBTUSDT"]
    assert isinstance(book.level_watch, LevelWatch)
    fast = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    slow = FollowsEveryOrder("bitmex", "XBTUSDT", Fees(0, 0))
    rows: dict[tuple[int, str], float] = {}  # (id, side) -> price, as the venue has them
    for kind, rid, side, tick, size in events:
        price = 97.0 + tick
        key = (rid, side)
        trades: list[Trade] = []
        if kind == "place":
            for m in (fast, slow):
                m.place("s", book, "buy" if side == "Buy" else "sell", float(size + 1), price)
            continue
        if kind == "cancel":
            for m in (fast, slow):
                if m.open:
                    m.cancel(m.open[rid % len(m.open)])
            continue
        if kind == "trade":
            trades = [bitmex_trade("sell" if side == "Buy" else "buy", price, float(size + 1))]
        elif kind == "partial":
            snapshot = [
                {"symbol": "XBTUSDT", "id": i, "side": sd, "price": p, "size": 5 + i}
                for (i, sd), p in rows.items()
            ]
            proto.receive(orjson.dumps({**L2_PARTIAL, "data": snapshot}))
        elif kind == "insert":
            if key in rows or (price, side) in {(p, sd) for (_, sd), p in rows.items()}:
                continue
            rows[key] = price
            proto.receive(
                l2_frame("insert", [{**row(rid, side), "price": price, "size": size + 1}])
            )
        elif kind in ("update", "move"):
            if key not in rows:
                continue
            if kind == "move":
                if (price, side) in {(p, sd) for (_, sd), p in rows.items()}:
                    continue
                rows[key] = price
            proto.receive(
                l2_frame("update", [{**row(rid, side), "price": rows[key], "size": size}])
            )
            if size == 0:
                del rows[key]
        else:
            if key not in rows:
                continue
            proto.receive(l2_frame("delete", [row(rid, side)]))
            del rows[key]
        same_after_update(fast, slow, book, trades, (kind, rid, side, price, size))


def row(rid: int, side: str) -> dict[str, Any]:
    return {"symbol": "XBTUSDT", "id": rid, "side": side}


def test_bitmex_tables_count_changes_at_watched_prices_only() -> None:
    """The LevelWatch of a book the protocol keeps: a change at another price leaves its count,
    an update, a move away, a delete and a new partial at or from a watched price raise it."""
    proto = BitmexProtocol(["orderBookL2:XBTUSDT"])
    proto.receive(orjson.dumps({**L2_PARTIAL, "filter": {"symbol": "XBTUSDT"}, "data": []}))
    book = proto.books["XBTUSDT"]
    watch = book.level_watch
    assert watch is not None
    proto.receive(l2_frame("insert", [{**row(1, "Buy"), "price": 100.0, "size": 10}]))
    proto.receive(l2_frame("insert", [{**row(2, "Buy"), "price": 99.0, "size": 10}]))
    watch.prices.add(100.0)
    n = watch.changes
    proto.receive(l2_frame("update", [{**row(2, "Buy"), "size": 7}]))  # another price
    assert watch.changes == n
    proto.receive(l2_frame("update", [{**row(1, "Buy"), "size": 8}]))  # by id only
    assert watch.changes == n + 1
    proto.receive(l2_frame("update", [{**row(1, "Buy"), "price": 98.0, "size": 8}]))  # moved
    assert watch.changes == n + 2 and 100.0 not in book.bids
    proto.receive(l2_frame("insert", [{**row(3, "Buy"), "price": 100.0, "size": 4}]))
    proto.receive(l2_frame("delete", [row(3, "Buy")]))
    assert watch.changes == n + 4
    proto.receive(orjson.dumps({**L2_PARTIAL, "data": []}))  # a new snapshot: anything moved
    assert watch.changes == n + 5
    copy = book.copy()
    assert copy.level_watch is None  # nobody reports a copy's changes


def test_bitmex_matcher_passes_over_updates_away_from_its_levels() -> None:
    """On a protocol book the matcher looks at its levels only after a change the LevelWatch
    reports; one LevelWatch has one owner, a second matcher follows every update."""
    proto = BitmexProtocol(["orderBookL2:XBTUSDT"])
    proto.receive(orjson.dumps({**L2_PARTIAL, "filter": {"symbol": "XBTUSDT"}, "data": []}))
    book = proto.books["XBTUSDT"]
    proto.receive(l2_frame("insert", [{**row(1, "Buy"), "price": 100.0, "size": 10}]))
    proto.receive(l2_frame("insert", [{**row(2, "Buy"), "price": 99.0, "size": 10}]))
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    other = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    o = m.place("s", book, "buy", 5, 100.0)
    other.place("t", book, "buy", 5, 99.0)
    m.update(book, [])
    other.update(book, [])
    assert m._level_watch is book.level_watch and other._level_watch is None
    assert book.level_watch is not None and book.level_watch.prices == {100.0}
    followed: list[float] = []
    original = m._follow_level
    m._follow_level = lambda order, level: (followed.append(level), original(order, level))  # type: ignore[method-assign]
    proto.receive(l2_frame("update", [{**row(2, "Buy"), "size": 3}]))
    m.update(book, [])
    assert followed == [] and m._watch_changes == book.level_watch.changes
    proto.receive(l2_frame("update", [{**row(1, "Buy"), "size": 4}]))  # 6 of 10 ahead cancelled
    m.update(book, [])
    assert followed == [4.0] and o.queue_ahead == pytest.approx(4.0)
    m.cancel(o)  # no open order: the watch is given up
    assert book.level_watch.owner is None and not book.level_watch.prices


def test_bitmex_a_matcher_that_is_gone_leaves_the_watch_to_the_next() -> None:
    """A session that ends with orders resting (its matcher dropped) does not keep the book's
    LevelWatch, nor the matcher alive through it: the next matcher on the live book owns it."""
    proto = BitmexProtocol(["orderBookL2:XBTUSDT"])
    proto.receive(orjson.dumps({**L2_PARTIAL, "filter": {"symbol": "XBTUSDT"}, "data": []}))
    book = proto.books["XBTUSDT"]
    proto.receive(l2_frame("insert", [{**row(1, "Buy"), "price": 100.0, "size": 10}]))
    old = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    old.place("s", book, "buy", 5, 100.0)
    old.update(book, [])
    assert book.level_watch is not None and book.level_watch.owner is not None
    gone = weakref.ref(old)
    del old
    gc.collect()
    assert gone() is None
    new = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    new.place("t", book, "buy", 5, 100.0)
    new.update(book, [])
    assert new._level_watch is book.level_watch and book.level_watch.owner() is new


def test_bitmex_a_copied_book_is_followed_through_its_own_sides() -> None:
    """A book whose sides are new SortedDicts (a copy; a snapshot that brings new ones): the
    order's level is read there, not from the sides it was placed on."""
    book = level_book({100.0: 10.0, 99.0: 20.0}, {101.0: 10.0})
    m = CryptoMatcher("bitmex", "XBTUSDT", Fees(0, 0))
    o = m.place("s", book, "buy", 5, 100.0)
    m.update(book, [])
    book = book.copy()
    m.update(book, [])
    book.set_level("bid", 100.0, 4.0)  # 6 of the 10 ahead cancelled
    m.update(book, [])
    assert o.queue_ahead == pytest.approx(4.0)


def test_crypto_paper_keeps_one_handler_per_market() -> None:
    """CryptoPaper called directly, update after update: one handler and one matcher for the
    market, so an order placed on one update is matched on the next."""
    from marketstreams.simulation import PaperMarket, Strategy
    from marketstreams.simulation.cryptomarket import CryptoPaper

    class Once(Strategy):
        def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
            if not market.orders:
                market.place_order("buy", 100.0, 5)

    book = level_book({100.0: 10.0}, {101.0: 10.0})
    paper = CryptoPaper([Once()], {"bitmex": Fees(0, 0)})
    assert paper.market(book) is paper.market(book)
    paper(book, [])
    paper(book, [bitmex_trade("sell", 99.0, 5)])  # through our bid: fills us whole
    (order,) = paper.orders()
    assert order.status == "filled" and order.filled == 5
    assert len(paper.matchers) == 1


class KeepsEveryId(CryptoMatcher):
    keep_gone = 10**12  # the reference: never forgets an order id


def test_luno_forgets_gone_order_ids_and_fills_the_same() -> None:
    """A long Luno session: 20,000 orders come and go away from the top (the churn that makes
    ids pile up), while orders at the top prices arrive and trade slowly, in time priority, and
    paper orders rest there across many of the matcher's clean-ups. The matcher forgets ids no
    longer resting, so what it keeps stays near the resting count, and every fill and queue is
    what a matcher that keeps every id gives."""
    import random

    rng = random.Random(7)
    book = luno_book([("t0", "bid", "100", "1"), ("t1", "ask", "101", "1")])
    fast = CryptoMatcher("luno", "XBTZAR", Fees(0, 0))
    slow = KeepsEveryId("luno", "XBTZAR", Fees(0, 0))
    churn: list[str] = []
    top = {"bid": ["t0"], "ask": ["t1"]}
    most_known = 0
    for i in range(20_000):
        # churn away from the top: one order in, the oldest out when there are 30
        oid = f"c{i}"
        side = rng.choice(["bid", "ask"])
        price = D(90) if side == "bid" else D(110)
        book.orders[oid] = [side, price, D(1)]
        book.add_volume(side, price, D(1))  # type: ignore[arg-type]
        churn.append(oid)
        if len(churn) > 30:
            gone = book.orders.pop(churn.pop(0))
            book.add_volume(gone[0], gone[1], -gone[2])
        trades = []
        roll = rng.random()
        if roll < 0.03:  # an order joins the top of one side
            side = rng.choice(["bid", "ask"])
            oid = f"t{i}"
            price = D(100) if side == "bid" else D(101)
            book.orders[oid] = [side, price, D(1)]
            book.add_volume(side, price, D(1))  # type: ignore[arg-type]
            top[side].append(oid)
        elif roll < 0.05:  # the oldest order at the top of one side trades
            side = rng.choice(["bid", "ask"])
            if top[side]:
                trades.append(luno_trade(book, top[side].pop(0), "1"))
        changed = [m.update(book, trades) for m in (fast, slow)]
        assert [o.order_id for o in changed[0]] == [o.order_id for o in changed[1]]
        if i % 150 == 0:  # a paper order joins a top queue
            side = rng.choice(["buy", "sell"])
            for m in (fast, slow):
                m.place("s", book, side, "0.5", "100" if side == "buy" else "101")
        most_known = max(most_known, len(fast._known))
    for a, b in zip(fast.orders, slow.orders, strict=True):
        assert (a.status, a.filled, a.fills) == (b.status, b.filled, b.fills)
        if a.is_open:
            assert fast.queue(a, book) == slow.queue(b, book)
    assert sum(len(o.fills) for o in fast.orders) > 20  # the session did fill orders
    assert most_known <= 2 * len(book.orders) + fast.keep_gone + 200  # not the 20,000 seen
    assert len(slow._known) > 3_000  # (ids that came and went between two looks never count)

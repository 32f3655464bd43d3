"""Luno paper trading against mock_servers/luno.py: a resting paper order's fills equal an exact
FIFO replay of the server's own order-level history (its true queue at placement and its true
trades), for orders at the best price, behind existing orders, and across a reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from marketstreams import Backoff, Updater
from marketstreams.recording import Recorder
from marketstreams.simulation import PaperMarket, PaperTrading, Strategy, simulate
from marketstreams.simulation.crypto import CryptoOrder
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer
from tests.integration.paper.strategies import Quote
from tests.integration.recording.conftest import Waiter

PAIR = "XBTZAR"
GUARD = 30.0  # a hang guard only: every wait ends on an event


class Quoter(Strategy):
    """Places its orders on the first valid book after ``arm()``; tells the test each book."""

    def __init__(self) -> None:
        super().__init__()
        # (side, level: 0 = the best, -1 = the most crowded of the best 30, size)
        self.plan: list[tuple[str, int, str]] | None = None
        self.placed: list[tuple[CryptoOrder, int]] = []  # (order, sequence placed at)
        self.changed = asyncio.Event()
        self.sequence: int | None = None
        self.valid = False

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        self.sequence, self.valid = book.sequence, book.is_valid
        if self.plan:
            for side, index, size in self.plan:
                top = list(book.iter_bids(30) if side == "buy" else book.iter_asks(30))
                price = top[index][0]
                if index < 0:  # the level with the most orders: a long queue ahead
                    count = {p: sum(1 for o in book.orders.values() if o[1] == p) for p, _ in top}
                    price = max(count, key=lambda p: count[p])
                self.placed.append((market.place_order(side, price, Decimal(size)), book.sequence))
            self.plan = None
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(GUARD):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def server() -> AsyncIterator[LunoMockServer]:
    # rate 0: the market moves only when the test steps it, so the truth at placement is known
    async with LunoMockServer(
        pairs=(PAIR,), seed=11, orders=2000, rate=0, keepalive_interval=0.2, ping_interval=None
    ) as srv:
        yield srv


def paper_ahead(paper: PaperTrading, order: CryptoOrder) -> list[tuple[str, Decimal]]:
    """The orders the paper matcher holds ahead of ``order`` now."""
    crypto = paper.crypto
    assert crypto is not None
    matcher = crypto.matchers[("luno", PAIR)]
    return matcher.ahead(order, crypto.views[("luno", PAIR)][0].book)


def fifo_replay(
    server: LunoMockServer,
    orders: list[tuple[CryptoOrder, int, list[str]]],
    unseen: set[int],
) -> dict[str, list[tuple[Decimal, Decimal]]]:
    """Our orders' fills from the server's truth alone: each order waits behind the true queue
    at its price when placed (``ahead``); a trade at its price against one of those orders is
    not ours, against any other (behind us) or at a worse price it is (price-time priority
    among our own orders, each traded unit once); trades the client never received
    (``unseen`` sequences) fill nothing."""
    first = min(seq for _, seq, _ in orders)
    fills: dict[str, list[tuple[Decimal, Decimal]]] = {o.order_id: [] for o, _, _ in orders}
    left = {o.order_id: o.size for o, _, _ in orders}
    for seq, maker, side, price, base in server.true_trades(PAIR, first):
        if seq in unseen:
            continue
        ours = [
            (o, ahead)
            for o, placed, ahead in orders
            if placed < seq and (o.side == "buy") == (side == "bid")
        ]
        ours.sort(
            key=lambda item: (-item[0].price if side == "bid" else item[0].price, item[0].seq)
        )
        budget = base
        for o, ahead in ours:
            at, worse = price == o.price, price < o.price if side == "bid" else price > o.price
            if not (worse or (at and maker not in ahead)) or budget <= 0 or left[o.order_id] <= 0:
                continue
            take = min(budget, left[o.order_id])
            budget -= take
            left[o.order_id] -= take
            fills[o.order_id].append((o.price, take))
    return fills


async def test_luno_paper_fills_equal_a_fifo_replay_of_the_true_queue(
    server: LunoMockServer,
) -> None:
    strategy = Quoter()
    paper = PaperTrading(strategy)
    feed = luno.Feed(
        PAIR, url=server.url, backoff=Backoff(initial=0.3, maximum=0.5), silence_timeout=5.0
    )
    task = asyncio.create_task(Updater(feed, hooks=[paper]).run())
    try:
        await strategy.until(lambda: strategy.valid)
        await server.step(200)
        await strategy.until(lambda: strategy.sequence == server.sequence(PAIR))
        # at the best bid and ask (behind the orders there), and two levels behind the best bid
        strategy.plan = [("buy", 0, "3"), ("sell", 0, "3"), ("buy", -1, "1"), ("sell", -1, "1")]
        await server.step(1)
        await strategy.until(
            lambda: not strategy.plan and strategy.sequence == server.sequence(PAIR)
        )
        placed = list(strategy.placed)
        # the true queue when placed (nothing moved since: rate 0) is the one the order waits in
        truth: list[tuple[CryptoOrder, int, list[str]]] = []
        for order, seq in placed:
            side = "bid" if order.side == "buy" else "ask"
            queue = [oid for oid, _ in server.true_queue(PAIR, side, order.price)]
            assert [i for i, _ in paper_ahead(paper, order)] == queue and queue, order
            assert order.queue_ahead == sum(
                v for _, v in server.true_queue(PAIR, side, order.price)
            )
            truth.append((order, seq, queue))

        await server.step(150)
        await strategy.until(lambda: strategy.sequence == server.sequence(PAIR))

        # a reconnect: the updates generated while the client is away are never seen
        before = server.sequence(PAIR)
        fills_before = {o.order_id: len(o.fills) for o, _, _ in truth}
        await server.drop(PAIR)
        await server.step(300)
        unseen = set(range(before + 1, server.sequence(PAIR) + 1))
        await strategy.until(lambda: strategy.valid and strategy.sequence == server.sequence(PAIR))
        assert feed.stats.reconnects == 1
        # one more order placed after the reconnect, at the best bid
        strategy.plan = [("buy", 0, "0.4")]
        await server.step(1)
        await strategy.until(
            lambda: not strategy.plan and strategy.sequence == server.sequence(PAIR)
        )
        order, seq = strategy.placed[-1]
        truth.append((order, seq, [oid for oid, _ in server.true_queue(PAIR, "bid", order.price)]))
        await server.step(1500)
        await strategy.until(lambda: strategy.sequence == server.sequence(PAIR))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    expected = fifo_replay(server, truth, unseen)
    got = {o.order_id: [(f.price, f.size) for f in o.fills] for o, _, _ in truth}
    assert got == expected
    # an order resting across the reconnect filled on both sides of it
    assert any(0 < fills_before[o.order_id] < len(o.fills) for o, _, _ in truth[:4]), got
    assert max(len(ahead) for _, _, ahead in truth) >= 3  # a queue of several orders ahead
    filled = [o for o, _, _ in truth if o.fills]
    assert len(filled) >= 2, got  # the comparison covered real fills, not only empty lists
    missed = [t for t in server.true_trades(PAIR, before) if t[0] in unseen]
    assert missed, "the reconnect should have hidden some trades"
    assert all(f.liquidity == "maker" for o, _, _ in truth for f in o.fills)
    result = paper.result()
    assert [o.order_id for o in result.crypto_orders] == [o.order_id for o, _, _ in truth]
    assert result.waiting >= 1  # the invalid book was seen and not matched


async def test_luno_recording_simulated_gives_the_live_fills(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    paper = PaperTrading(Quote(size=Decimal("0.2"), max_orders=60))
    async with LunoMockServer(
        pairs=(PAIR,), seed=5, orders=500, rate=400.0, keepalive_interval=0.2, ping_interval=None
    ) as server:
        recorder = Recorder(folder, flush_interval=0.05)
        feed = luno.Feed(
            PAIR, url=server.url, backoff=Backoff(initial=0.01, maximum=0.05), record=recorder
        )
        waiter = Waiter()
        task = asyncio.create_task(Updater(feed, hooks=[paper, waiter]).run())

        def fills() -> int:
            crypto = paper.crypto
            return sum(len(o.fills) for o in crypto.orders()) if crypto else 0

        try:
            await waiter.until(lambda: fills() >= 5)
            await server.drop(PAIR)
            await waiter.until(lambda: feed.stats.reconnects >= 1 and feed.book.is_valid)
            target = fills() + 5
            await waiter.until(lambda: fills() >= target)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await recorder.aclose()
    live = paper.result()
    assert live.waiting >= 1
    replayed = simulate(folder, [Quote(size=Decimal("0.2"), max_orders=60)])
    assert replayed.errors == [] and replayed.strategy_errors == 0

    def rows(orders: list[CryptoOrder]) -> list[tuple[object, ...]]:
        return [(o.order_id, o.side, o.price, o.size, o.status, o.fills) for o in orders]

    assert rows(replayed.crypto_orders) == rows(live.crypto_orders)
    assert replayed.positions == live.positions

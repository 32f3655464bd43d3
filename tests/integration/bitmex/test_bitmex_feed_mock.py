"""bitmex.Feed against the mock server: books equal the server's true books, through faults."""

from __future__ import annotations

from typing import Any

import pytest

from marketstreams.exceptions import AuthenticationError, SubscriptionError
from mock_servers.bitmex import BitmexMockServer

SYMBOLS = ["XBTUSD", "ETHUSD"]
TOPICS = ["orderBookL2:XBTUSD", "orderBookL2:ETHUSD"]


@pytest.mark.parametrize("legacy", [False, True], ids=["2024-rows", "2021-id-only-rows"])
async def test_books_follow_the_true_books(
    server: BitmexMockServer, legacy: bool, make_feed: Any, runner: Any, match: Any
) -> None:
    server.set_legacy_ids(legacy)
    feed = make_feed(server, TOPICS)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        server.step(200)
        await run.until(lambda: match(server, feed, SYMBOLS))
    assert feed.counters.unknown_keys == 0
    assert feed.stats.connects == 1
    assert feed.books["XBTUSD"].venue == "bitmex"
    assert sum(1 for u in run.updates if u.snapshot) == 2


async def test_dropped_connections_resync_from_new_partials(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, TOPICS)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        for drop in range(1, 4):
            await server.drop()
            # Books turn invalid at once and the market moves while we are away.
            await run.until(lambda: not feed.books["XBTUSD"].is_valid)
            server.step(30)
            await server.wait_accepted(drop + 1)
            await run.until(lambda: match(server, feed, SYMBOLS))
    assert feed.stats.reconnects == 3
    invalid = [reason for _, valid, reason, _ in run.seen if not valid]
    assert len(invalid) == 6  # two books, three drops
    assert all("connection lost" in (reason or "") for reason in invalid)


async def test_silence_is_detected_by_ping_and_replaced(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, TOPICS, pong_timeout=0.3)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        server.silence()
        server.step(25)  # unseen by the client: only a new connection brings it back in sync
        await server.wait_accepted(2)
        await run.until(lambda: match(server, feed, SYMBOLS))
    assert feed.stats.silences >= 1
    assert feed.connection.pings >= 1


async def test_pings_keep_a_quiet_connection(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2:XBTUSD"])
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        # No market traffic: the feed pings, the server answers pong, nobody reconnects.
        await server.wait_for(lambda: server.pings >= 3)
        server.step(3)
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
    assert feed.stats.connects == 1
    assert feed.stats.silences == 0


async def test_repeated_partial_replaces_state(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, TOPICS)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        server.step(10)
        server.repeat_partial("XBTUSD")
        server.step(10)
        await run.until(
            lambda: sum(1 for u in run.updates if u.snapshot) == 3 and match(server, feed, SYMBOLS)
        )
    assert feed.stats.connects == 1


@pytest.mark.parametrize("legacy", [False, True], ids=["2024-rows", "2021-id-only-rows"])
async def test_unknown_id_does_not_lose_the_other_rows(
    server: BitmexMockServer, legacy: bool, make_feed: Any, runner: Any, match: Any
) -> None:
    server.set_legacy_ids(legacy)
    feed = make_feed(server, ["orderBookL2:XBTUSD"])
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        server.gap("XBTUSD")
        await run.until(lambda: feed.counters.unknown_keys == 1)
        # Both real rows of that message (one bid, one ask) were applied.
        assert match(server, feed, ["XBTUSD"])
        server.step(20)
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        assert feed.books["XBTUSD"].is_valid
    assert feed.stats.connects == 1
    # Once the feed stops, its books are stale and say so.
    assert not feed.books["XBTUSD"].is_valid
    assert feed.books["XBTUSD"].invalid_reason == "connection lost: feed stopped"


async def test_malformed_frame_resynchronises(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, TOPICS)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, SYMBOLS))
        server.malformed()
        server.step(10)
        await server.wait_accepted(2)
        await run.until(lambda: match(server, feed, SYMBOLS))
    assert feed.stats.malformed == 1


async def test_error_frames_are_counted_and_survived(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2:XBTUSD"])
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        server.error(503, "Service temporarily unavailable")
        server.step(5)
        await run.until(lambda: feed.stats.errors == 1 and match(server, feed, ["XBTUSD"]))
    assert feed.stats.connects == 1


async def test_authenticates_first_on_every_connection(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any, credentials: Any
) -> None:
    key, secret = credentials
    feed = make_feed(server, ["order", "orderBookL2:XBTUSD"], api_key=key, api_secret=secret)
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        await server.drop()
        await server.wait_accepted(2)
        await run.until(lambda: feed.stats.reconnects == 1 and match(server, feed, ["XBTUSD"]))
        await run.until(lambda: len(server.commands) >= 6)
    ops = [(c["op"], c["args"][0] if c["op"] == "subscribe" else None) for c in server.commands]
    assert (
        ops
        == [
            ("authKeyExpires", None),
            ("subscribe", "order"),
            ("subscribe", "orderBookL2:XBTUSD"),
        ]
        * 2
    )
    # The private table was accepted (it needs authentication on the mock, as on BitMEX).
    assert feed.stats.errors == 0
    assert "order" in feed.storage.tables


async def test_refused_credentials_raise_a_clear_error(
    server: BitmexMockServer, make_feed: Any, runner: Any, credentials: Any
) -> None:
    key, _ = credentials
    feed = make_feed(server, ["orderBookL2:XBTUSD"], api_key=key, api_secret="wrong-secret")
    async with runner(feed) as run:
        error = await run.failure()
    assert isinstance(error, AuthenticationError)
    assert "Signature not valid" in str(error)
    assert "wrong-secret" not in str(error) and "wrong-secret" not in repr(feed)
    assert feed.stats.connects == 1  # never retried
    assert [c["op"] for c in server.commands] == ["authKeyExpires"]


async def test_unknown_symbol_raises_subscription_error(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2:XBTUSD", "orderBookL2:NOSUCH"])
    async with runner(feed) as run:
        error = await run.failure()
    assert isinstance(error, SubscriptionError)
    assert "orderBookL2:NOSUCH" in str(error)


async def test_trades_arrive_on_their_book(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2:XBTUSD", "trade:XBTUSD"])
    async with runner(feed) as run:
        await run.until(lambda: match(server, feed, ["XBTUSD"]))
        server.step(60)
        await run.until(lambda: any(u.trades for u in run.updates))
    trade = next(t for u in run.updates for t in u.trades)
    assert trade.venue == "bitmex" and trade.market == "XBTUSD"
    assert trade.type in ("buy", "sell") and trade.base > 0 and trade.id


async def test_orderbook_l2_25_and_orderbook10(
    server: BitmexMockServer, make_feed: Any, runner: Any, match: Any
) -> None:
    feed = make_feed(server, ["orderBookL2_25:ETHUSD", "orderBook10:SOLUSDT"])
    async with runner(feed) as run:
        server.step(100)
        await run.until(
            lambda: match(server, feed, ["ETHUSD"], 25) and match(server, feed, ["SOLUSDT"], 10)
        )
    assert len(feed.books["ETHUSD"].bids) <= 25

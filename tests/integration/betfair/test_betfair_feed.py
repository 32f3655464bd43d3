"""The Betfair feed through real TLS sockets against mock_servers/betfair.py, faults injected."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from marketstreams import AuthenticationError, Updater
from marketstreams.exceptions import TLSVerificationError
from marketstreams.venues import betfair
from mock_servers.betfair import BetfairMockServer

from .conftest import (
    GUARD,
    LIMIT,
    MARKETS,
    ORDERS,
    caught_up,
    make_feed,
    market_state,
    order_state,
    run_until,
    server,
)


def assert_matches_server(srv: BetfairMockServer, feed: betfair.Feed) -> None:
    images = srv.market_images()
    assert set(images) == set(feed.market_cache.markets)
    for mid, image in images.items():
        book = feed.market_cache[mid]
        assert book.is_valid
        for rc in image["rc"]:
            runner = book.runner(rc["id"])
            assert runner.available_to_back == sorted(map(tuple, rc.get("atb", [])), reverse=True)
            assert runner.available_to_lay == sorted(map(tuple, rc.get("atl", [])))
            assert runner.traded_volume == sorted(map(tuple, rc.get("trd", [])))


async def fault_free_state() -> tuple[dict[str, Any], dict[str, Any]]:
    async with server() as srv:
        feed = make_feed(srv, [MARKETS, ORDERS])
        await run_until(feed, lambda: srv.changes_generated >= LIMIT and caught_up(srv, feed))
        assert_matches_server(srv, feed)
        assert feed.stats.reconnects == 0
        return market_state(feed), order_state(feed)


async def test_stream_images_then_deltas_match_the_server() -> None:
    async with server() as srv:
        feed = make_feed(srv, [MARKETS, ORDERS])
        seen: list[Any] = []
        updates = await run_until(
            feed,
            lambda: srv.changes_generated >= LIMIT and caught_up(srv, feed),
            seen.append,
        )
        assert_matches_server(srv, feed)
        assert updates == len(seen) <= feed.stats.updates
        assert seen[0].snapshot and seen[0].book.venue == "betfair"
        assert {u.book.market for u in seen} >= {"1.900000001", "1.900000001:orders"}
        # every applied change is one the server sent, exactly once
        for state, cache in zip(feed.states, feed.caches, strict=True):
            assert state.initial_clk is not None
            assert state.changes == cache.changes == srv.stream_changes(state.initial_clk)
        assert feed.order_cache["1.900000001"].orders


async def test_drops_every_few_hundred_messages_lose_nothing() -> None:
    expected_markets, expected_orders = await fault_free_state()
    async with server(rate=3000.0, start_on_subscribe=True) as srv:
        srv.drop_every = 100
        feed = make_feed(srv, [MARKETS, ORDERS])
        invalid_seen = 0

        def watch(update: Any) -> None:
            nonlocal invalid_seen
            invalid_seen += not update.book.is_valid

        await run_until(
            feed, lambda: srv.changes_generated >= LIMIT and caught_up(srv, feed), watch
        )
        assert feed.stats.reconnects >= 3
        assert invalid_seen > 0  # hooks were told the books were out of sync meanwhile
        assert sum(s.resubscribes for s in feed.states) >= 3  # RESUB_DELTA, not new images
        assert all(s.images == 1 for s in feed.states)
        for state, cache in zip(feed.states, feed.caches, strict=True):
            assert state.initial_clk is not None
            assert (
                state.changes == cache.changes == srv.stream_changes(state.initial_clk)
            )  # no loss, no dupes
        assert market_state(feed) == expected_markets
        assert order_state(feed) == expected_orders


async def test_invalid_clock_falls_back_to_a_full_image() -> None:
    async with server(limit=None, rate=500.0) as srv:
        feed = make_feed(srv)
        state = feed.states[0]
        step = 0

        def done() -> bool:
            nonlocal step
            if step == 0 and state.images == 1 and feed.market_cache.changes > 20:
                step = 1
                srv.invalidate_clocks()
                asyncio.get_running_loop().create_task(srv.drop())
            return step == 1 and state.clock_resets == 1 and state.images == 2

        await run_until(feed, done)
        srv.rate = 0.001  # quiet, then compare with the server's truth
        srv.limit = srv.changes_generated
        await run_until(feed, lambda: caught_up(srv, feed))
        assert_matches_server(srv, feed)


async def test_stalled_connection_is_detected_and_replaced() -> None:
    async with server(limit=None, rate=200.0) as srv:
        feed = make_feed(srv, idle_timeout=1.5)
        silenced = False

        def done() -> bool:
            nonlocal silenced
            if not silenced and feed.market_cache.changes > 10:
                silenced = True
                srv.silence()
            return feed.stats.silences == 1 and feed.states[0].resubscribes == 1

        await run_until(feed, done)
        assert feed.stats.reconnects == 1
        assert srv.heartbeats_received >= 1  # client heartbeats were sent while it was silent
        before = feed.market_cache.changes
        await run_until(feed, lambda: feed.market_cache.changes > before + 5)
        assert all(b.is_valid for b in feed.market_cache.markets.values())


async def test_garbage_and_split_utf8_and_segments() -> None:
    async with server(limit=None, rate=300.0, segment_size=1) as srv:
        srv.split_utf8 = True
        feed = make_feed(srv)
        sent_garbage = False

        def done() -> bool:
            nonlocal sent_garbage
            if not sent_garbage and feed.market_cache.changes > 10:
                sent_garbage = True
                srv.malformed()
            return feed.stats.malformed == 1 and feed.states[0].resubscribes == 1

        await run_until(feed, done)
        book = feed.market_cache["1.900000001"]
        assert book.market_definition is not None
        assert book.market_definition["venue"] == "Café Park"
        assert len(feed.market_cache) == 3  # the segmented image arrived whole
        srv.limit = srv.changes_generated
        await run_until(feed, lambda: caught_up(srv, feed))
        assert_matches_server(srv, feed)


async def test_status_503_marks_books_stale_then_fresh() -> None:
    async with server(limit=None, rate=200.0) as srv:
        feed = make_feed(srv)
        phase = 0

        def done() -> bool:
            nonlocal phase
            books = list(feed.market_cache.markets.values())
            if phase == 0 and len(books) == 3:
                srv.stale = True
                phase = 1
            elif phase == 1 and books and all(b.stale for b in books):
                srv.stale = False
                phase = 2
            return phase == 2 and not any(b.stale for b in books)

        await run_until(feed, done)
        assert phase == 2


async def test_conflation_marks_books_conflated() -> None:
    sub = betfair.MarketSubscription(conflate_ms=50, heartbeat_ms=500)
    async with server(limit=None, rate=400.0) as srv:
        feed = make_feed(srv, [sub])
        await run_until(feed, lambda: any(b.conflated for b in feed.market_cache.markets.values()))
        assert feed.states[0].conflate_ms == 50


async def test_market_filter_and_data_filter_are_applied() -> None:
    sub = betfair.MarketSubscription(
        betfair.MarketFilter(market_ids=["1.900000002"]),
        betfair.MarketDataFilter(fields=["EX_ALL_OFFERS", "EX_MARKET_DEF"]),
        heartbeat_ms=500,
    )
    async with server(limit=None, rate=300.0) as srv:
        feed = make_feed(srv, [sub])
        await run_until(feed, lambda: feed.market_cache.changes > 30)
        assert list(feed.market_cache.markets) == ["1.900000002"]
        book = feed.market_cache["1.900000002"]
        assert all(r.traded_volume == [] and r.last_price_traded is None for r in book.runners)
        assert book.runners[0].available_to_back


async def test_wrong_app_key_is_a_clear_fatal_error() -> None:
    async with server() as srv:
        feed = make_feed(srv, app_key="not-the-key")
        with pytest.raises(betfair.BetfairAuthenticationError) as info:
            async with asyncio.timeout(GUARD):
                async for _ in feed.updates():
                    pass
        assert info.value.code == "INVALID_APP_KEY"
        assert isinstance(info.value, AuthenticationError)
        assert "not-the-key" not in str(info.value)
        assert feed.stats.reconnects == 0


async def test_expired_session_without_login_is_fatal() -> None:
    async with server() as srv:
        feed = make_feed(srv, session="stale-token")
        with pytest.raises(betfair.SessionExpiredError) as info:
            async with asyncio.timeout(GUARD):
                async for _ in feed.updates():
                    pass
        assert info.value.code == "INVALID_SESSION_INFORMATION"
        assert "stale-token" not in repr(info.value)


async def test_certificate_verification_is_on_by_default() -> None:
    async with server() as srv:
        feed = make_feed(srv, ssl_context=ssl.create_default_context())
        with pytest.raises(TLSVerificationError) as info:  # fatal, naming the host
            async with asyncio.timeout(GUARD):
                async for _ in feed.updates():
                    pass
        assert info.value.host == f"{feed.host}:{feed.port}"
        assert "unable to get local issuer certificate" in info.value.reason


async def test_login_keep_alive_and_relogin_after_expiry() -> None:
    async with server(limit=None, rate=200.0) as srv:
        ep = srv.endpoint()
        with pytest.raises(betfair.LoginError) as info:
            await betfair.login(
                "mock-user", "wrong", ep.app_key, url=ep.login_url, ssl_context=ep.ssl_context
            )
        assert info.value.code == "INVALID_USERNAME_OR_PASSWORD"
        assert "wrong" not in str(info.value)
        session = await betfair.login(
            "mock-user", "mock-password", ep.app_key, url=ep.login_url, ssl_context=ep.ssl_context
        )
        await session.keep_alive()
        assert session.keep_alives == 1
        assert session.token.value not in repr(session)
        feed = make_feed(srv, session=session)
        expired = False

        def done() -> bool:
            nonlocal expired
            if not expired and feed.market_cache.changes > 10:
                expired = True
                srv.expire_sessions()
            return expired and session.logins == 2 and feed.states[0].resubscribes == 1

        await run_until(feed, done)
        assert feed.stats.reconnects == 1


async def test_books_flow_through_the_updater_and_hooks() -> None:
    async with server() as srv:
        feed = make_feed(srv, [MARKETS, ORDERS])
        seen: dict[str, int] = {}
        finished = asyncio.Event()

        def hook(book: Any, trades: list[Any]) -> None:
            seen[book.market] = seen.get(book.market, 0) + 1
            assert trades == []
            if srv.changes_generated >= LIMIT and caught_up(srv, feed):
                finished.set()

        updater = Updater(feed, hooks=[hook])
        task = asyncio.create_task(updater.run())
        async with asyncio.timeout(GUARD):
            await finished.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert set(seen) == {
            "1.900000001",
            "1.900000002",
            "1.900000003",
            "1.900000001:orders",
        }
        assert updater.book("betfair", "1.900000002") is feed.market_cache["1.900000002"]

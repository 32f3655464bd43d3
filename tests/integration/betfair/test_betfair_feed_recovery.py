"""The Betfair feed against mock_servers/betfair.py when logging in fails and when a change cannot
be applied: it ends with the error it cannot fix, retries what may pass, and resynchronises
from a full image instead of skipping data."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

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


def session_for(srv: BetfairMockServer, password: str) -> betfair.BetfairSession:
    """A session that has not logged in yet: the feed logs in when it first connects."""
    ep = srv.endpoint()
    return betfair.BetfairSession(
        "mock-user", password, ep.app_key, url=ep.login_url, ssl_context=ep.ssl_context
    )


def assert_matches_server(srv: BetfairMockServer, feed: betfair.Feed) -> None:
    images = srv.market_images()
    assert set(images) == set(feed.market_cache.markets)
    for mid, image in images.items():
        book = feed.market_cache[mid]
        assert book.is_valid, book.invalid_reason
        for rc in image["rc"]:
            runner = book.runner(rc["id"])
            assert runner.available_to_back == sorted(map(tuple, rc.get("atb", [])), reverse=True)
            assert runner.available_to_lay == sorted(map(tuple, rc.get("atl", [])))
            assert runner.traded_volume == sorted(map(tuple, rc.get("trd", [])))


async def test_wrong_password_is_fatal_after_one_login() -> None:
    async with server() as srv:
        feed = make_feed(srv, [MARKETS, ORDERS], session=session_for(srv, "wrong-password"))
        with pytest.raises(betfair.LoginError) as info:
            async with asyncio.timeout(GUARD):  # a hang guard: before the fix it retried forever
                async for _ in feed.updates():
                    pass
        assert info.value.code == "INVALID_USERNAME_OR_PASSWORD"
        assert "wrong-password" not in str(info.value)
        assert srv.login_attempts == 1  # two subscriptions, one refused login, never retried
        assert srv.accepted == 0
        assert feed.stats.connected is False


async def test_refused_login_after_the_session_expired_ends_the_feed() -> None:
    async with server(limit=None, rate=200.0) as srv:
        feed = make_feed(srv, session=session_for(srv, "mock-password"))
        expired = False
        after_expiry: list[tuple[str, bool]] = []
        with pytest.raises(betfair.LoginError) as info:
            async with asyncio.timeout(GUARD):  # a hang guard: before the fix it hung here
                async for update in feed.updates():
                    if expired:
                        after_expiry.append((update.book.market, update.book.is_valid))
                    elif feed.market_cache.changes > 10:
                        expired = True
                        srv.users["mock-user"] = "a-new-password"  # the old one is refused now
                        srv.expire_sessions()
        assert info.value.code == "INVALID_USERNAME_OR_PASSWORD"
        assert srv.login_attempts == 2  # the first login, then one refused attempt
        # Before the error, every market was handed on once more, marked invalid.
        assert {market for market, valid in after_expiry if not valid} == set(srv.market_images())
        assert all(not book.is_valid for book in feed.market_cache.markets.values())
        assert feed.stats.connected is False


async def test_passing_login_failures_are_retried() -> None:
    async with server(limit=None, rate=200.0) as srv:
        srv.fail_logins = 2  # HTTP 503 twice, then the login goes through
        session = session_for(srv, "mock-password")
        feed = make_feed(srv, [MARKETS, ORDERS], session=session)
        await run_until(
            feed,
            lambda: (
                len(feed.market_cache) == 3
                and all(b.is_valid for b in feed.market_cache.markets.values())
                and feed.market_cache.changes > 10
            ),
        )
        assert srv.login_attempts == 3
        assert session.logins == 1  # the subscriptions shared it
        assert feed.stats.errors == 2


async def fault_free_state() -> tuple[dict[str, Any], dict[str, Any]]:
    async with server() as srv:
        feed = make_feed(srv, [MARKETS, ORDERS])
        await run_until(feed, lambda: srv.changes_generated >= LIMIT and caught_up(srv, feed))
        assert_matches_server(srv, feed)
        return market_state(feed), order_state(feed)


async def test_a_change_the_cache_cannot_apply_is_recovered_from_a_full_image() -> None:
    expected_markets, expected_orders = await fault_free_state()
    async with server(rate=3000.0, start_on_subscribe=True) as srv:
        # The first delta of each stream carries an entry no cache can apply, ahead of its real
        # change (for the order stream: an order placed or filled).
        srv.gap("mcm")
        srv.gap("ocm")
        feed = make_feed(srv, [MARKETS, ORDERS])
        invalid_seen: set[str] = set()

        def watch(update: Any) -> None:
            if not update.book.is_valid:
                invalid_seen.add(update.book.market)

        await run_until(
            feed,
            lambda: (
                all(s.images == 2 for s in feed.states)
                and srv.changes_generated >= LIMIT
                and caught_up(srv, feed)
            ),
            watch,
        )
        assert feed.stats.malformed == 2  # one per stream
        assert feed.stats.reconnects == 2
        assert all(s.resubscribes == 0 for s in feed.states)  # images, never a resume past it
        assert "1.900000001:orders" in invalid_seen and len(invalid_seen) >= 2
        assert_matches_server(srv, feed)
        assert all(m.is_valid for m in feed.order_cache.markets.values())
        # Nothing lost: the same books and orders as a run without the bad messages.
        assert market_state(feed) == expected_markets
        assert order_state(feed) == expected_orders

"""The public names of marketstreams.venues.betfair."""

from __future__ import annotations

from marketstreams.venues import betfair


def test_every_public_name_resolves_and_nothing_private_leaks() -> None:
    assert sorted(betfair.__all__) == sorted(set(betfair.__all__))
    for name in betfair.__all__:
        assert getattr(betfair, name) is not None, name
    assert not [n for n in betfair.__all__ if n.startswith("_")]
    for name in ("Feed", "login", "MarketCache", "OrderCache", "MarketSubscription", "MarketBook"):
        assert name in betfair.__all__


def test_feed_satisfies_the_feed_protocol_and_hides_secrets() -> None:
    from marketstreams import ConfigurationError, Feed

    feed = betfair.Feed("app-key-secret", "session-secret", [betfair.MarketSubscription()])
    assert isinstance(feed, Feed)
    assert feed.venue == "betfair"
    assert "secret" not in repr(feed)
    try:
        betfair.Feed("k", "s", [betfair.MarketSubscription()] * 11)
    except ConfigurationError as exc:
        assert "10" in str(exc)
    else:
        raise AssertionError("11 subscriptions need 11 connections, over the limit")

"""Betfair's entry in the venue registry (see :mod:`marketstreams.venues.registry`)."""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

from ...exceptions import ConfigurationError
from ...feed import Feed as FeedInterface
from ...recording.writer import Recorder
from ..registry import Capabilities, VenueSpec, demo_backoff, no_more_options, plain
from .cache import MarketCache
from .feed import DEFAULT_HOST, DEFAULT_PORT, Feed
from .login import DEFAULT_IDENTITY_URL, session_for
from .subscriptions import MarketDataFilter, MarketFilter, MarketSubscription, OrderSubscription

FILTERS = ("event_type_ids", "event_ids", "country_codes", "market_types", "venues")


def feeds(
    markets: list[str], options: dict[str, Any], record: Recorder | None
) -> list[FeedInterface]:
    """One feed: the market stream of ``markets`` and/or the filters, and the order stream when
    ``orders`` is set. Options: ``app_key`` with ``session_token`` or a certificate login
    (``username``, ``password``, ``cert_file``, ``key_file``, ``identity_url``), ``host`` and
    ``port`` or ``url`` (``HOST:PORT``), ``ca_file``, the filters (``event_type_ids``...),
    ``fields``, ``ladder_levels``, ``conflate_ms``, ``orders``."""
    opts = options
    app_key = opts.pop("app_key", None)
    if app_key is None:
        raise ConfigurationError(
            "betfair needs an app key: set BETFAIR_APP_KEY (and a session token or a login)"
        )
    token = opts.pop("session_token", None)
    username, password = opts.pop("username", None), opts.pop("password", None)
    cert_file, key_file = plain(opts.pop("cert_file", None)), plain(opts.pop("key_file", None))
    identity_url = opts.pop("identity_url", None) or DEFAULT_IDENTITY_URL
    host, port = opts.pop("host", DEFAULT_HOST), int(opts.pop("port", DEFAULT_PORT))
    url = opts.pop("url", None)
    if url:
        host, _, port_text = url.rpartition(":") if ":" in url else (url, "", "")
        if port_text and not (port_text.isdigit() and 0 < int(port_text) < 65536):
            raise ConfigurationError(f"betfair's url is HOST:PORT, not {url!r}")
        port = int(port_text) if port_text else DEFAULT_PORT
    ca_file = plain(opts.pop("ca_file", None))
    filters: dict[str, Any] = {k: list(opts.pop(k)) for k in FILTERS if k in opts}
    data = MarketDataFilter(
        fields=tuple(opts.pop("fields", MarketDataFilter().fields)),
        ladder_levels=opts.pop("ladder_levels", None),
    )
    conflate_ms = opts.pop("conflate_ms", None)
    orders = bool(opts.pop("orders", False))
    no_more_options("betfair", opts)
    if not markets and not filters:
        raise ConfigurationError("betfair needs market ids or a filter (event_type_ids, ...)")

    def trusting_ca() -> ssl.SSLContext | None:
        # one per use: the login loads its client certificate into its own
        try:
            return ssl.create_default_context(cafile=ca_file) if ca_file else None
        except (OSError, ssl.SSLError) as exc:  # (a path of the user's: no secret in it)
            raise ConfigurationError(f"cannot use the CA file {ca_file}: {exc}") from None

    session = session_for(
        app_key,
        session_token=token,
        username=username,
        password=password,
        cert_file=cert_file,
        key_file=key_file,
        identity_url=identity_url,
        ssl_context=trusting_ca(),
    )
    market_filter = MarketFilter(market_ids=list(markets) or None, **filters)
    subscriptions: list[Any] = [MarketSubscription(market_filter, data, conflate_ms=conflate_ms)]
    if orders:
        subscriptions.append(OrderSubscription())
    feed: FeedInterface = Feed(
        app_key,
        session,
        subscriptions,
        host=host,
        port=port,
        ssl_context=trusting_ca(),
        record=record,
    )
    return [feed]


async def demo(stack: contextlib.AsyncExitStack) -> list[FeedInterface]:
    """Four markets against the built-in mock server (its own CA, a session token)."""
    from mock_servers.betfair import demo_server

    endpoint = await stack.enter_async_context(demo_server(markets=4, rate=30.0, seed=7))
    feed: FeedInterface = Feed(
        endpoint.app_key,
        endpoint.session,
        [MarketSubscription()],
        host=endpoint.host,
        port=endpoint.port,
        ssl_context=endpoint.ssl_context,
        backoff=demo_backoff(),
    )
    return [feed]


SPEC = VenueSpec(
    name="betfair",
    feeds=feeds,
    from_recording=Feed.from_recording,
    capabilities=Capabilities(
        transport="TLS lines (Exchange Stream API)",
        book="runner ladders per market (MarketBook)",
        sequence="clocks (initialClk/clk): lossless reconnects",
        snapshots="an image per market (img), and on resubscription",
        trades="traded volume per price (trd), no single trades",
        authentication="app key plus session token or certificate login",
    ),
    env={
        "app_key": "BETFAIR_APP_KEY",
        "username": "BETFAIR_USERNAME",
        "password": "BETFAIR_PASSWORD",
        "session_token": "BETFAIR_SESSION_TOKEN",
        "cert_file": "BETFAIR_CERT_FILE",
        "key_file": "BETFAIR_KEY_FILE",
    },
    markets_optional=True,
    historical=MarketCache,
    demo=demo,
    demo_requires=("mock_servers.betfair", "trustme"),
    mock="mock_servers.betfair",
)

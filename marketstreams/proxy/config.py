"""What ``marketstreams proxy`` connects to: markets from the command line or a TOML file, and
the feeds built from them.

A market on the command line is ``venue:market`` (``luno:XBTZAR``, ``bitmex:XBTUSD``,
``betfair:1.234567``). A config file says the same with options per venue::

    host = "127.0.0.1"
    port = 8765
    depth = 20
    app = true
    token_env = "MARKETSTREAMS_PROXY_TOKEN"   # or token = "..." (keep the file private)

    [limits]
    max_pending_seconds = 10

    [venues.luno]
    markets = ["XBTZAR", "ETHZAR"]
    api_key_env = "LUNO_API_KEY"              # any option NAME_env reads NAME from the environment

    [venues.bitmex]
    markets = ["XBTUSD", "ETHUSD"]
    table = "orderBookL2_25"

Credentials come from the environment (each venue has default variable names, see
:data:`VENUES`) or from the file; they are held in :class:`~marketstreams.Secret` objects and
never printed. Adding a venue is one :class:`VenueFeeds` entry in :data:`VENUES`.
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError
from ..feed import Feed
from ..secret import Secret
from .hub import ClientLimits

__all__ = [
    "TOKEN_ENV",
    "VENUES",
    "ProxyConfig",
    "VenueFeeds",
    "VenueSpec",
    "build_feeds",
    "load_config",
    "parse_markets",
]

TOKEN_ENV = "MARKETSTREAMS_PROXY_TOKEN"
_SECRET_OPTIONS = {"api_key", "api_secret", "app_key", "username", "password", "session_token"}


@dataclass
class VenueSpec:
    """The markets of one venue and its options (credentials already wrapped in Secret)."""

    venue: str
    markets: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = {k: ("***" if isinstance(v, Secret) else v) for k, v in self.options.items()}
        return f"VenueSpec({self.venue!r}, {self.markets!r}, {shown!r})"


@dataclass(frozen=True)
class VenueFeeds:
    """How to build one venue's feeds: ``build(spec)`` and the environment variables that
    supply its credentials by default (option name -> variable)."""

    build: Callable[[VenueSpec], list[Feed]]
    env: Mapping[str, str] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Secret) else value


def _luno(spec: VenueSpec) -> list[Feed]:
    from ..venues import luno

    opts = dict(spec.options)
    key, secret = _plain(opts.pop("api_key", None)), _plain(opts.pop("api_secret", None))
    url = opts.pop("url", luno.DEFAULT_URL)
    _no_more(spec.venue, opts)
    return [luno.Feed(pair, key, secret, url=url) for pair in spec.markets]


def _bitmex(spec: VenueSpec) -> list[Feed]:
    try:
        from ..venues.bitmex.feed import DEFAULT_URL
        from ..venues.bitmex.feed import Feed as BitmexFeed
    except ImportError as exc:  # pragma: no cover - only while the adapter is being built
        raise ConfigurationError(f"the BitMEX feed is not available: {exc}") from None
    opts = dict(spec.options)
    table = opts.pop("table", "orderBookL2_25")
    trades = bool(opts.pop("trades", True))
    key, secret = _plain(opts.pop("api_key", None)), opts.pop("api_secret", None)
    url = opts.pop("url", DEFAULT_URL)
    _no_more(spec.venue, opts)
    topics = [f"{table}:{symbol}" for symbol in spec.markets]
    if trades:
        topics += [f"trade:{symbol}" for symbol in spec.markets]
    feed: Feed = BitmexFeed(topics, key, secret, url=url)
    return [feed]


_BETFAIR_FILTERS = ("event_type_ids", "event_ids", "country_codes", "market_types", "venues")


def _betfair(spec: VenueSpec) -> list[Feed]:
    try:
        from ..venues import betfair
        from ..venues.betfair.feed import DEFAULT_HOST, DEFAULT_PORT
        from ..venues.betfair.feed import Feed as BetfairFeed
        from ..venues.betfair.login import DEFAULT_IDENTITY_URL, session_for
    except ImportError as exc:  # pragma: no cover - only while the adapter is being built
        raise ConfigurationError(f"the Betfair feed is not available: {exc}") from None
    opts = dict(spec.options)
    app_key = opts.pop("app_key", None)
    if app_key is None:
        raise ConfigurationError("betfair needs an app key (BETFAIR_APP_KEY or app_key_env)")
    token = opts.pop("session_token", None)
    username, password = opts.pop("username", None), opts.pop("password", None)
    cert_file, key_file = opts.pop("cert_file", None), opts.pop("key_file", None)
    identity_url = opts.pop("identity_url", DEFAULT_IDENTITY_URL)
    host, port = opts.pop("host", DEFAULT_HOST), int(opts.pop("port", DEFAULT_PORT))
    ca_file = opts.pop("ca_file", None)
    filters: dict[str, Any] = {k: list(opts.pop(k)) for k in _BETFAIR_FILTERS if k in opts}
    data = betfair.MarketDataFilter(
        fields=tuple(opts.pop("fields", betfair.MarketDataFilter().fields)),
        ladder_levels=opts.pop("ladder_levels", None),
    )
    conflate_ms = opts.pop("conflate_ms", None)
    _no_more(spec.venue, opts)
    if not spec.markets and not filters:
        raise ConfigurationError("betfair needs market ids or a filter (event_type_ids, ...)")

    def trusting_ca() -> ssl.SSLContext | None:
        # one per use: the login loads its client certificate into its own
        return ssl.create_default_context(cafile=_plain(ca_file)) if ca_file else None

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
    market_filter = betfair.MarketFilter(market_ids=list(spec.markets) or None, **filters)
    subscription = betfair.MarketSubscription(market_filter, data, conflate_ms=conflate_ms)
    feed: Feed = BetfairFeed(
        app_key, session, [subscription], host=host, port=port, ssl_context=trusting_ca()
    )
    return [feed]


def _no_more(venue: str, options: Mapping[str, Any]) -> None:
    if options:
        raise ConfigurationError(f"unknown {venue} option(s): {', '.join(sorted(options))}")


VENUES: dict[str, VenueFeeds] = {
    "luno": VenueFeeds(_luno, {"api_key": "LUNO_API_KEY", "api_secret": "LUNO_API_SECRET"}),
    "bitmex": VenueFeeds(_bitmex, {"api_key": "BITMEX_API_KEY", "api_secret": "BITMEX_API_SECRET"}),
    "betfair": VenueFeeds(
        _betfair,
        {
            "app_key": "BETFAIR_APP_KEY",
            "username": "BETFAIR_USERNAME",
            "password": "BETFAIR_PASSWORD",
            "session_token": "BETFAIR_SESSION_TOKEN",
        },
    ),
}


@dataclass
class ProxyConfig:
    """Everything ``marketstreams proxy`` needs; see the module docstring for the file form."""

    host: str = "127.0.0.1"
    port: int = 8765
    depth: int = 20
    app: bool = False
    token: Secret | None = None
    heartbeat: float = 20.0
    compress: bool = False
    limits: ClientLimits = field(default_factory=ClientLimits)
    venues: list[VenueSpec] = field(default_factory=list)

    def add_markets(self, specs: Iterable[VenueSpec]) -> None:
        """Merge venues' markets into this config (same venue: markets appended)."""
        by_name = {v.venue: v for v in self.venues}
        for spec in specs:
            mine = by_name.get(spec.venue)
            if mine is None:
                self.venues.append(spec)
                by_name[spec.venue] = spec
            else:
                mine.markets.extend(m for m in spec.markets if m not in mine.markets)


def parse_markets(names: Iterable[str]) -> list[VenueSpec]:
    """``["luno:XBTZAR", "luno:ETHZAR", "bitmex:XBTUSD,ETHUSD"]`` -> one spec per venue."""
    specs: dict[str, VenueSpec] = {}
    for name in names:
        venue, sep, markets = name.partition(":")
        venue = venue.strip().lower()
        if not sep or not venue or not markets.strip():
            raise ConfigurationError(f"a market is 'venue:market' (luno:XBTZAR), not {name!r}")
        if venue not in VENUES:
            raise ConfigurationError(f"unknown venue {venue!r}; known: {', '.join(VENUES)}")
        spec = specs.setdefault(venue, VenueSpec(venue))
        for market in markets.split(","):
            market = market.strip()
            if market and market not in spec.markets:
                spec.markets.append(market)
    return list(specs.values())


def _env(name: str, environ: Mapping[str, str], what: str) -> str:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{what} must name an environment variable")
    value = environ.get(name)
    if value is None:
        raise ConfigurationError(f"{what}: the environment variable {name} is not set")
    return value


def _venue_options(venue: str, raw: Mapping[str, Any], environ: Mapping[str, str]) -> VenueSpec:
    markets = raw.get("markets", [])
    if isinstance(markets, str):
        markets = [markets]
    if not isinstance(markets, list) or not all(isinstance(m, str) for m in markets):
        raise ConfigurationError(f"venues.{venue}.markets must be a list of strings")
    spec = VenueSpec(venue, list(markets))
    for key, value in raw.items():
        if key == "markets":
            continue
        if key.endswith("_env"):
            name = key[:-4]
            spec.options[name] = Secret(_env(value, environ, f"venues.{venue}.{key}"))
        elif key in _SECRET_OPTIONS:
            spec.options[key] = Secret(str(value))
        else:
            spec.options[key] = value
    return spec


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> ProxyConfig:
    """Read a TOML config file (see the module docstring)."""
    environ = os.environ if environ is None else environ
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    config = ProxyConfig()
    known = {"host", "port", "depth", "app", "heartbeat", "compress", "token", "token_env"}
    unknown = set(raw) - known - {"limits", "venues"}
    if unknown:
        raise ConfigurationError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    for key in ("host", "port", "depth", "app", "heartbeat", "compress"):
        if key in raw:
            setattr(config, key, raw[key])
    if "token" in raw:
        config.token = Secret(str(raw["token"]))
    elif "token_env" in raw:
        config.token = Secret(_env(raw["token_env"], environ, "token_env"))
    if "limits" in raw:
        try:
            config.limits = ClientLimits(**raw["limits"])
        except TypeError as exc:
            raise ConfigurationError(f"{path}: [limits]: {exc}") from None
    venues = raw.get("venues", {})
    if not isinstance(venues, dict):
        raise ConfigurationError(f"{path}: [venues.NAME] tables expected")
    for venue, options in venues.items():
        if venue not in VENUES:
            raise ConfigurationError(f"{path}: unknown venue {venue!r}; known: {', '.join(VENUES)}")
        config.venues.append(_venue_options(venue, options, environ))
    return config


def build_feeds(specs: Iterable[VenueSpec], environ: Mapping[str, str] | None = None) -> list[Feed]:
    """The feeds of every venue; credentials not given come from the venue's environment
    variables when those are set."""
    environ = os.environ if environ is None else environ
    feeds: list[Feed] = []
    for spec in specs:
        entry = VENUES.get(spec.venue)
        if entry is None:
            raise ConfigurationError(f"unknown venue {spec.venue!r}; known: {', '.join(VENUES)}")
        if not spec.markets and spec.venue != "betfair":  # Betfair may use a filter instead
            raise ConfigurationError(f"no markets given for {spec.venue}")
        for option, variable in entry.env.items():
            if option not in spec.options and environ.get(variable):
                spec.options[option] = Secret(environ[variable])
        feeds.extend(entry.build(spec))
    return feeds

"""What ``marketstreams proxy`` connects to: markets from the command line or a TOML file, and
the feeds built from them.

A market on the command line is ``venue:market`` (``luno:XBTZAR``, ``bitmex:XBTUSD``,
``betfair:1.234567``); a config file gives the proxy's settings and options per venue (the file
form, with an example, is in docs/proxy.md, "Config file"). Credentials come from the
environment (each venue's default variable names are its spec's ``env`` in
:mod:`marketstreams.venues.registry`) or from the file; they are held in
:class:`~marketstreams.Secret` objects and never printed. The venues are the registry's.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import ConfigurationError
from ..feed import Feed
from ..secret import Secret
from ..venues import registry
from .hub import ClientLimits

__all__ = [
    "TOKEN_ENV",
    "ProxyConfig",
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

    def set_option(self, name: str, values: Mapping[str, Any], given: str = "") -> None:
        """Set option ``name`` of each venue in ``values`` (``{"luno": "ws://..."}``), over
        the config file's; a venue without markets is an error."""
        by_name = {v.venue: v for v in self.venues}
        for venue, value in values.items():
            if venue not in by_name:
                raise ConfigurationError(f"{given or name} given for {venue}, which has no markets")
            by_name[venue].options[name] = value


def parse_markets(names: Iterable[str]) -> list[VenueSpec]:
    """``["luno:XBTZAR", "luno:ETHZAR", "bitmex:XBTUSD,ETHUSD"]`` -> one spec per venue."""
    specs: dict[str, VenueSpec] = {}
    for name in names:
        venue, sep, markets = name.partition(":")
        venue = venue.strip().lower()
        if not sep or not venue or not markets.strip():
            raise ConfigurationError(f"a market is 'venue:market' (luno:XBTZAR), not {name!r}")
        registry.require(venue)
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
        try:
            registry.require(venue)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}: {exc}") from None
        config.venues.append(_venue_options(venue, options, environ))
    return config


def build_feeds(specs: Iterable[VenueSpec], environ: Mapping[str, str] | None = None) -> list[Feed]:
    """The feeds of every venue; credentials not given come from the venue's environment
    variables when those are set."""
    environ = os.environ if environ is None else environ
    feeds: list[Feed] = []
    for spec in specs:
        feeds.extend(registry.get(spec.venue).build(spec.markets, spec.options, environ))
    return feeds

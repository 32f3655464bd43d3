"""``marketstreams record VENUE MARKET... --out DIR``: record venues' traffic to files.

::

    marketstreams record luno XBTZAR ETHZAR --out recordings/
    marketstreams record bitmex XBTUSD orderBook10:ETHUSD --out recordings/ --duration 3600
    marketstreams record betfair --event-type-ids 7 --market-types WIN --orders --out recordings/

Credentials come from the environment only (``LUNO_API_KEY`` / ``LUNO_API_SECRET``,
``BITMEX_API_KEY`` / ``BITMEX_API_SECRET``, ``BETFAIR_APP_KEY`` with ``BETFAIR_SESSION_TOKEN`` or
a certificate login: ``BETFAIR_USERNAME`` / ``BETFAIR_PASSWORD`` and ``--cert-file`` /
``--key-file``); they are never written. Stops after ``--duration`` seconds, on Ctrl-C or on
SIGTERM, always finishing the files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from ..exceptions import ConfigurationError, MarketStreamsError
from .writer import MiB, Recorder

__all__ = ["build_feeds", "main"]

VENUES = ("luno", "bitmex", "betfair")


def build_feeds(
    venue: str,
    markets: list[str],
    recorder: Recorder,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
    options: argparse.Namespace | None = None,
) -> list[Any]:
    """The feeds that record ``markets`` of ``venue`` (credentials from ``environ``;
    ``options``: Betfair's filters from the command line)."""
    env = os.environ if environ is None else environ
    if venue == "betfair":
        return [_betfair(markets, recorder, url, env, options or argparse.Namespace())]
    if not markets:
        raise ConfigurationError(f"name at least one {venue} market")
    if venue == "luno":
        from ..venues import luno

        key, secret = env.get("LUNO_API_KEY"), env.get("LUNO_API_SECRET")
        return [
            luno.Feed(pair, key, secret, url=url or luno.DEFAULT_URL, record=recorder)
            for pair in markets
        ]
    if venue == "bitmex":
        from ..venues import bitmex

        topics: list[str] = []
        for market in markets:
            # A bare symbol means its full book and its trades; anything else is a topic.
            if ":" in market or not market.isupper():
                topics.append(market)
            else:
                topics += [f"orderBookL2:{market}", f"trade:{market}"]
        key, secret = env.get("BITMEX_API_KEY"), env.get("BITMEX_API_SECRET")
        if (key is None) != (secret is None):
            raise ConfigurationError("set both BITMEX_API_KEY and BITMEX_API_SECRET, or neither")
        return [bitmex.Feed(topics, key, secret, url=url or bitmex.DEFAULT_URL, record=recorder)]
    raise ConfigurationError(f"cannot record {venue!r} (one of {', '.join(VENUES)})")


def _betfair(
    markets: list[str],
    recorder: Recorder,
    url: str | None,
    env: Mapping[str, str],
    options: argparse.Namespace,
) -> Any:
    import ssl

    from ..venues import betfair
    from ..venues.betfair.login import DEFAULT_IDENTITY_URL, session_for

    app_key = env.get("BETFAIR_APP_KEY")
    if not app_key:
        raise ConfigurationError("set BETFAIR_APP_KEY (and a session token or a login)")
    ca_file = getattr(options, "ca_file", None)
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    session = session_for(
        app_key,
        session_token=env.get("BETFAIR_SESSION_TOKEN"),
        username=env.get("BETFAIR_USERNAME"),
        password=env.get("BETFAIR_PASSWORD"),
        cert_file=getattr(options, "cert_file", None) or env.get("BETFAIR_CERT_FILE"),
        key_file=getattr(options, "key_file", None) or env.get("BETFAIR_KEY_FILE"),
        identity_url=getattr(options, "identity_url", None) or DEFAULT_IDENTITY_URL,
        ssl_context=ssl.create_default_context(cafile=ca_file) if ca_file else None,  # its own
    )
    filters = {
        name: getattr(options, name, None) or None
        for name in ("event_type_ids", "event_ids", "country_codes", "market_types", "venues")
    }
    if not markets and not any(filters.values()):
        raise ConfigurationError("betfair needs market ids or a filter (--event-type-ids ...)")
    market = betfair.MarketSubscription(betfair.MarketFilter(market_ids=markets or None, **filters))
    subscriptions: list[Any] = [market]
    if getattr(options, "orders", False):
        subscriptions.append(betfair.OrderSubscription())
    host, port = betfair.DEFAULT_HOST, betfair.DEFAULT_PORT
    if url:
        host, _, port_text = url.rpartition(":") if ":" in url else (url, "", "")
        port = int(port_text) if port_text else betfair.DEFAULT_PORT
    return betfair.Feed(
        app_key, session, subscriptions, host=host, port=port, ssl_context=context, record=recorder
    )


async def _record(feeds: list[Any], duration: float | None) -> None:
    from ..updater import Updater

    runner = asyncio.create_task(Updater(*feeds).run(), name="marketstreams-record")
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, runner.cancel)
    try:
        done, _ = await asyncio.wait({runner}, timeout=duration)
        if runner in done and not runner.cancelled():
            runner.result()  # a fatal feed error (refused credentials, unknown market)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="marketstreams record",
        description="Record every frame of venue connections to compressed files "
        "(see docs/recording.md). Credentials come from the environment and are never written.",
    )
    p.add_argument("venue", choices=VENUES)
    p.add_argument(
        "markets",
        nargs="*",
        help="luno: pairs (XBTZAR); bitmex: symbols (XBTUSD: its orderBookL2 and trades) "
        "or topics (orderBook10:ETHUSD); betfair: market ids (or filters below)",
    )
    p.add_argument("--out", required=True, help="folder for the recordings")
    p.add_argument("--url", help="the venue's endpoint (betfair: HOST:PORT)")
    betfair = p.add_argument_group("betfair")
    for name in ("event-type-ids", "event-ids", "country-codes", "market-types", "venues"):
        betfair.add_argument(f"--{name}", nargs="+", metavar="X")
    betfair.add_argument("--orders", action="store_true", help="also record the order stream")
    betfair.add_argument("--ca-file", help="trust this CA (a mock server's)")
    betfair.add_argument(
        "--cert-file", help="client certificate for the login (or BETFAIR_CERT_FILE)"
    )
    betfair.add_argument("--key-file", help="its private key (or BETFAIR_KEY_FILE)")
    betfair.add_argument("--identity-url", help="the login endpoint (default: Betfair's)")
    p.add_argument("--compression", choices=("gzip", "zstd", "none"), default="gzip")
    p.add_argument(
        "--rotate-mb", type=float, default=512, help="new part after this many MB (default 512)"
    )
    p.add_argument("--rotate-minutes", type=float, help="new part after this many minutes")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        recorder = Recorder(
            args.out,
            compression=args.compression,
            rotate_bytes=max(1, int(args.rotate_mb * MiB)),
            rotate_seconds=args.rotate_minutes * 60 if args.rotate_minutes else None,
        )
        feeds = build_feeds(args.venue, args.markets, recorder, args.url, options=args)
    except ConfigurationError as exc:
        print(f"marketstreams record: {exc}", file=sys.stderr)
        return 2
    print(f"marketstreams record: recording {len(feeds)} feed(s) into {args.out}", flush=True)
    status = 0
    try:
        asyncio.run(_record(feeds, args.duration))
    except KeyboardInterrupt:
        status = 130
    except MarketStreamsError as exc:
        print(f"marketstreams record: {exc}", file=sys.stderr)
        status = 1
    finally:
        recorder.close()
    stats = recorder.stats
    print(
        f"record: frames={stats.frames} files={stats.files} dropped={stats.dropped} "
        f"bytes={stats.written}",
        flush=True,
    )
    for path in recorder.files:
        print(path)
    return status

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
from ..venues import registry
from .writer import MiB, Recorder

__all__ = ["build_feeds", "main"]

_BETFAIR_FILTERS = ("event_type_ids", "event_ids", "country_codes", "market_types", "venues")
# the options of the command line that go to the venue's feed builder when given
_OPTIONS = ("url", *_BETFAIR_FILTERS, "orders", "ca_file", "cert_file", "key_file", "identity_url")


def build_feeds(
    venue: str,
    markets: list[str],
    recorder: Recorder,
    url: str | None = None,
    environ: Mapping[str, str] | None = None,
    options: argparse.Namespace | None = None,
) -> list[Any]:
    """The feeds that record ``markets`` of ``venue`` (credentials from ``environ``;
    ``options``: the venue options given on the command line, see ``--help``)."""
    env = os.environ if environ is None else environ
    given = dict(vars(options or argparse.Namespace()))
    if url:
        given["url"] = url
    chosen = {name: given[name] for name in _OPTIONS if given.get(name)}
    try:
        spec = registry.get(venue)
    except ConfigurationError:
        raise ConfigurationError(
            f"cannot record {venue!r} (one of {', '.join(registry.names())})"
        ) from None
    if not markets and not spec.markets_optional:
        raise ConfigurationError(f"name at least one {venue} market")
    return spec.build(markets, {**spec.record_options, **chosen}, env, record=recorder)


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
    p.add_argument("venue", choices=registry.names())
    p.add_argument(
        "markets",
        nargs="*",
        help="luno: pairs (XBTZAR); bitmex: symbols (XBTUSD: its orderBookL2 and trades) "
        "or topics (orderBook10:ETHUSD); betfair: market ids (or filters below)",
    )
    p.add_argument("--out", required=True, help="folder for the recordings")
    p.add_argument("--url", help="the venue's endpoint (betfair: HOST:PORT)")
    betfair = p.add_argument_group("betfair")
    for name in _BETFAIR_FILTERS:
        name = name.replace("_", "-")
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

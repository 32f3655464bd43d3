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
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from ..exceptions import ConfigurationError, MarketStreamsError, ReplayError, TLSVerificationError
from ..sources import Source, iter_line_runs
from ..venues import registry
from .format import Kind
from .reader import peek_header, read_records
from .writer import MiB, Recorder

__all__ = ["DESCRIPTION", "add_arguments", "build_feeds", "main", "run"]

logger = logging.getLogger("marketstreams.record")

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


async def _record(feeds: list[Any], duration: float | None, status: _Status | None) -> None:
    from ..updater import Updater

    runner = asyncio.create_task(Updater(*feeds).run(), name="marketstreams-record")
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, runner.cancel)
    ticker = asyncio.create_task(status.run()) if status is not None else None
    try:
        done, _ = await asyncio.wait({runner}, timeout=duration)
        if runner in done and not runner.cancelled():
            runner.result()  # a fatal feed error (refused credentials, unknown market)
    finally:
        for task in (runner, ticker):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


class _Status:
    """The live status line on a terminal: records, bytes written, rate, reconnects."""

    def __init__(self, recorder: Recorder, feeds: list[Any], out: TextIO) -> None:
        self.recorder = recorder
        self.feeds = feeds
        self.out = out
        self.drawn = False

    async def run(self, interval: float = 1.0) -> None:
        last, then = 0, time.monotonic()
        while True:
            await asyncio.sleep(interval)
            stats = self.recorder.stats
            now = time.monotonic()
            rate = (stats.frames - last) / (now - then)
            last, then = stats.frames, now
            reconnects = sum(feed.stats.reconnects for feed in self.feeds)
            self.out.write(
                f"\rrecord: {stats.frames:,} records  {stats.written / MiB:,.2f} MB  "
                f"{rate:,.0f} records/s  reconnects {reconnects}  dropped {stats.dropped}\x1b[K"
            )
            self.out.flush()
            self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()


DESCRIPTION = (
    f"Record every frame of {', '.join(registry.names())} connections to compressed files "
    "(see docs/recording.md). Credentials come from the environment (LUNO_API_KEY, "
    "BITMEX_API_KEY, BETFAIR_APP_KEY with BETFAIR_SESSION_TOKEN, ...) and are never written. "
    "A live status line shows on a terminal."
)
EPILOG = (
    "exit status: 0 done (--duration or SIGTERM), 1 the venue failed (refused credentials, an "
    "untrusted certificate...: one line on stderr, empty files removed), 2 bad arguments, "
    "130 Ctrl-C (the files are finished in every case)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``marketstreams record``, one help line each."""
    p.add_argument("venue", choices=registry.names(), help="the venue to record")
    p.add_argument(
        "markets",
        nargs="*",
        metavar="MARKET",
        help="luno: pairs (XBTZAR); bitmex: symbols (XBTUSD: its orderBookL2 and trades) "
        "or topics (orderBook10:ETHUSD); betfair: market ids (or filters below)",
    )
    p.add_argument("--out", required=True, help="folder for the recordings")
    p.add_argument(
        "--url", help="the venue's endpoint (luno, bitmex: ws://...; betfair: HOST:PORT)"
    )
    p.add_argument(
        "--compression", choices=("gzip", "zstd", "none"), default="gzip", help="(default gzip)"
    )
    p.add_argument(
        "--rotate-mb", type=float, default=512, help="new part after this many MB (default 512)"
    )
    p.add_argument("--rotate-minutes", type=float, help="new part after this many minutes")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    betfair = p.add_argument_group("betfair")
    for name in _BETFAIR_FILTERS:
        flag = name.replace("_", "-")
        betfair.add_argument(
            f"--{flag}", nargs="+", metavar="X", help=f"subscribe by filter: {_FILTER_HELP[name]}"
        )
    betfair.add_argument("--orders", action="store_true", help="also record the order stream")
    betfair.add_argument(
        "--ca-file", help="trust this CA (a mock's: the path `marketstreams mock betfair` prints)"
    )
    betfair.add_argument(
        "--cert-file", help="client certificate for the login (or BETFAIR_CERT_FILE)"
    )
    betfair.add_argument("--key-file", help="its private key (or BETFAIR_KEY_FILE)")
    betfair.add_argument("--identity-url", help="the login endpoint (default: Betfair's)")
    p.epilog = EPILOG


_FILTER_HELP = {
    "event_type_ids": "event types (7: horse racing)",
    "event_ids": "events",
    "country_codes": "countries (GB IE)",
    "market_types": "market types (WIN PLACE)",
    "venues": "race venues",
}


def run(args: argparse.Namespace) -> int:
    """Run ``marketstreams record`` with parsed ``args``; returns the exit status."""
    recorder = Recorder(
        args.out,
        compression=args.compression,
        rotate_bytes=max(1, int(args.rotate_mb * MiB)),
        rotate_seconds=args.rotate_minutes * 60 if args.rotate_minutes else None,
    )
    try:
        feeds = build_feeds(args.venue, args.markets, recorder, args.url, options=args)
    except ConfigurationError as exc:
        recorder.close()
        print(f"marketstreams record: {exc}", file=sys.stderr)
        return 2
    print(f"marketstreams record: recording {len(feeds)} feed(s) into {args.out}", flush=True)
    status = 0
    live = _Status(recorder, feeds, sys.stderr) if sys.stderr.isatty() else None
    try:
        asyncio.run(_record(feeds, args.duration, live))
    except KeyboardInterrupt:
        status = 130
    except TLSVerificationError as exc:
        fix = "trust its CA with --ca-file FILE" if args.venue == "betfair" else "check --url"
        print(f"marketstreams record: {exc}; {fix}", file=sys.stderr)
        status = 1
    except MarketStreamsError as exc:
        print(f"marketstreams record: {exc}", file=sys.stderr)
        status = 1
    finally:
        if live is not None:
            live.close()
        recorder.close()
    files = recorder.files
    if status == 1:
        files = [path for path in files if not _remove_if_empty(path, args.out)]
    stats = recorder.stats
    print(
        f"record: frames={stats.frames} files={len(files)} dropped={stats.dropped} "
        f"bytes={stats.written}",
        flush=True,
    )
    for path in files:
        print(path)
    return status


def _remove_if_empty(path: Path, out: str) -> bool:
    """Remove a file of a failed run that holds nothing received (and the folders it leaves
    empty under ``out``); True when removed."""
    source = Source(str(path))
    try:
        if peek_header(source) is not None:
            if any(record.kind in Kind.received for record in read_records(source)):
                return False
        elif any(block for _, block in iter_line_runs(source)):
            return False  # a companion (Betfair historical) file with lines
        path.unlink()
    except (OSError, ReplayError) as exc:  # unreadable: left where it is, said
        logger.warning("left %s: %s", path, exc)
        return False
    top = Path(out).resolve()
    folder = path.parent.resolve()
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
        folder = folder.parent
    return True


def main(argv: list[str] | None = None) -> int:
    """``marketstreams record VENUE MARKET... --out DIR [options]``; returns the exit status."""
    p = argparse.ArgumentParser(prog="marketstreams record", description=DESCRIPTION, epilog=EPILOG)
    add_arguments(p)
    return run(p.parse_args(argv))

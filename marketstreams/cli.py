"""The ``marketstreams`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING

from .venues import registry

if TYPE_CHECKING:
    from .feed import Feed
    from .proxy.config import ProxyConfig

__all__ = ["main"]

DEFAULT_PORT = 8765


def _port(text: str) -> int:
    """An argparse type: a TCP port (0: any free one)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {text}")
    return port


def _positive(text: str) -> float:
    """An argparse type: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketstreams",
        description="Live market data from Betfair, Luno and BitMEX into consolidated books.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="run the demo: mock venues, the real feeds, the proxy and the viewer",
        description="The credential-free demo: every venue's mock server, the real feeds "
        "connected to them, the proxy and the viewer, and a summary per market on the terminal.",
        epilog="exit status: 0 done (--duration or SIGTERM), 130 Ctrl-C (the final demo: line "
        "is printed in every case), 1 the viewer's port is taken",
    )
    demo.add_argument("--duration", type=float, default=None, help="exit 0 after S seconds")
    demo.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"viewer port on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if it is taken)",
    )
    demo.add_argument("--open", action="store_true", help="open the viewer in a browser")
    demo.add_argument("--no-viewer", action="store_true", help="no proxy, no viewer")

    proxy = sub.add_parser(
        "proxy",
        help="rebroadcast books over websocket (and serve the viewer with --app)",
        description="Connect to venues, keep their books and rebroadcast them over websocket "
        "(see docs/proxy.md). Credentials come from the environment (LUNO_API_KEY, "
        "LUNO_API_SECRET, BITMEX_API_KEY, ...) or the config file.",
        epilog="exit status: 1 a venue failed (refused credentials, an untrusted certificate..."
        ") or the port is taken, 2 bad arguments or config, 130 Ctrl-C",
    )
    proxy.add_argument(
        "markets", nargs="*", metavar="VENUE:MARKET", help="e.g. luno:XBTZAR bitmex:XBTUSD"
    )
    proxy.add_argument("--config", help="a TOML config file (see docs/proxy.md)")
    proxy.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="VENUE=URL",
        help="a venue's endpoint, e.g. luno=ws://127.0.0.1:PORT (a mock's); repeat per venue",
    )
    proxy.add_argument(
        "--ca-file",
        action="append",
        default=[],
        metavar="VENUE=FILE",
        help="trust this CA for a venue, e.g. betfair=FILE (the path a betfair mock prints)",
    )
    proxy.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    proxy.add_argument("--port", type=_port, help=f"port (default {DEFAULT_PORT})")
    proxy.add_argument(
        "--depth", type=_at_least_one, help="levels a side in book messages (default 20)"
    )
    proxy.add_argument("--app", action="store_true", help="serve the viewer at /")
    proxy.add_argument("--open", action="store_true", help="open the viewer in a browser")
    proxy.add_argument(
        "--token",
        help="require this token from clients (prefer the MARKETSTREAMS_PROXY_TOKEN "
        "environment variable: a command line is visible to other users)",
    )
    proxy.add_argument(
        "--max-pending-seconds",
        type=_positive,
        help="disconnect a client whose oldest undelivered update is this old (default 10)",
    )

    mock = sub.add_parser(
        "mock",
        help="run a mock venue server until interrupted",
        description="Run a venue's mock server (real sockets on 127.0.0.1) until interrupted; "
        "it prints where to connect. Each venue's own options: marketstreams mock VENUE --help.",
        epilog="exit status: 0 stopped by Ctrl-C, 1 the port is taken, 2 bad arguments",
    )
    mocks = mock.add_subparsers(dest="venue", required=True, metavar="VENUE")
    for name in registry.names():
        # (its options, --help included, are the mock server's own: main() passes them on)
        mocks.add_parser(
            name,
            help=f"the {name} mock (its options: marketstreams mock {name} --help)",
            add_help=False,
        )

    from .recording.cli import DESCRIPTION as RECORD_DESCRIPTION
    from .recording.cli import add_arguments as record_arguments
    from .replay.cli import DESCRIPTION as REPLAY_DESCRIPTION
    from .replay.cli import add_arguments as replay_arguments

    record = sub.add_parser(
        "record",
        help=f"record {', '.join(registry.names())} traffic to compressed files",
        description=RECORD_DESCRIPTION,
    )
    record_arguments(record)
    replay = sub.add_parser(
        "replay",
        help="replay Betfair files and recordings (--speed X, --json)",
        description=REPLAY_DESCRIPTION,
    )
    replay_arguments(replay)
    # (no option of its own, "-" included: every argument, --help too, goes to simulation.cli)
    simulate = sub.add_parser("simulate", help="backtest strategies", prefix_chars="\0")
    simulate.add_argument("args", nargs=argparse.REMAINDER, help="PATH... --strategy mod:Class")
    for command in (demo, proxy, mock, record, replay, simulate):
        command.set_defaults(subparser=command)  # (its own argument errors name it)
    return parser


def _proxy(args: argparse.Namespace) -> int:
    import dataclasses

    from .exceptions import ConfigurationError
    from .proxy.config import TOKEN_ENV, ProxyConfig, build_feeds, load_config, parse_markets
    from .secret import Secret

    try:
        config = load_config(args.config) if args.config else ProxyConfig()
        config.add_markets(parse_markets(args.markets))
        config.set_option("url", _venue_values(args.url, "--url"), "--url")
        config.set_option("ca_file", _venue_values(args.ca_file, "--ca-file"), "--ca-file")
        if not config.venues:
            raise ConfigurationError("give markets (luno:XBTZAR ...) or a --config file")
        for name in ("host", "port", "depth"):
            if getattr(args, name) is not None:
                setattr(config, name, getattr(args, name))
        config.app = config.app or args.app
        if args.token:
            config.token = Secret(args.token)
        elif config.token is None and os.environ.get(TOKEN_ENV):
            config.token = Secret(os.environ[TOKEN_ENV])
        if args.max_pending_seconds is not None:
            config.limits = dataclasses.replace(
                config.limits, max_pending_seconds=args.max_pending_seconds
            )
        feeds = build_feeds(config.venues)
    except ConfigurationError as exc:
        print(f"marketstreams proxy: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run_proxy(config, feeds, args.open))


def _venue_values(given: list[str], flag: str) -> dict[str, str]:
    """``["luno=ws://...", ...]`` -> ``{"luno": "ws://..."}`` (each venue checked)."""
    from .exceptions import ConfigurationError

    values: dict[str, str] = {}
    for item in given:
        venue, sep, value = item.partition("=")
        if not sep or not value:
            raise ConfigurationError(f"{flag} takes VENUE=VALUE (luno=ws://...), not {item!r}")
        registry.require(venue)
        values[venue] = value
    return values


async def _run_proxy(config: ProxyConfig, feeds: list[Feed], open_browser: bool) -> int:
    from .exceptions import MarketStreamsError, TLSVerificationError
    from .proxy import Proxy
    from .updater import Updater

    updater = Updater(*feeds)
    try:
        proxy = Proxy(
            updater,
            host=config.host,
            port=config.port,
            depth=config.depth,
            token=config.token,
            app=config.app,
            limits=config.limits,
            heartbeat=config.heartbeat,
            compress=config.compress,
        )
    except (TypeError, ValueError) as exc:  # a config file's value of the wrong kind
        print(f"marketstreams proxy: {exc}", file=sys.stderr)
        return 2
    try:
        await proxy.start()
    except (OSError, OverflowError) as exc:  # taken, not allowed, out of range (a config's)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(
            f"marketstreams proxy: cannot listen on {config.host}:{config.port}: {reason}",
            file=sys.stderr,
        )
        return 1
    where = proxy.url if config.app else proxy.ws_url
    print(f"marketstreams proxy: serving {len(feeds)} feed(s) on {where}", flush=True)
    if open_browser and config.app:
        from .demo import launch_browser

        await launch_browser(proxy.url)
    try:
        await updater.run()
    except TLSVerificationError as exc:
        print(
            f"marketstreams proxy: {exc}; trust its CA with --ca-file VENUE=FILE (or ca_file "
            "in the config's venue table)",
            file=sys.stderr,
        )
        return 1
    except MarketStreamsError as exc:  # refused credentials, an unknown market: no retry helps
        print(f"marketstreams proxy: {exc}", file=sys.stderr)
        return 1
    finally:
        await proxy.stop()
    return 0


class _ReportedByTheCommand(logging.Filter):
    """Drops the logs of failures the command reports itself, as one line each: the Updater's
    of a feed's fatal error, a replay's of a failed source (marked ``in_result``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "in_result", False):
            return False
        return not (record.name == "marketstreams.updater" and record.msg == _FEED_STOPPED)


_FEED_STOPPED = "feed %s stopped: %s"


def main(argv: list[str] | None = None) -> int:
    """``marketstreams COMMAND ...``; returns the exit status (see each command's --help)."""
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "mock":
        args.subparser.error(f"unrecognized arguments: {' '.join(rest)}")
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_ReportedByTheCommand())
    try:
        if args.command == "demo":
            from .demo import run_demo

            return asyncio.run(
                run_demo(
                    args.duration,
                    port=args.port,
                    open_browser=args.open,
                    viewer=not args.no_viewer,
                )
            )
        if args.command == "proxy":
            return _proxy(args)
        if args.command == "record":
            from .recording.cli import run as record

            return record(args)
        if args.command == "replay":
            from .replay.cli import run as replay

            return replay(args, args.subparser)
        if args.command == "simulate":
            from .simulation.cli import main as simulate_main

            return simulate_main(args.args)
        if args.command == "mock":
            mock = registry.get(args.venue).mock
            if mock is None:
                print(f"marketstreams mock: {args.venue} has no mock server", file=sys.stderr)
                return 2
            try:
                return int(importlib.import_module(mock).main(rest))
            except (OSError, OverflowError) as exc:  # cannot listen there (a port out of range)
                print(f"marketstreams mock {args.venue}: {exc}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``marketstreams`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .feed import Feed
    from .proxy.config import ProxyConfig

__all__ = ["main"]

MOCK_VENUES = ("betfair", "bitmex", "luno")
DEFAULT_PORT = 8765


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketstreams",
        description="Live market data from Betfair, Luno and BitMEX into consolidated books.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="run the demo: mock venues, the real feeds, the proxy and the viewer"
    )
    demo.add_argument("--duration", type=float, default=None, help="exit 0 after S seconds")
    demo.add_argument(
        "--port",
        type=int,
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
    )
    proxy.add_argument(
        "markets", nargs="*", metavar="VENUE:MARKET", help="e.g. luno:XBTZAR bitmex:XBTUSD"
    )
    proxy.add_argument("--config", help="a TOML config file (see docs/proxy.md)")
    proxy.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    proxy.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT})")
    proxy.add_argument("--depth", type=int, help="levels a side in book messages (default 20)")
    proxy.add_argument("--app", action="store_true", help="serve the viewer at /")
    proxy.add_argument("--open", action="store_true", help="open the viewer in a browser")
    proxy.add_argument(
        "--token",
        help="require this token from clients (prefer the MARKETSTREAMS_PROXY_TOKEN "
        "environment variable: a command line is visible to other users)",
    )
    proxy.add_argument(
        "--max-pending-seconds",
        type=float,
        help="disconnect a client whose oldest undelivered update is this old (default 10)",
    )

    mock = sub.add_parser("mock", help="run a mock venue server until interrupted")
    mock.add_argument("venue", choices=MOCK_VENUES, help="which venue to serve")
    mock.add_argument("args", nargs=argparse.REMAINDER, help="the mock server's own options")

    # record / replay parse their own options (marketstreams.recording.cli, marketstreams.replay)
    record = sub.add_parser("record", help="record venues' traffic to compressed files")
    record.add_argument("first", metavar="VENUE", help="luno or bitmex (then: --help)")
    record.add_argument("args", nargs=argparse.REMAINDER, help="markets, --out DIR, ...")
    replay = sub.add_parser("replay", help="replay Betfair files and recordings (--speed X)")
    replay.add_argument("first", metavar="PATH", help="a file or folder (then: --help)")
    replay.add_argument("args", nargs=argparse.REMAINDER, help="more paths, --speed X, ...")
    # (no option of its own, "-" included: every argument, --help too, goes to simulation.cli)
    simulate = sub.add_parser("simulate", help="backtest strategies", prefix_chars="\0")
    simulate.add_argument("args", nargs=argparse.REMAINDER, help="PATH... --strategy mod:Class")
    return parser


def _proxy(args: argparse.Namespace) -> int:
    import dataclasses

    from .exceptions import ConfigurationError
    from .proxy.config import TOKEN_ENV, ProxyConfig, build_feeds, load_config, parse_markets
    from .secret import Secret

    try:
        config = load_config(args.config) if args.config else ProxyConfig()
        config.add_markets(parse_markets(args.markets))
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


async def _run_proxy(config: ProxyConfig, feeds: list[Feed], open_browser: bool) -> int:
    from .exceptions import MarketStreamsError
    from .proxy import Proxy
    from .updater import Updater

    updater = Updater(*feeds)
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
    try:
        await proxy.start()
    except OSError as exc:
        print(
            f"marketstreams proxy: cannot listen on {config.host}:{config.port}: {exc.strerror}",
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
    except MarketStreamsError as exc:  # refused credentials, an unknown market: no retry helps
        print(f"marketstreams proxy: {exc}", file=sys.stderr)
        return 1
    finally:
        await proxy.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = logging.WARNING - 10 * args.verbose
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
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
            from .recording.cli import main as record_main

            return record_main([args.first, *args.args])
        if args.command == "replay":
            from .replay import main as replay_main

            return replay_main([args.first, *args.args])
        if args.command == "simulate":
            from .simulation.cli import main as simulate_main

            return simulate_main(args.args)
        if args.command == "mock":
            module = importlib.import_module(f"mock_servers.{args.venue}")
            return int(module.main(args.args))
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

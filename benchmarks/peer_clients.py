"""Third-party clients against the mock venues, side by side with marketstreams (issue 15).

Each peer runs in its own environment (``.venv-peers``, made by ``benchmarks/peers.sh``; never a
project dependency) and connects to a mock server this script runs, next to a marketstreams feed
on the same server. Once the market stops, every client must hold the same top of book as the
mock's true book. Printed per peer: updates it received, whether it ended without an error, and
whether its top of book equals ours and the truth.

* Luno: ``luno_streams`` on a stream with a 1 s keepalive and two quiet spells of at least three
  keepalives each between bursts of updates (``luno_streams`` compares frames with ``""``: an
  empty keepalive frame killed it with JSONDecodeError).
* Betfair: ``betfairlightweight``'s ``BetfairStream`` with its listener in lightweight mode and in
  its default mode (resources: it builds ``MarketDefinition`` objects, which need every field a
  real definition has).
* BitMEX: cryptofeed's BitMEX feed (L2 book and trades of XBTUSD). It takes ``wss://`` only, so
  it reaches the mock through a TLS relay with a throwaway CA; its REST instrument lookup is
  answered beforehand with the one instrument served.

Usage (from the repository root)::

    .venv/bin/python benchmarks/peer_clients.py [--venue luno|betfair|bitmex|all] [--updates N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
PAIR = "XBTZAR"
LEVELS = 5  # levels a side compared on Luno
GUARD = 120.0  # seconds before a wait that never ends is reported as a failure


# -- the peers' side (runs inside .venv-peers: the standard library and the peer only) ----------


async def peer_luno(url: str) -> None:
    """luno_streams' own run loop on the mock; reports once it has the target sequence."""
    from luno_streams import Updater

    loop = asyncio.get_running_loop()
    target_line = loop.run_in_executor(None, sys.stdin.readline)
    done = asyncio.Event()
    calls = 0
    target: int | None = None

    def hook(book: Any, trades: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            print("ready", flush=True)
        if target is not None and updater.sequence >= target:
            done.set()

    updater = Updater(PAIR, "key", "secret", hooks=[hook])
    updater.url = f"{url}/api/1/stream/{PAIR}"
    run = asyncio.create_task(updater.run())
    await asyncio.wait({run, target_line}, return_when=asyncio.FIRST_COMPLETED)
    if target_line.done():  # else luno_streams died first: report that at once
        target = int(target_line.result())
        if updater.sequence is not None and updater.sequence >= target:
            done.set()
    finished = asyncio.create_task(done.wait())
    await asyncio.wait({run, finished}, timeout=GUARD, return_when=asyncio.FIRST_COMPLETED)
    error = None
    if run.done():
        exc = run.exception()
        error = f"{type(exc).__name__}: {exc}" if exc is not None else "run() returned"
    elif not done.is_set():
        error = f"no sequence {target} within {GUARD:g} s"
    book = updater.consolidated_order_book
    print(
        json.dumps(
            {
                "updates": calls,
                "sequence": updater.sequence,
                "error": error,
                "top": {
                    side: [[str(p), str(v)] for p, v in book[side][:LEVELS]]
                    for side in ("bids", "asks")
                },
            }
        ),
        flush=True,
    )
    run.cancel()
    finished.cancel()


def peer_betfair(port: int, lightweight: bool) -> None:
    """betfairlightweight's BetfairStream on the mock; reports once it has the target count of
    market changes (one output book per change)."""
    import logging
    import queue
    import threading

    from betfairlightweight.streaming.betfairstream import BetfairStream
    from betfairlightweight.streaming.listener import StreamListener

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    q: queue.Queue[Any] = queue.Queue()
    listener = StreamListener(output_queue=q, max_latency=None, lightweight=lightweight)
    stream = BetfairStream(
        unique_id=0,
        listener=listener,
        app_key="mock-app-key",
        session_token="mock-session",
        timeout=30,
        buffer_size=1024,  # its create_stream default
        host=None,
    )
    stream.host = "127.0.0.1"
    stream._BetfairStream__port = port  # type: ignore[attr-defined]  # no public way to aim it
    stream.subscribe_to_markets(
        market_filter={},
        market_data_filter={"fields": ["EX_ALL_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF"]},
        heartbeat_ms=5000,
    )
    failures: list[str] = []

    def run_stream() -> None:
        try:
            stream.start()
        except Exception as exc:
            failures.append(f"{type(exc).__name__}: {exc}")

    threading.Thread(target=run_stream, daemon=True).start()
    target: list[int] = []
    threading.Thread(target=lambda: target.append(int(sys.stdin.readline())), daemon=True).start()
    updates = 0
    last: dict[str, Any] = {}
    error = None
    deadline = time.monotonic() + GUARD
    while not target or updates < target[0]:
        if failures:
            error = failures[0]
            break
        if time.monotonic() > deadline:
            error = f"{updates} updates, no more within {GUARD:g} s"
            break
        try:
            books = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if updates == 0:
            print("ready", flush=True)
        updates += len(books)
        for book in books:
            market_id = book["marketId"] if lightweight else book.market_id
            last[market_id] = book
    stream.stop()
    tops: dict[str, dict[str, list[Any]]] = {}
    for market_id, book in last.items():
        runners = book["runners"] if lightweight else book.runners
        tops[market_id] = {}
        for runner in runners:
            if lightweight:
                sid, ex = runner["selectionId"], runner["ex"]
                back = [[o["price"], o["size"]] for o in ex["availableToBack"][:1]]
                lay = [[o["price"], o["size"]] for o in ex["availableToLay"][:1]]
            else:
                sid, ex = runner.selection_id, runner.ex
                back = [[o.price, o.size] for o in ex.available_to_back[:1]]
                lay = [[o.price, o.size] for o in ex.available_to_lay[:1]]
            tops[market_id][str(sid)] = [back[0] if back else None, lay[0] if lay else None]
    kind = type(next(iter(last.values()))).__name__ if last else None
    print(json.dumps({"updates": updates, "error": error, "tops": tops, "book_type": kind}))


def peer_bitmex(url: str, ca_file: str) -> None:
    """cryptofeed's BitMEX feed on the mock (L2 book and trades of XBTUSD); reports once its
    book callback has run the target number of times (the partial, then one per message)."""
    import ssl
    import threading

    from cryptofeed import FeedHandler
    from cryptofeed.connection import WebsocketEndpoint
    from cryptofeed.defines import L2_BOOK, TRADES
    from cryptofeed.exchanges import Bitmex
    from cryptofeed.symbols import Symbols

    # No REST here: the instrument list it would fetch, for the one symbol served.
    instrument = {"symbol": "XBTUSD", "rootSymbol": "XBT", "quoteCurrency": "USD"}
    instrument |= {"typ": "FFWCSX", "tickSize": 0.5, "isQuanto": False}
    Symbols.set(Bitmex.id, *Bitmex._parse_symbol_data([instrument]))
    # It takes wss:// only: the mock is reached through a TLS relay trusting a throwaway CA.
    context = ssl.create_default_context(cafile=ca_file)
    options = {"compression": None, "ssl": context}
    Bitmex.websocket_endpoints = [WebsocketEndpoint(url, options=options)]
    done = asyncio.Event()
    target: list[int] = []
    counts = {"book": 0, "trades": 0}
    last: dict[str, Any] = {}

    async def on_book(book: Any, receipt: float) -> None:
        counts["book"] += 1
        if counts["book"] == 1:
            print("ready", flush=True)
        last["book"] = book.book
        if target and counts["book"] >= target[0]:
            done.set()

    async def on_trade(trade: Any, receipt: float) -> None:
        counts["trades"] += 1

    def read_target() -> None:
        target.append(int(sys.stdin.readline()))
        loop.call_soon_threadsafe(lambda: counts["book"] >= target[0] and done.set())

    # Its log goes to stderr and to a file: the file into the void, not the working directory.
    handler = FeedHandler(config={"log": {"filename": os.devnull, "level": "WARNING"}})
    handler.add_feed(
        Bitmex(
            symbols=["BTC-USD-PERP"],
            channels=[L2_BOOK, TRADES],
            callbacks={L2_BOOK: on_book, TRADES: on_trade},
        )
    )
    # Its FeedHandler() sets an event loop policy: the loop comes after it.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler.run(start_loop=False, install_signal_handlers=False)
    threading.Thread(target=read_target, daemon=True).start()
    error = None
    try:
        loop.run_until_complete(asyncio.wait_for(done.wait(), GUARD))
    except TimeoutError:
        error = f"{counts['book']} book callbacks, no more within {GUARD:g} s"
    book = last.get("book")
    top = None
    if book is not None:
        top = {
            "bids": [[p, s] for p, s in book.bids.to_list()[:LEVELS]],
            "asks": [[p, s] for p, s in book.asks.to_list()[:LEVELS]],
        }
    print(json.dumps({"updates": counts["book"], "trades": counts["trades"], "error": error,
                      "top": top}, default=str), flush=True)  # fmt: skip
    os._exit(0)  # its connection tasks would keep a clean shutdown waiting


# -- our side --------------------------------------------------------------------------------


class Peer:
    """A peer process: announces ``ready``, gets its target on stdin, answers one JSON line."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.early: dict[str, Any] | None = None

    @classmethod
    async def start(cls, python: Path, name: str, *args: str) -> Peer:
        proc = await asyncio.create_subprocess_exec(
            str(python),
            __file__,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, name)

    async def ready(self) -> None:
        """Wait for ``ready``; a peer that fails first keeps its report for :meth:`result`."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(GUARD):
            line = await self.proc.stdout.readline()
        if line.strip() != b"ready":
            self.early = json.loads(line) if line.startswith(b"{") else {"error": line.decode()}
            self.early.setdefault("error", f"did not start: {await self.stderr()}")

    async def result(self, target: int) -> dict[str, Any]:
        if self.early is not None:
            return self.early
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{target}\n".encode())
        await self.proc.stdin.drain()
        async with asyncio.timeout(GUARD + 30):
            line = await self.proc.stdout.readline()
            await self.proc.wait()
        if not line:
            return {"updates": 0, "error": f"exited: {await self.stderr()}"}
        result: dict[str, Any] = json.loads(line)
        return result

    async def stderr(self) -> str:
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode(errors="replace")[-2000:]


async def until(changed: asyncio.Event, predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds, re-checked each time ``changed`` is set."""
    async with asyncio.timeout(GUARD):
        while not predicate():
            changed.clear()
            await changed.wait()


async def stop(task: asyncio.Task[None], *peers: Peer) -> None:
    """Stop our Updater and any peer process still running."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    for peer in peers:
        if peer.proc.returncode is None:
            peer.proc.kill()
            await peer.proc.wait()


def decimal_levels(levels: list[list[Any]]) -> list[list[Decimal]]:
    return [[Decimal(str(p)).normalize(), Decimal(str(v)).normalize()] for p, v in levels]


async def run_luno(peers: Path, updates: int) -> bool:
    from marketstreams import Updater
    from marketstreams.venues import luno
    from mock_servers.luno import LunoMockServer

    async with LunoMockServer(
        pairs=(PAIR,), seed=15, orders=800, rate=0, keepalive_interval=1.0, ping_interval=None
    ) as mock:
        mock.pause()
        feed = luno.Feed(PAIR, "key", "secret", url=mock.url, silence_timeout=10.0)
        changed = asyncio.Event()
        ours = 0

        def hook(book: Any, trades: Any) -> None:
            nonlocal ours
            ours += 1
            changed.set()

        task = asyncio.create_task(Updater(feed, hooks=[hook]).run())
        peer = await Peer.start(peers, "luno_streams", "--peer-luno", mock.url)
        try:
            await until(changed, lambda: feed.book.is_valid)
            # luno_streams says nothing on its snapshot: an update at a time until its hook runs.
            ready = asyncio.create_task(peer.ready())
            while not ready.done():
                await mock.step(1)
                await asyncio.wait({ready}, timeout=0.1)
            await ready
            quiet_spells = 0
            for burst in (updates // 2, updates - updates // 2):
                for _ in range(burst // 10):
                    await mock.step(10)
                    await asyncio.sleep(0.01)
                # A quiet spell: three keepalives to each of the two clients.
                async with asyncio.timeout(GUARD):
                    await mock.wait_keepalives(mock.keepalives_sent + 6)
                quiet_spells += 1
            target = mock.sequence(PAIR)
            await until(changed, lambda: feed.book.sequence == target)
            theirs = await peer.result(target)
        finally:
            await stop(task, peer)
        truth = mock.true_depth(PAIR)
        mine = feed.book.depth(LEVELS)
        ok = True
        print(
            f"luno: {mock.keepalives_sent} keepalives ('\"\"', 1 s) sent to the two clients, "
            f"{quiet_spells} quiet spells of at least 3 each"
        )
        print(
            f"  marketstreams: {ours} updates, sequence {feed.book.sequence}, "
            f"malformed {feed.stats.malformed}, connects {feed.stats.connects}"
        )
        same_truth = all(
            decimal_levels(mine[s]) == decimal_levels(truth[s][:LEVELS]) for s in ("bids", "asks")
        )
        print(f"  marketstreams top {LEVELS} levels == mock truth: {same_truth}")
        ok &= same_truth and feed.stats.malformed == 0
        error = theirs.get("error")
        top = theirs.get("top")
        same = top is not None and all(
            decimal_levels(top[s]) == decimal_levels(mine[s]) for s in ("bids", "asks")
        )
        print(
            f"  luno_streams: {theirs.get('updates')} updates, sequence {theirs.get('sequence')}, "
            f"error {error}; top {LEVELS} levels == marketstreams: {same}"
        )
        best_bid, best_ask = mine["bids"][0], mine["asks"][0]
        print(f"  best bid {best_bid[0]} x {best_bid[1]}, best ask {best_ask[0]} x {best_ask[1]}")
        return ok and same and error is None


def betfair_tops(images: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[Any]]]:
    """Best back and lay per runner of the mock's true images."""
    tops: dict[str, dict[str, list[Any]]] = {}
    for market_id, image in images.items():
        tops[market_id] = {}
        for rc in image.get("rc", ()):
            backs = [(p, s) for p, s in rc.get("atb", ()) if s > 0]
            lays = [(p, s) for p, s in rc.get("atl", ()) if s > 0]
            back = list(max(backs)) if backs else None
            lay = list(min(lays)) if lays else None
            tops[market_id][str(rc["id"])] = [back, lay]
    return tops


async def run_betfair(peers: Path, updates: int) -> bool:
    from marketstreams import Updater
    from marketstreams.venues import betfair
    from mock_servers.betfair import BetfairMockServer

    async with BetfairMockServer(markets=3, runners=4, seed=15, limit=0, login=False) as mock:
        ep = mock.endpoint()
        feed = betfair.Feed(
            ep.app_key,
            ep.session,
            [betfair.MarketSubscription(heartbeat_ms=5000)],
            host=ep.host,
            port=ep.port,
            ssl_context=ep.ssl_context,
        )
        changed = asyncio.Event()
        updater = Updater(feed, hooks=[lambda book, trades: changed.set()])
        task = asyncio.create_task(updater.run())
        modes = {"lightweight": "1", "default (resources)": "0"}
        clients = {
            name: await Peer.start(peers, name, "--peer-betfair", str(ep.port), flag)
            for name, flag in modes.items()
        }
        try:
            for peer in clients.values():
                await peer.ready()
            await until(changed, lambda: len(updater.books) == 3)
            for _ in range(updates // 20):
                await mock.step(20)
                await asyncio.sleep(0.005)
            state = feed.states[0]
            await until(
                changed,
                lambda: (
                    state.initial_clk is not None
                    and state.changes == mock.stream_total(state.initial_clk)
                ),
            )
            target = state.changes
            results = {name: await peer.result(target) for name, peer in clients.items()}
        finally:
            await stop(task, *clients.values())
        truth = betfair_tops(mock.market_images())
        mine: dict[str, dict[str, list[Any]]] = {}
        for (_, market_id), book in updater.books.items():
            mine[market_id] = {}
            for runner in book.runners:
                back, lay = runner.best_back(1), runner.best_lay(1)
                mine[market_id][str(runner.selection_id)] = [
                    list(back[0]) if back else None,
                    list(lay[0]) if lay else None,
                ]
        ok = mine == truth
        print(f"betfair: 3 markets x 4 runners, {mock.changes_generated} changes generated")
        print(
            f"  marketstreams: {state.changes} market changes applied, "
            f"best back/lay of all 12 runners == mock truth: {mine == truth}"
        )
        for name, result in results.items():
            same = result.get("tops") == mine
            print(
                f"  betfairlightweight {name}: {result.get('updates')} market changes "
                f"({result.get('book_type')}), error {result.get('error')}; "
                f"best back/lay == marketstreams: {same}"
            )
            ok &= same and result.get("error") is None
        return ok


@contextlib.asynccontextmanager
async def tls_relay(port: int, ca_dir: Path) -> AsyncIterator[tuple[int, Path]]:
    """A TLS endpoint on 127.0.0.1 relaying bytes to a plain TCP ``port`` (for a client that
    accepts ``wss://`` only); yields its port and the PEM of the CA it trusts."""
    import trustme

    ca = trustme.CA()
    ca_file = ca_dir / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], ca_file
    finally:
        server.close()


async def run_bitmex(peers: Path, updates: int) -> bool:
    from marketstreams import Updater
    from marketstreams.venues import bitmex
    from mock_servers.bitmex import MockBitmexServer

    async with MockBitmexServer(["XBTUSD"], interval=None, seed=15) as mock:
        feed = bitmex.Feed(["orderBookL2:XBTUSD", "trade:XBTUSD"], url=mock.url)
        changed = asyncio.Event()
        trades = 0

        def hook(book: Any, new_trades: Any) -> None:
            nonlocal trades
            trades += len(new_trades)
            changed.set()

        updater = Updater(feed, hooks=[hook])
        task = asyncio.create_task(updater.run())
        relay = contextlib.AsyncExitStack()
        tmp = relay.enter_context(tempfile.TemporaryDirectory())
        tls_port, ca_file = await relay.enter_async_context(tls_relay(mock.port, Path(tmp)))
        url = f"wss://127.0.0.1:{tls_port}/realtime"
        peer = await Peer.start(peers, "cryptofeed", "--peer-bitmex", url, str(ca_file))
        try:
            await peer.ready()
            await until(changed, lambda: bool(updater.books))
            for _ in range(updates // 10):
                mock.step(10)
                await asyncio.sleep(0.01)
            book = updater.books[("bitmex", "XBTUSD")]
            truth = mock.book("XBTUSD")

            def caught_up() -> bool:
                depth = book.depth()
                return all(decimal_levels(depth[s]) == decimal_levels(truth[s]) for s in truth)

            await until(changed, caught_up)
            theirs = await peer.result(1 + updates // 10 * 10)
        finally:
            await stop(task, peer)
            await relay.aclose()
        mine = book.depth(LEVELS)
        same_truth = all(
            decimal_levels(mine[s]) == decimal_levels(truth[s][:LEVELS]) for s in ("bids", "asks")
        )
        top = theirs.get("top")
        same = top is not None and all(
            decimal_levels(top[s]) == decimal_levels(mine[s]) for s in ("bids", "asks")
        )
        print(f"bitmex: XBTUSD, {updates // 10 * 10} steps")
        print(f"  marketstreams: {trades} trades, top {LEVELS} levels == mock truth: {same_truth}")
        print(
            f"  cryptofeed: {theirs.get('updates')} book callbacks, {theirs.get('trades')} "
            f"trades, error {theirs.get('error')}; top {LEVELS} levels == marketstreams: {same}"
        )
        return same_truth and same and theirs.get("error") is None


async def main_async(args: argparse.Namespace) -> int:
    if not args.peers.exists():
        print(f"the peers' environment is missing ({args.peers}): run benchmarks/peers.sh")
        return 2
    ok = True
    started = time.perf_counter()
    if args.venue in ("luno", "all"):
        ok &= await run_luno(args.peers, args.updates)
    if args.venue in ("betfair", "all"):
        ok &= await run_betfair(args.peers, args.updates)
    if args.venue in ("bitmex", "all"):
        ok &= await run_bitmex(args.peers, args.updates)
    print(f"{'all agree' if ok else 'DISAGREEMENT'} ({time.perf_counter() - started:.1f} s)")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venue", choices=("luno", "betfair", "bitmex", "all"), default="all")
    parser.add_argument("--updates", type=int, default=600, help="updates per venue")
    parser.add_argument("--peers", type=Path, default=PEERS_PYTHON)
    parser.add_argument("--peer-luno", help=argparse.SUPPRESS)
    parser.add_argument("--peer-betfair", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--peer-bitmex", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_luno:
        asyncio.run(peer_luno(args.peer_luno))
        return 0
    if args.peer_bitmex:
        peer_bitmex(*args.peer_bitmex)
        return 0
    if args.peer_betfair:
        peer_betfair(int(args.peer_betfair[0]), args.peer_betfair[1] == "1")
        return 0
    sys.path.insert(0, str(ROOT))
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

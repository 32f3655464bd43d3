"""Live-path benchmark: updates per second from the mock Betfair server over TLS, through the
cache, to a no-op hook, against betfairlightweight in the same run.

1. The mock (``mock_servers/betfair.py``) runs in its own process and replays a recorded file
   (every change a delta, the whole log generated before the first subscription).
2. marketstreams: ``betfair.Feed`` -> ``Updater`` -> a no-op hook, over TLS with certificate
   verification against the mock's throwaway CA.
3. The same bytes, recorded off the wire, fed to betfairlightweight's ``StreamListener`` (its
   socket thread's work: one ``on_data`` per line), cache only and with its output queue.
4. betfairlightweight's own streaming client (``BetfairStream``) connecting to the mock,
   authenticating, subscribing and receiving the image and every update, in lightweight mode and
   once in its default mode (resources): this also shows that the mock speaks the real protocol.

Usage (from the repository root; betfairlightweight lives in ``.venv-peers``)::

    .venv/bin/python benchmarks/betfair_live_bench.py [--source FILE] [--repeat N]
    .venv/bin/python benchmarks/betfair_live_bench.py --cache [--source FILE]   # caches alone

Floors: at least 3x betfairlightweight's listener fed the same bytes, and above
betfairstreamer's published 30,000 updates/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "betfair" / "historic"
DEFAULT_SOURCE = DATA / "bfparser-1.127236622.bz2"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
APP_KEY, SESSION = "bench-app-key", "bench-session"
BETFAIRSTREAMER_PUBLISHED = 30_000
RUNS = 3  # every side is measured RUNS times, best run reported


# -- the betfairlightweight side (runs inside .venv-peers) ----------------------------------


def peer_listener(path: str, expected: int) -> dict[str, Any]:
    import logging
    import queue

    from betfairlightweight.streaming.listener import StreamListener

    logging.disable(logging.CRITICAL)
    with open(path, "rb") as f:
        lines = [line.decode() for line in f.read().split(b"\r\n") if line]
    results: dict[str, Any] = {"lines": len(lines)}
    for name, lightweight, use_queue in (
        ("cache_only", True, False),
        ("lightweight_queue", True, True),
        ("resources_queue", False, True),
    ):
        best: dict[str, Any] = {"per_s": 0.0}
        for _ in range(RUNS):
            q: queue.Queue[Any] | None = queue.Queue() if use_queue else None
            listener = StreamListener(output_queue=q, max_latency=None, lightweight=lightweight)
            listener.register_stream(2, "marketSubscription")  # the recorded subscription's id
            start = time.perf_counter()
            for line in lines:
                listener.on_data(line)
                if q is not None:
                    while not q.empty():
                        q.get_nowait()  # the no-op consumer
            elapsed = time.perf_counter() - start
            processed = listener.stream._updates_processed if listener.stream else 0
            if processed / elapsed > best["per_s"]:
                best = {"seconds": elapsed, "updates": processed, "per_s": processed / elapsed}
        results[name] = best
    return results


def peer_client(
    port: int, expected: int, market_filter: dict[str, Any], lightweight: bool = True
) -> dict[str, Any]:
    import logging
    import queue
    import threading

    from betfairlightweight.streaming.betfairstream import BetfairStream
    from betfairlightweight.streaming.listener import StreamListener

    logging.disable(logging.CRITICAL)
    q: queue.Queue[Any] = queue.Queue()
    # lightweight=False is its default mode: MarketBook resources, MarketDefinition objects
    listener = StreamListener(output_queue=q, max_latency=None, lightweight=lightweight)
    stream = BetfairStream(
        unique_id=0,
        listener=listener,
        app_key=APP_KEY,
        session_token=SESSION,
        timeout=30,
        buffer_size=1024,  # betfairlightweight's default (create_stream)
        host=None,
    )
    stream.host = "127.0.0.1"
    stream._BetfairStream__port = port  # type: ignore[attr-defined]
    stream.subscribe_to_markets(
        market_filter=market_filter,
        market_data_filter={"fields": ["EX_ALL_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF"]},
        heartbeat_ms=5000,
    )
    start = time.perf_counter()
    thread = threading.Thread(target=stream.start, daemon=True)
    thread.start()
    updates = 0
    while updates < expected:
        updates += len(q.get(timeout=60))  # the no-op consumer
    elapsed = time.perf_counter() - start
    stream.stop()
    return {
        "connection_id": listener.connection_id,
        "status": listener.status,
        "connections_available": listener.connections_available,
        "updates": updates,
        "seconds": elapsed,
        "per_s": updates / elapsed,
        "caches": len(listener.stream._caches),
        "initial_clk": listener.initial_clk is not None,
        "clk": listener.clk is not None,
    }


def file_lines(path: Path) -> list[bytes]:
    import bz2
    import gzip

    opener: Any = bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def best_rate(fn: Any, n: int) -> float:
    best = 0.0
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def peer_cache(path: str) -> dict[str, float]:
    """betfairlightweight on a file: its listener's cache, and its historical generator's work
    (a snap of every market after every line, lightweight) with a hook reading best 3."""
    import logging

    from betfairlightweight.streaming.listener import StreamListener

    logging.disable(logging.CRITICAL)
    lines = [line.decode() for line in file_lines(Path(path))]
    pro = lines[0].find('"clk":"') >= 0 and lines[0].split('"clk":"')[1].split('"')[0].isdigit()

    def listener() -> StreamListener:
        ls = StreamListener(
            max_latency=None, lightweight=True, calculate_market_tv=pro, cumulative_runner_tv=pro
        )
        ls.register_stream(0, "marketSubscription")
        return ls

    def cache_only() -> None:
        ls = listener()
        for line in lines:
            ls.on_data(line)

    def generator_hook() -> None:
        ls = listener()
        for line in lines:
            ls.on_data(line)
            for book in ls.snap():
                for r in book["runners"]:
                    r["ex"]["availableToBack"][:3]
                    r["ex"]["availableToLay"][:3]

    return {
        "cache_only": best_rate(cache_only, len(lines)),
        "generator_hook": best_rate(generator_hook, len(lines)),
    }


def cache_bench(path: Path, peers: Path) -> None:
    import orjson

    sys.path.insert(0, str(ROOT))
    from marketstreams.venues.betfair import MarketCache

    lines = file_lines(path)

    def loads_only() -> None:
        for line in lines:
            orjson.loads(line)

    def cache_only() -> None:
        cache = MarketCache()
        for line in lines:
            cache(line)

    def cache_hook() -> None:
        cache = MarketCache()
        for line in lines:
            for book in cache(line):
                for runner in book.runners:
                    runner.best_back(3)
                    runner.best_lay(3)

    n = len(lines)
    loads = best_rate(loads_only, n)
    mine = best_rate(cache_only, n)
    hooked = best_rate(cache_hook, n)
    print(f"file: {path.name}, {n} lines (best of {RUNS} runs each)")
    print(f"orjson.loads only:                  {loads:12,.0f} lines/s")
    print(
        f"MarketCache (bytes in):             {mine:12,.0f} lines/s  ({loads / mine:.2f}x loads time)"
    )
    print(f"MarketCache + hook, best 3 of all:  {hooked:12,.0f} lines/s")
    if peers.exists():
        out = subprocess.run(
            [str(peers), __file__, "--peer-cache", str(path)],
            capture_output=True,
            text=True,
            check=True,
        )
        theirs = json.loads(out.stdout)
        print(
            f"betfairlightweight listener cache:  {theirs['cache_only']:12,.0f} lines/s  "
            f"-> ours {mine / theirs['cache_only']:.2f}x"
        )
        print(
            f"betfairlightweight generator+hook:  {theirs['generator_hook']:12,.0f} lines/s  "
            f"-> ours {hooked / theirs['generator_hook']:.2f}x"
        )


# -- our side -------------------------------------------------------------------------------


async def ours(port: int, ca: str, expected: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from marketstreams import Updater
    from marketstreams.venues import betfair

    context = ssl.create_default_context(cafile=ca)
    feed = betfair.Feed(
        APP_KEY,
        SESSION,
        [betfair.MarketSubscription(heartbeat_ms=5000)],
        host="127.0.0.1",
        port=port,
        ssl_context=context,
    )
    done = asyncio.Event()
    state = feed.states[0]
    calls = 0

    def noop(book: Any, trades: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if state.changes >= expected:
            done.set()

    updater = Updater(feed, hooks=[noop])
    start = time.perf_counter()
    task = asyncio.create_task(updater.run())
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return {
        "updates": feed.stats.updates,
        "messages": feed.stats.messages,
        "hook_calls": calls,
        "seconds": elapsed,
        "per_s": feed.stats.updates / elapsed,
    }


async def record(port: int, ca: str, expected: int, path: str) -> int:
    """Subscribe with a raw TLS socket and store every byte until ``expected`` changes."""
    import orjson

    context = ssl.create_default_context(cafile=ca)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    auth = {"op": "authentication", "id": 1, "appKey": APP_KEY, "session": SESSION}
    sub = {
        "op": "marketSubscription",
        "id": 2,
        "marketFilter": {},
        "marketDataFilter": {"fields": ["EX_ALL_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF"]},
    }
    writer.write(orjson.dumps(auth) + b"\r\n" + orjson.dumps(sub) + b"\r\n")
    chunks = []
    changes = 0
    pending = b""
    while changes < expected:
        data = await reader.read(1 << 20)
        if not data:
            break
        chunks.append(data)
        pending += data
        *lines, pending = pending.split(b"\r\n")
        for line in lines:
            if line.startswith(b'{"op":"mcm"'):
                changes += len(orjson.loads(line).get("mc") or ())
    writer.close()
    with open(path, "wb") as f:
        f.write(b"".join(chunks))
    return changes


def start_server(source: Path | None, repeat: int) -> tuple[subprocess.Popen[str], int, str, int]:
    args = [
        sys.executable,
        "-m",
        "mock_servers.betfair",
        "--port",
        "0",
        "--app-key",
        APP_KEY,
        "--session",
        SESSION,
        "--rate",
        "0",
        "--replay",
        "--prefill",
        "100000000",
    ]
    if source is not None:
        args += ["--source", str(source), "--repeat", str(repeat)]
    else:
        args += ["--markets", "20", "--runners", "10", "--limit", "200000"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"stream [\d.]+:(\d+) .* CA (\S+)", line)
    if match is None:
        proc.kill()
        raise SystemExit(f"mock did not start: {line!r}")
    return proc, int(match.group(1)), match.group(2), 0


def count_changes(source: Path | None, repeat: int) -> int:
    if source is None:
        return 200_000 + 20
    sys.path.insert(0, str(ROOT))
    from mock_servers.betfair import RecordedMarkets

    return len(RecordedMarkets(source, repeat).changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE if DEFAULT_SOURCE.exists() else None
    )
    parser.add_argument("--synthetic", action="store_true", help="serve synthetic markets instead")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers", type=Path, default=PEERS_PYTHON)
    parser.add_argument(
        "--cache", action="store_true", help="measure the caches on the file alone (no sockets)"
    )
    parser.add_argument("--peer-cache", help=argparse.SUPPRESS)
    parser.add_argument("--peer-listener", help=argparse.SUPPRESS)
    parser.add_argument("--peer-client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--peer-resources", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer_cache:
        print(json.dumps(peer_cache(args.peer_cache)))
        return 0
    if args.cache:
        if args.source is None:
            raise SystemExit("--cache needs --source (or the shared data)")
        cache_bench(args.source, args.peers)
        return 0
    if args.peer_listener:
        print(json.dumps(peer_listener(args.peer_listener, args.expected)))
        return 0
    if args.peer_client:
        print(json.dumps(peer_client(args.peer_client, args.expected, {}, not args.peer_resources)))
        return 0

    source = None if args.synthetic else args.source
    expected = count_changes(source, args.repeat)
    print(f"source: {source or 'synthetic'} x{args.repeat if source else 1}: {expected} changes")
    proc, port, ca, _ = start_server(source, args.repeat)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # recording first also has the mock serialise every message once (it caches them)
            wire = os.path.join(tmp, "wire.bin")
            recorded = asyncio.run(record(port, ca, expected, wire))
            print(f"recorded {os.path.getsize(wire):,} bytes off the wire ({recorded} changes)")
            runs = [asyncio.run(ours(port, ca, expected)) for _ in range(RUNS)]
            mine = max(runs, key=lambda r: r["per_s"])
            print(
                f"marketstreams Feed->Updater->no-op hook over TLS: {mine['per_s']:,.0f} "
                f"updates/s (best of {RUNS}: "
                + ", ".join(f"{r['per_s']:,.0f}" for r in runs)
                + f"; {mine['updates']} updates, {mine['hook_calls']} hook calls)"
            )
            peer: dict[str, Any] | None = None
            client: dict[str, Any] | None = None
            resources: dict[str, Any] | None = None
            if args.peers.exists():
                out = subprocess.run(
                    [
                        str(args.peers),
                        __file__,
                        "--peer-listener",
                        wire,
                        "--expected",
                        str(expected),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                peer = json.loads(out.stdout)
                clients = []
                for _ in range(RUNS):
                    out = subprocess.run(
                        [
                            str(args.peers),
                            __file__,
                            *("--peer-client", str(port), "--expected", str(expected)),
                        ],
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    clients.append(json.loads(out.stdout))
                client = max(clients, key=lambda r: r["per_s"])
                # Its default (non-lightweight) mode once: it builds resources from every
                # market definition, which fails on an incomplete one.
                out = subprocess.run(
                    [
                        str(args.peers),
                        __file__,
                        *("--peer-client", str(port), "--expected", str(expected)),
                        "--peer-resources",
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    timeout=600,
                )
                resources = json.loads(out.stdout)
            else:
                print(f"betfairlightweight's virtualenv not found at {args.peers}: no comparison")
    finally:
        proc.terminate()
        proc.wait()

    if peer is not None and client is not None and resources is not None:
        for name in ("cache_only", "lightweight_queue", "resources_queue"):
            r = peer[name]
            print(
                f"betfairlightweight StreamListener ({name}) on the same bytes: "
                f"{r['per_s']:,.0f} updates/s ({r['updates']} updates)"
            )
        print(
            f"betfairlightweight BetfairStream over TLS to the mock: {client['per_s']:,.0f} "
            f"updates/s ({client['updates']} updates, connection {client['connection_id']}, "
            f"{client['caches']} markets, clocks stored: {client['initial_clk'] and client['clk']})"
        )
        print(
            f"betfairlightweight BetfairStream, default mode (resources): "
            f"{resources['per_s']:,.0f} updates/s ({resources['updates']} updates, "
            f"{resources['caches']} markets)"
        )
        base = peer["lightweight_queue"]["per_s"]
        ratio = mine["per_s"] / base
        print(f"ratio vs betfairlightweight listener (lightweight, queue): {ratio:.2f}x (floor 3x)")
        print(
            f"ratio vs betfairlightweight listener (cache only): {mine['per_s'] / peer['cache_only']['per_s']:.2f}x"
        )
        print(f"ratio vs betfairlightweight BetfairStream: {mine['per_s'] / client['per_s']:.2f}x")
    floor = "above" if mine["per_s"] > BETFAIRSTREAMER_PUBLISHED else "BELOW"
    print(f"{floor} betfairstreamer's published {BETFAIRSTREAMER_PUBLISHED:,} updates/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

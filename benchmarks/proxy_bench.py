"""The proxy under load: N websocket clients, each subscribed to every one of B books, with the
feed at a fixed rate. Prints delivered updates per second, latency from venue message to client
receipt (p50, p99, max), the server's CPU and its memory over time.

    python benchmarks/proxy_bench.py                        # 200 clients, 10 books, 1000 updates/s, 30 s
    python benchmarks/proxy_bench.py --minutes 5            # the flat-memory run
    python benchmarks/proxy_bench.py --source luno          # a mock Luno venue over real sockets
    python benchmarks/proxy_bench.py --clients 500 --rate 2000 --seconds 20

The proxy and the feed run in this process; the clients run in ``--client-procs`` other
processes (on a two-core machine the clients need the second core). Every client is a real
websocket client that reads every frame as it arrives and counts the updates in it without
decoding the JSON, so that the proxy and not the clients is what is measured; ``--probes`` of
them also take each book message's venue time out of the frame and record its latency.

Sources: ``synthetic`` (default) is an in-process feed that changes a random level of a random
book ``--rate`` times a second, stamping each update with the time it was made (a venue message
that costs nothing to receive); ``luno`` runs ``mock_servers/luno/`` in a subprocess at the same
total rate, with ``--books`` pairs, and ``luno.Feed`` s receive it through real sockets (latency
then counts from the mock's millisecond timestamp).

The target on the reference machine: p99 under 50 ms with 200 clients at 1,000 updates/s, and
memory flat over 5 minutes. The script prints each figure against its target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import resource
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from marketstreams import FeedStats, OrderBook, Trade, Update, Updater  # noqa: E402
from marketstreams.proxy import Proxy  # noqa: E402

BUCKET = 0.0001  # latency histogram resolution: 0.1 ms
P99_TARGET = 0.050


# -- the feed ---------------------------------------------------------------------------------


class SyntheticFeed:
    """``books`` order books; ``rate`` updates a second in total, each a random level change
    (and one update in ten with a trade), stamped with the time it was made."""

    venue = "bench"

    def __init__(self, books: int, rate: float, levels: int = 50, seed: int = 1) -> None:
        self.stats = FeedStats()
        self.rate = rate
        self.rng = random.Random(seed)
        self.books = [OrderBook(self.venue, f"B{i:03d}") for i in range(books)]
        for book in self.books:
            for k in range(levels):
                book.set_level("bid", Decimal(10_000 - k), Decimal(self.rng.randint(1, 500)))
                book.set_level("ask", Decimal(10_001 + k), Decimal(self.rng.randint(1, 500)))
            book.sequence = 0
            book.mark_valid()
        self.published = 0

    async def updates(self) -> AsyncIterator[Update]:
        self.stats.connected = True
        now = time.time()
        for book in self.books:
            book.timestamp, book.received = int(now * 1000), now
            yield Update(book, snapshot=True)
        start = time.monotonic()
        rng = self.rng
        while True:
            due = int((time.monotonic() - start) * self.rate) - self.published
            for _ in range(due):
                book = self.books[rng.randrange(len(self.books))]
                side = "bid" if rng.random() < 0.5 else "ask"
                offset = rng.randrange(20)
                price = Decimal(10_000 - offset) if side == "bid" else Decimal(10_001 + offset)
                book.set_level(side, price, Decimal(rng.randint(1, 500)))
                book.sequence = (book.sequence or 0) + 1
                now = time.time()
                book.timestamp, book.received = int(now * 1000), now
                trades = []
                if rng.random() < 0.1:
                    trades.append(
                        Trade(
                            self.venue,
                            book.market,
                            "buy",
                            price,
                            Decimal(1),
                            timestamp=book.timestamp,
                        )
                    )
                self.published += 1
                self.stats.updates += 1
                yield Update(book, trades)
            await asyncio.sleep(0.001)


async def luno_feeds(
    books: int, rate: float, children: list[asyncio.subprocess.Process]
) -> list[Any]:
    from marketstreams.venues import luno

    pairs = [f"P{i:03d}ZAR" for i in range(books)]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_servers.luno", "--port", "0", "--pairs", ",".join(pairs),
        "--rate", str(rate / books), "--orders", "400", "--seed", "1",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    children.append(proc)
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode()
    match = re.search(r"ws://[\d.]+:\d+", line)
    if not match:
        raise SystemExit(f"the Luno mock did not start: {line!r}")
    return [luno.Feed(pair, url=match.group(0)) for pair in pairs]


# -- memory and CPU ---------------------------------------------------------------------------


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or 'self'}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- clients (worker processes) ---------------------------------------------------------------


class CountingClient(asyncio.Protocol):
    """A websocket client that reads every frame and counts the updates in it without decoding
    the JSON (server frames are neither masked nor compressed): the cheapest honest reader, so
    that the proxy, not the benchmark's clients, is what is measured. Answers pings.

    A probe also takes every book message's venue time (``recv``, or ``ts`` for a real venue)
    out of the frame with a regular expression and records its latency."""

    MARKER = b'"type":"update"'
    CLOCKS = {
        "recv": re.compile(rb'"recv":([0-9.]+)'),
        "ts": re.compile(rb'"seq":(?:[0-9]+|null),"ts":([0-9]+)'),
    }

    def __init__(
        self,
        request: bytes,
        window: tuple[float, float],
        counts: dict[str, int],
        hist: dict[int, int] | None = None,
        clock: str = "recv",
    ) -> None:
        self.request = request
        self.window = window
        self.counts = counts
        self.hist = hist
        self.clock = self.CLOCKS[clock]
        self.scale = 1.0 if clock == "recv" else 0.001
        self.buffer = bytearray()
        self.handshaken = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.handshaken:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                self.counts["errors"] += 1
                assert self.transport is not None
                self.transport.close()
                return
            del buf[: end + 4]
            self.handshaken = True
            self._send(0x1, self.subscribe)
        now = time.time()
        counting = self.window[0] <= now <= self.window[1]
        pos, size = 0, len(buf)
        marker = self.MARKER
        while size - pos >= 2:
            opcode = buf[pos] & 0x0F
            length = buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4])
                head = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10])
                head = 10
            end = pos + head + length
            if end > size:
                break
            if opcode == 0x1 and counting:
                self.counts["frames"] += 1
                self.counts["bytes"] += length
                self.counts["messages"] += buf.count(marker, pos + head, end)
                hist = self.hist
                if hist is not None:
                    scale = self.scale
                    for match in self.clock.finditer(buf, pos + head, end):
                        bucket = int((now - float(match.group(1)) * scale) / BUCKET)
                        hist[bucket] = hist.get(bucket, 0) + 1
            elif opcode == 0x9:  # ping: pong with the same payload
                self._send(0xA, bytes(buf[pos + head : end]))
            elif opcode == 0x8:
                assert self.transport is not None
                self.transport.close()
            pos = end
        if pos:
            del buf[:pos]
        if now > self.window[1] and self.transport is not None:
            self.transport.close()

    subscribe = b""

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        else:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(header + mask + masked)


async def client_worker(args: argparse.Namespace) -> None:
    """Run ``--worker-clients`` clients; print one JSON line of results at the end."""
    books = args.worker_books.split(",")
    window = (args.worker_t0, args.worker_t1)
    clock = args.worker_clock
    hist: dict[int, int] = {}
    counts = {"messages": 0, "frames": 0, "bytes": 0, "errors": 0}
    subscribe = orjson.dumps({"op": "subscribe", "books": books})
    url = urlsplit(args.worker_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    async def client(probe: bool) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {url.path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        try:
            _, client = await loop.create_connection(
                lambda: CountingClient(request, window, counts, hist if probe else None, clock),
                host,
                port,
            )
            client.subscribe = subscribe
            await client.closed
        except OSError as exc:
            counts["errors"] += 1
            print(f"client error: {exc!r}", file=sys.stderr)

    await asyncio.gather(*(client(i < args.worker_probes) for i in range(args.worker_clients)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts["cpu_ms"] = int((usage.ru_utime + usage.ru_stime) * 1000)
    print(json.dumps({"counts": counts, "hist": hist}), flush=True)


# -- the run ----------------------------------------------------------------------------------


def percentile(hist: dict[int, int], q: float) -> float:
    total = sum(hist.values())
    if not total:
        return float("nan")
    target = q * total
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= target:
            return (bucket + 0.5) * BUCKET
    return max(hist) * BUCKET


async def run(args: argparse.Namespace) -> int:
    children: list[asyncio.subprocess.Process] = []
    if args.source == "synthetic":
        feed = SyntheticFeed(args.books, args.rate)
        feeds: list[Any] = [feed]
        clock = "recv"
    else:
        feeds = await luno_feeds(args.books, args.rate, children)
        feed = None
        clock = "ts"
    all_books = asyncio.Event()
    seen: set[str] = set()

    def count_books(book: Any, trades: list[Trade]) -> None:
        if len(seen) < args.books:
            seen.add(book.market)
            if len(seen) == args.books:
                all_books.set()

    loop_lag: dict[int, int] = {}  # a histogram, so that measuring costs no memory over time

    async def watch_loop() -> None:
        # How late a 1 ms sleep wakes up: the proxy's event loop responsiveness.
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            bucket = int((time.perf_counter() - before - 0.001) / BUCKET)
            loop_lag[bucket] = loop_lag.get(bucket, 0) + 1

    updater = Updater(*feeds, hooks=[count_books])
    proxy = Proxy(updater, port=0, depth=args.depth)
    await proxy.start()
    runner = asyncio.create_task(updater.run())
    watcher = asyncio.create_task(watch_loop())
    try:
        await asyncio.wait_for(all_books.wait(), 60)
        books = sorted(proxy.hub.books)
        duration = args.minutes * 60 if args.minutes else args.seconds
        started = time.time()
        t0 = time.time() + args.warmup + 2.0 + args.clients / 200
        t1 = t0 + duration
        per_proc = [args.clients // args.client_procs] * args.client_procs
        for i in range(args.clients % args.client_procs):
            per_proc[i] += 1
        probes = [args.probes // args.client_procs] * args.client_procs
        for i in range(args.probes % args.client_procs):
            probes[i] += 1
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--worker-url",
                proxy.ws_url,
                "--worker-books",
                ",".join(books),
                "--worker-clients",
                str(n),
                "--worker-probes",
                str(p),
                "--worker-t0",
                repr(t0),
                "--worker-t1",
                repr(t1),
                "--worker-clock",
                clock,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
            )
            for n, p in zip(per_proc, probes, strict=True)
        ]
        children.extend(workers)
        load_before = os.getloadavg()[0]
        print(
            f"proxy_bench: {args.clients} clients x {args.books} books, feed {args.rate:g} updates/s "
            f"({args.source}), depth {args.depth}; measuring {duration:g} s after {t0 - time.time():.1f} s "
            f"of connecting and warm-up",
            flush=True,
        )
        await asyncio.sleep(max(0.0, t0 - time.time()))
        loop_lag.clear()
        hub = proxy.hub
        totals0 = hub.totals()
        published0 = updater.updates
        cpu0 = time.process_time()
        mem: list[tuple[float, float]] = [(0.0, rss_mb())]
        interval = 10.0 if args.minutes else 5.0
        while time.time() < t1:
            await asyncio.sleep(min(interval, max(0.0, t1 - time.time())))
            mem.append((time.time() - t0, rss_mb()))
            if args.minutes:
                m = mem[-1]
                print(
                    f"  t={m[0]:5.0f} s  rss {m[1]:6.1f} MB  clients {len(hub.clients)}", flush=True
                )
        cpu = time.process_time() - cpu0
        queue_delay = hub.queue_delay.as_dict()
        lags = dict(loop_lag)
        published = updater.updates - published0
        totals = hub.totals()
        outputs = [await w.communicate() for w in workers]
    finally:
        runner.cancel()
        watcher.cancel()
        await asyncio.gather(runner, watcher, return_exceptions=True)
        await proxy.stop()
        for child in children:
            if child.returncode is None:
                child.terminate()
                await child.wait()

    hist: dict[int, int] = {}
    counts: dict[str, int] = {}
    for out, _ in outputs:
        text = out.decode().strip()
        line = text.splitlines()[-1] if text else "{}"
        result = json.loads(line)
        for k, v in result.get("counts", {}).items():
            counts[k] = counts.get(k, 0) + v
        for k, v in result.get("hist", {}).items():
            hist[int(k)] = hist.get(int(k), 0) + v

    delivered = totals.deliveries - totals0.deliveries
    conflated = totals.conflated - totals0.conflated
    offered = published * args.clients  # every client subscribes to every book
    p50, p99 = percentile(hist, 0.50), percentile(hist, 0.99)
    worst = (max(hist) + 1) * BUCKET if hist else float("nan")
    start_mb, end_mb = mem[0][1], mem[-1][1]
    peak_mb = max(m for _, m in mem)
    slope = _slope(mem) * 60  # MB per minute
    print(f"  feed       {published:,} updates in {duration:g} s = {published / duration:,.0f}/s")
    print(
        f"  delivered  {delivered:,} book messages = {delivered / duration:,.0f}/s "
        f"({delivered / args.clients / duration:,.0f}/s per client); "
        f"{delivered / offered:.1%} of the {offered:,} offered, {conflated:,} conflated"
    )
    print(
        f"  clients    received {counts.get('messages', 0):,} updates in {counts.get('frames', 0):,} "
        f"frames ({counts.get('bytes', 0) / duration / 1e6:,.1f} MB/s), errors {counts.get('errors', 0)}, "
        f"connected at the end {len(hub.clients)}"
    )
    print(
        f"  latency    venue -> client over {sum(hist.values()):,} updates on {args.probes} probe "
        f"clients: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {worst * 1000:.0f} ms "
        f"(target p99 < {P99_TARGET * 1000:.0f} ms: {'PASS' if p99 < P99_TARGET else 'FAIL'}, "
        f"{p99 / P99_TARGET:.2f} of the target)"
    )
    print(
        f"  in proxy   queue wait (oldest update of a frame, last {len(hub.queue_delay.recent)} "
        f"frames): p50 {queue_delay['p50'] * 1000:.1f} ms, p99 {queue_delay['p99'] * 1000:.1f} ms"
    )
    if lags:
        print(
            f"  event loop a 1 ms sleep wakes late by p50 {percentile(lags, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(lags, 0.99) * 1000:.1f} ms"
        )
    client_cpu = counts.get("cpu_ms", 0) / 1000 / (duration + t0 - started)
    print(
        f"  CPU        proxy {cpu / duration:.0%} of one core; clients {client_cpu:.0%} "
        f"({args.client_procs} process(es), whole run)"
    )
    print(
        f"  machine    {os.cpu_count()} CPUs, load average {load_before:.2f} before the run and "
        f"{os.getloadavg()[0]:.2f} after it (other work on the machine inflates the figures)"
    )
    print(
        f"  memory     RSS {start_mb:.1f} MB at the start, {end_mb:.1f} MB at the end, peak "
        f"{peak_mb:.1f} MB, trend {slope:+.2f} MB/min over {len(mem)} samples"
    )
    return 0


def _slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(m for _, m in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (m - my) for t, m in points) / den if den else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--books", type=int, default=10)
    parser.add_argument(
        "--rate", type=float, default=1000.0, help="book updates per second, all books"
    )
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--minutes", type=float, default=0.0, help="a long run (memory over time)")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--probes", type=int, default=50, help="clients that measure latency")
    parser.add_argument("--client-procs", type=int, default=1)
    parser.add_argument("--source", choices=("synthetic", "luno"), default="synthetic")
    # worker mode (internal)
    parser.add_argument("--worker-url", help=argparse.SUPPRESS)
    parser.add_argument("--worker-books", help=argparse.SUPPRESS)
    parser.add_argument("--worker-clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-probes", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-t0", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--worker-t1", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--worker-clock", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_url:
        asyncio.run(client_worker(args))
        return 0
    if os.cpu_count() and os.cpu_count() < 2:  # type: ignore[operator]
        print("note: one CPU: the clients and the proxy share it", file=sys.stderr)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

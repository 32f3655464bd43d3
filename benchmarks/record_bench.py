"""Recording overhead on the live path: updates per second of a feed with and without
``record=``, same frames, same run, alternating.

A separate process serves pre-built frames over a real websocket as fast as the client takes
them, so the figure is the client's: aiohttp, the protocol core, the Updater, a hook, and (when
recording) the hand-over to the recorder plus the recorder thread's share of the GIL.

- **luno**: a 18,000-order snapshot, then ``--updates`` creates, deletes and trades
  (benchmarks/_luno_messages.py), through ``luno.Feed``.
- **bitmex**: the real 2021 capture (``../shared/data/bitmex/cryptofeed_BITMEX.ws.1.0``: partials,
  then inserts, updates, deletes, trades), ``--repeat-capture`` times over (each repetition
  starts from its partials), through ``bitmex.Feed``.

Each configuration runs ``--runs`` times, alternating; the medians are compared, and each
run with recording is also compared with the run without just before it (the machine may be
shared: the load average is shown, and the spread of those pairs). Target: recording costs
under 10 percent of updates per second. Run::

    .venv/bin/python benchmarks/record_bench.py [--runs 7] [--updates 50000] [--compression gzip]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CAPTURE = REPO / ".." / "shared" / "data" / "bitmex" / "cryptofeed_BITMEX.ws.1.0"


# -- the frame server (runs in its own process) ------------------------------------------------
#
# The venue must not be the bottleneck, nor take the client's CPU: the frames are encoded as
# websocket frames once, up front, and written to the socket in one go (a minimal RFC 6455
# server: the handshake, then unmasked text frames; what the client sends is read and ignored).

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def serve(port_file: str, frames_file: str) -> None:
    import base64
    import hashlib

    frames: dict[str, list[str]] = json.loads(Path(frames_file).read_text())
    blobs = {
        venue: b"".join(_ws_frame(f.encode()) for f in venue_frames)
        for venue, venue_frames in frames.items()
    }
    welcome = _ws_frame(b'{"info":"Welcome","version":"bench","limit":{"remaining":39}}')

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        path = request.split(b" ", 2)[1]
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        luno = path.startswith(b"/api/1/stream/")
        if not luno:
            writer.write(welcome)
        await reader.read(1)  # the credentials (luno) or a subscription (bitmex): go
        writer.write(blobs["luno" if luno else "bitmex"])
        await writer.drain()
        while await reader.read(65536):  # until the client goes
            pass
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        Path(port_file).write_text(str(port))
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# -- the client --------------------------------------------------------------------------------


async def run_once(
    venue: str, port: int, expected: int, record_dir: str | None, compression: str
) -> dict[str, Any]:
    from marketstreams import Updater
    from marketstreams.recording import Recorder
    from marketstreams.venues import bitmex, luno

    recorder = Recorder(record_dir, compression=compression) if record_dir else None
    done = asyncio.Event()
    seen = 0
    first = last = 0.0
    cpu_main = cpu_all = 0.0
    best: Any = None

    def hook(book: Any, trades: list[Any]) -> None:
        nonlocal seen, first, last, best, cpu_main, cpu_all
        seen += 1
        if seen == 1:
            first = time.perf_counter()
            cpu_main, cpu_all = time.thread_time(), time.process_time()
        best = book.best_bid()  # what a strategy would read
        if seen >= expected:
            last = time.perf_counter()
            cpu_main, cpu_all = time.thread_time() - cpu_main, time.process_time() - cpu_all
            done.set()

    feed: Any
    if venue == "luno":
        feed = luno.Feed("XBTZAR", "k", "s", url=f"ws://127.0.0.1:{port}", record=recorder)
    else:
        feed = bitmex.Feed(
            ["orderBookL2", "trade"], url=f"ws://127.0.0.1:{port}/realtime", record=recorder
        )
    task = asyncio.create_task(Updater(feed, hooks=[hook]).run())
    await asyncio.wait_for(done.wait(), 600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    closing = time.perf_counter()
    if recorder is not None:
        await recorder.aclose()
    close_seconds = time.perf_counter() - closing
    return {
        "updates": seen - 1,
        "seconds": last - first,
        "rate": (seen - 1) / (last - first),
        "cpu_main_us": cpu_main / (seen - 1) * 1e6,  # the event loop's thread, per update
        "cpu_all_us": cpu_all / (seen - 1) * 1e6,  # every thread (the recorder's too)
        "close_seconds": close_seconds,
        "recorded": recorder.stats.as_dict() if recorder else None,
        "best": best,
    }


def build_frames(updates: int, repeat_capture: int) -> dict[str, list[str]]:
    from _luno_messages import generate

    snapshot, messages = generate(18_000, updates)
    out = {"luno": [snapshot, *messages], "bitmex": []}
    if CAPTURE.exists():
        from marketstreams.venues.bitmex.capture import iter_received

        capture = [frame for _, frame in iter_received(CAPTURE)]
        out["bitmex"] = capture * repeat_capture
    return out


def count_updates(venue: str, frames: list[str]) -> int:
    """Updates a feed yields for these frames (through the protocol, no socket)."""
    if venue == "luno":
        return len(frames)
    from marketstreams.models import Update
    from marketstreams.venues.bitmex import BitmexProtocol

    proto = BitmexProtocol(["orderBookL2", "trade"])
    proto.connection_made(time.time())
    n = 0
    for frame in frames:
        n += sum(1 for e in proto.receive(frame) if type(e) is Update)
    return n


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # (not on every platform)
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--updates", type=int, default=50_000, help="luno updates per run")
    parser.add_argument("--repeat-capture", type=int, default=25, help="bitmex capture repetitions")
    parser.add_argument("--compression", default="gzip", choices=("gzip", "zstd", "none"))
    parser.add_argument(
        "--serve", nargs=2, metavar=("PORT_FILE", "FRAMES_FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        frames = build_frames(args.updates, args.repeat_capture)
        frames_file = os.path.join(tmp, "frames.json")
        port_file = os.path.join(tmp, "port")
        Path(frames_file).write_text(json.dumps(frames))
        server = subprocess.Popen([sys.executable, __file__, "--serve", port_file, frames_file])
        try:
            while not os.path.exists(port_file) or not Path(port_file).read_text():
                time.sleep(0.05)
            port = int(Path(port_file).read_text())
            venues = ["luno"] + (["bitmex"] if frames["bitmex"] else [])
            print(
                f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, compression {args.compression}, {args.runs} runs each, alternating"
            )
            print(f"load average {_load()} at the start")
            ok = True
            for venue in venues:
                expected = count_updates(venue, frames[venue])
                rates: dict[bool, list[float]] = {False: [], True: []}
                cpu: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
                last: dict[str, Any] = {}
                for i in range(args.runs * 2):
                    recording = i % 2 == 1
                    record_dir = os.path.join(tmp, f"rec-{venue}-{i}") if recording else None
                    result = asyncio.run(
                        run_once(venue, port, expected, record_dir, args.compression)
                    )
                    rates[recording].append(result["rate"])
                    cpu[recording].append((result["cpu_main_us"], result["cpu_all_us"]))
                    if recording:
                        last = result
                off, on = statistics.median(rates[False]), statistics.median(rates[True])
                pairs = [1 - w / wo for wo, w in zip(rates[False], rates[True], strict=True)]
                main_off = statistics.median(c[0] for c in cpu[False])
                main_on = statistics.median(c[0] for c in cpu[True])
                all_on = statistics.median(c[1] for c in cpu[True])
                cost = 1 - on / off
                rec = last["recorded"]
                print(
                    f"{venue:7s} without recording {off:10,.0f} updates/s | with {on:10,.0f} updates/s"
                    f" | overhead {cost:6.1%} (target < 10%)"
                )
                print(
                    f"        cpu per update: event loop thread {main_off:.2f} -> {main_on:.2f} us, "
                    f"all threads with recording {all_on:.2f} us"
                )
                print(
                    f"        recorded {rec['records']:,} records, {rec['bytes'] / 1e6:.1f} MB -> "
                    f"{rec['written'] / 1e6:.1f} MB on disk, dropped {rec['dropped']}; "
                    f"close (final flush) {last['close_seconds'] * 1000:.0f} ms"
                )
                print(
                    "        each run against the one before it: "
                    + " ".join(f"{p:.1%}" for p in pairs)
                    + f" (median {statistics.median(pairs):.1%}); load average {_load()}"
                )
                ok = ok and cost < 0.10
            return 0 if ok else 1
        finally:
            server.kill()
            server.wait()


if __name__ == "__main__":
    sys.exit(main())

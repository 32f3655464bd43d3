"""Luno: updates per second through the protocol core, the Updater and a hook that reads the top
10 levels of an 18,000-order book, for marketstreams and for luno_streams, same messages, same run.

    python benchmarks/luno_bench.py [--orders 18000] [--updates 20000] [--peer-python PATH]

luno_streams runs in its own environment (default .venv-peers/bin/python, made by
benchmarks/peers.sh); its run is skipped, with a note, when that environment is missing.
Both runs must end on the same top-10 book, which the script checks before printing the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _luno_messages import generate

from marketstreams import Updater
from marketstreams.venues.luno import LunoProtocol

ROOT = Path(__file__).resolve().parents[1]


def run_marketstreams(
    snapshot: str, messages: list[str]
) -> tuple[float, int, dict[str, list[list[str]]]]:
    proto = LunoProtocol("XBTZAR")
    proto.receive(snapshot)
    tops: list[dict[str, list[list[object]]]] = []
    updater = Updater(hooks=[lambda book, trades: tops.append(book.depth(10))])
    from marketstreams import Update

    receive, publish, book = proto.receive, updater.publish, proto.book
    start = time.perf_counter()
    for message in messages:
        event = receive(message)
        publish(Update(book, event.trades))  # type: ignore[union-attr]
    seconds = time.perf_counter() - start
    last = tops[-1]
    top = {side: [[str(p), str(v)] for p, v in levels] for side, levels in last.items()}
    return seconds, len(tops), top


def normalise(top: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    from decimal import Decimal

    return {
        s: [[str(Decimal(p).normalize()), str(Decimal(v).normalize())] for p, v in levels]
        for s, levels in top.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=18_000)
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument(
        "--peer-updates",
        type=int,
        default=1_000,
        help="messages for luno_streams (it is slow; its rate is per message)",
    )
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    args = parser.parse_args()

    snapshot, messages = generate(args.orders, args.updates)
    print(
        f"book: {args.orders} orders, snapshot {len(snapshot) / 1e6:.2f} MB; {len(messages)} updates"
    )
    ours_s, ours_n, _ = run_marketstreams(snapshot, messages)
    ours_rate = ours_n / ours_s
    print(f"marketstreams : {ours_rate:12,.0f} updates/s ({ours_n} updates in {ours_s:.3f} s)")

    if not os.path.exists(args.peer_python):
        print(f"luno_streams  : skipped ({args.peer_python} missing; run benchmarks/peers.sh)")
        return 0
    peer_msgs = messages[: args.peer_updates]
    _, _, ours_top = run_marketstreams(snapshot, peer_msgs)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"snapshot": snapshot, "messages": peer_msgs}, f)
    try:
        out = subprocess.run(
            [args.peer_python, str(Path(__file__).parent / "_luno_peer.py"), f.name],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        os.unlink(f.name)
    peer = json.loads(out)
    peer_rate = peer["updates"] / peer["seconds"]
    print(
        f"luno_streams  : {peer_rate:12,.0f} updates/s ({peer['updates']} updates in {peer['seconds']:.3f} s)"
    )
    same = normalise(peer["top"]) == normalise(ours_top)
    print(f"same top-10 book after {len(peer_msgs)} updates: {'yes' if same else 'NO'}")
    print(f"ratio marketstreams / luno_streams: {ours_rate / peer_rate:,.1f}x (target >= 50x)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

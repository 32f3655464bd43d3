"""Replay speed: lines per second, same files, same run, against orjson and betfairlightweight.

    python benchmarks/replay_bench.py [--copies 12] [--peer-python .venv-peers/bin/python]

Two file sets: the market files of ../shared/data/betfair/historic, and a larger set made by
repeating the PRO file (bfparser-1.127236622) under distinct market ids. Measured on lines already
decompressed in memory (decompression is measured apart), except (c) and (f), which read files:

  (a) orjson.loads of every line: the floor
  (b) betfairlightweight's listener cache only (StreamListener without output)
  (c) betfairlightweight's historical generator, lightweight=True, reading best 3 back/lay
  (d) marketstreams MarketCache only
  (e) marketstreams replay() with a hook reading the best three back and lay of every changed
      runner (``book.changed_runners``)
  (f) marketstreams replay(), cache only, workers=2 against workers=1, on the files

(f) and its workers=1 twin run in a fresh process, as a user's replay script does: this process
holds every file decompressed and split in memory for (a) and (d) (100-200 MB), and forking that
for each pool of workers costs ~10-25 ms a replay that a script does not pay.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from marketstreams import replay
from marketstreams.venues.betfair import MarketCache

ROOT = Path(__file__).resolve().parents[1]
HISTORIC = ROOT / ".." / "shared" / "data" / "betfair" / "historic"
PRO = "bfparser-1.127236622.bz2"


def read(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".bz2"):
        return bz2.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    return data


def market_files() -> list[Path]:
    skip = ("ORDER-", "RACE-", "CRICKET-", "sportsdata-", "BASIC-1.132153978.gz")
    return sorted(p for p in HISTORIC.iterdir() if not p.name.startswith(skip))


def best(seconds: list[float]) -> float:
    return min(seconds)


def timeit(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return best(times)


class BestThree:
    """(e): the best three back and lay of every runner the message changed."""

    def __call__(self, book: Any, trades: Any) -> None:
        for runner in book.changed_runners:
            runner.best_back(3)
            runner.best_lay(3)


def measure(
    name: str, contents: list[bytes], paths: list[str], args: argparse.Namespace
) -> dict[str, float]:
    lines = [[ln for ln in c.split(b"\n") if ln.strip()] for c in contents]
    n = sum(len(chunk) for chunk in lines)
    print(f"\n== {name}: {len(paths)} files, {n:,} lines")
    rates: dict[str, float] = {}

    def floor() -> None:
        loads = orjson.loads
        for chunk in lines:
            for ln in chunk:
                loads(ln)

    def cache_only() -> None:
        for chunk in lines:
            cache = MarketCache()
            for ln in chunk:
                cache(ln)

    rates["a"] = n / timeit(floor, args.repeat)
    rates["d"] = n / timeit(cache_only, args.repeat)
    e = timeit(lambda: replay(paths, hooks=[BestThree()]), args.repeat)
    rates["e"] = n / e
    if os.path.exists(args.peer_python):
        for key, mode in (("b", "cache"), ("c", "generator")):
            out = subprocess.run(
                [args.peer_python, str(Path(__file__).parent / "_replay_peer.py"), mode, *paths],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            peer = json.loads(out)
            rates[key] = peer["lines"] / peer["seconds"]
    if len(paths) >= 2:
        out = subprocess.run(
            [sys.executable, __file__, "--repeat", str(args.repeat), "--parallel", *paths],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        seconds = json.loads(out)
        rates["f1"], rates["f"] = n / seconds["workers=1"], n / seconds["workers=2"]
    labels = {
        "a": "(a) orjson parse only (floor)",
        "b": "(b) betfairlightweight listener cache",
        "c": "(c) betfairlightweight generator, lightweight=True",
        "d": "(d) marketstreams MarketCache only",
        "e": "(e) marketstreams replay + best-3 hook",
        "f1": "    marketstreams replay, workers=1 (files)",
        "f": "(f) marketstreams replay, workers=2 (files)",
    }
    for key in ("a", "b", "c", "d", "e", "f1", "f"):
        if key in rates:
            print(f"{labels[key]:<55} {rates[key]:>12,.0f} lines/s")
    print("ratios:")
    if "b" in rates:
        print(f"  (d)/(b) = {rates['d'] / rates['b']:.1f}x   (target >= 5)")
    if "c" in rates:
        print(f"  (e)/(c) = {rates['e'] / rates['c']:.1f}x   (target >= 5)")
    print(f"  (a)/(d) = {rates['a'] / rates['d']:.2f}x   (target <= 2.5)")
    if "f" in rates:
        print(f"  (f)/(d) = {rates['f'] / rates['d']:.2f}x   (target >= 1.7 on 10+ files)")
        print(
            f"  (f)/(workers=1) = {rates['f'] / rates['f1']:.2f}x   (the parallel speed-up itself)"
        )
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--parallel", nargs="+", help=argparse.SUPPRESS)  # (f), in a fresh process
    args = parser.parse_args()
    if args.parallel:
        replay(args.parallel[:1])  # (imports and first-use costs: a script pays them once)
        one = timeit(lambda: replay(args.parallel), args.repeat)
        two = timeit(lambda: replay(args.parallel, workers=2), args.repeat)
        print(json.dumps({"workers=1": one, "workers=2": two}))
        return 0
    if not HISTORIC.exists():
        print(f"{HISTORIC} is missing: this benchmark reads the shared data")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        files = market_files()
        contents = [read(p) for p in files]
        small = []
        for p, c in zip(files, contents, strict=True):
            target = Path(tmp, "historic", p.name.removesuffix(".bz2").removesuffix(".gz"))
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(c)
            small.append(str(target))
        start = time.perf_counter()
        for p in files:
            if p.name.endswith(".bz2"):
                bz2.decompress(p.read_bytes())
        print(f"bz2 decompression of the historic .bz2 files: {time.perf_counter() - start:.2f} s")
        measure("historic market files", contents, small, args)

        pro = read(HISTORIC / PRO)
        copies, paths = [], []
        for i in range(args.copies):
            market = f"1.9{i:08d}".encode()
            data = pro.replace(b"1.127236622", market)
            path = Path(tmp, "pro", market.decode())
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data)
            copies.append(data)
            paths.append(str(path))
        measure(f"PRO file x{args.copies}", copies, paths, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

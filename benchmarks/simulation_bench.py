"""Simulation speed: lines per second of the tutorial's back-the-favourite backtest, marketstreams
simulate() against flumine's FlumineSimulation, same files, same run; and simulate() with
workers=2 against workers=1.

    python benchmarks/simulation_bench.py [--copies 12] [--repeat 3] [--no-window] [--month-copies 60]
        [--peer-python .venv-peers/bin/python]

Two file sets, both written decompressed to a temporary folder (both sides read the same plain
files; decompression is no part of the figure): the market files of
../shared/data/betfair/historic (one per market: see simulation_conformance.py), and the PRO file
(bfparser-1.127236622, a horse race WIN market of 16k lines) repeated under distinct market ids.

  (a) flumine 3.3 FlumineSimulation + SimulatedClient, BackFavourite60, the tutorial's listener
      window (inplay=False, seconds_to_start=80); its time is framework.run() alone (imports and
      setup excluded), best of --repeat runs, each in a fresh peers' process
  (b) marketstreams simulate(), BackFavourite60, ReplayFilter(inplay=False, seconds_to_start=80),
      workers=1, best of --repeat, in this process

(a) and (b) also give lines per second of CPU time (time.process_time of the process doing the
work): on a machine other jobs share, that ratio holds better than the wall-clock one.
  (c) simulate() workers=2 against workers=1 on the files, in a fresh process (as a user's
      script runs it: this one holds the copies' contents), the two alternated, best of --repeat;
      also alone on --month-copies copies of the PRO file (a run of under half a second mostly
      measures a pool's fixed costs: forking two workers, sending results back)

and, for scale, replay() of the files with no hook (every line applied, every book handed on)
and orjson.loads of every line already in memory (what a decode of each line to Python objects
costs: flumine pays it on every line, also outside its window). simulate() can beat both: the
Betfair cache reads plain deltas straight from the bytes, applies runs of lines no strategy
waits for in one call, and reads only the definitions of a market past the window with no live
order (docs/simulation.md, "Speed").

The lines are the files' non-blank lines, counted once and used for both sides. flumine's window
also limits what it computes (no books outside it); marketstreams keeps matching the whole market
(the window limits strategy calls only), so ``--no-window`` is the like-for-like work.
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
from typing import Any

import orjson
from _simulation_common import HISTORIC, BackFavourite60, market_files
from replay_bench import read

from marketstreams import ReplayFilter, replay
from marketstreams.simulation import simulate

ROOT = Path(__file__).resolve().parents[1]
PEER = Path(__file__).with_name("_flumine_sim.py")
PRO = "bfparser-1.127236622.bz2"


def window(args: argparse.Namespace) -> ReplayFilter | None:
    return None if args.no_window else ReplayFilter.make(inplay=False, seconds_to_start=80)


def best_of(fn: Any, repeat: int) -> float:
    """The best wall-clock time of `repeat` runs."""
    return best_of_both(fn, repeat)[0]


def best_of_both(fn: Any, repeat: int) -> tuple[float, float]:
    """The best wall-clock time and the best CPU time of this process, of `repeat` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def flumine_seconds(args: argparse.Namespace, paths: list[str]) -> tuple[float, float, int]:
    command = [args.peer_python, str(PEER), "--strategies", "back_fav", *paths]
    if args.no_window:
        command.insert(2, "--no-window")
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    wall, cpu = min(r["seconds"] for r in runs), min(r["cpu_seconds"] for r in runs)
    return wall, cpu, len(runs[0]["orders"])


def floor(paths: list[str], lines: int, repeat: int) -> float:
    """orjson.loads of every line, already in memory: no simulator parses JSON faster."""
    chunks = [[ln for ln in Path(p).read_bytes().split(b"\n") if ln.strip()] for p in paths]

    def parse() -> None:
        loads = orjson.loads
        for chunk in chunks:
            for line in chunk:
                loads(line)

    return lines / best_of(parse, repeat)


def measure(name: str, paths: list[str], lines: int, args: argparse.Namespace) -> None:
    print(f"\n== {name}: {len(paths)} files, {lines:,} lines")
    parse = floor(paths, lines, args.repeat)
    print(f"    orjson.loads of every line alone              {parse:>12,.0f} lines/s")
    alone = lines / best_of(lambda: replay(paths), args.repeat)
    print(f"    replay() alone, no hooks (the books)          {alone:>12,.0f} lines/s")
    simulate(paths[:1], [BackFavourite60()], market_filter=window(args))  # first-use costs
    orders = 0

    def ours() -> None:
        nonlocal orders
        orders = len(simulate(paths, [BackFavourite60()], market_filter=window(args)).orders)

    wall, cpu = best_of_both(ours, args.repeat)
    b, b_cpu = lines / wall, lines / cpu
    print(
        f"(b) marketstreams simulate(), workers=1           {b:>12,.0f} lines/s  "
        f"(CPU time: {b_cpu:,.0f}; {orders} orders)"
    )
    if os.path.exists(args.peer_python):
        wall, cpu, peer_orders = flumine_seconds(args, paths)
        a, a_cpu = lines / wall, lines / cpu
        print(
            f"(a) flumine FlumineSimulation                     {a:>12,.0f} lines/s  "
            f"(CPU time: {a_cpu:,.0f}; {peer_orders} orders)"
        )
        print(
            f"    (b)/(a) = {b / a:.1f}x, by CPU time {b_cpu / a_cpu:.1f}x   (target >= 10; "
            f"orjson.loads of each line alone is {parse / a:.1f}x flumine)"
        )
    else:
        print(f"(a) skipped: {args.peer_python} is missing (benchmarks/peers.sh)")
    if len(paths) >= 2:
        parallel(paths, lines, args)


def parallel(paths: list[str], lines: int, args: argparse.Namespace) -> None:
    """(c): workers=2 against workers=1, in a fresh process."""
    command = [sys.executable, __file__, "--repeat", str(args.repeat), "--parallel", *paths]
    if args.no_window:
        command.insert(2, "--no-window")
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds_by = json.loads(out)
    one, two = lines / seconds_by["workers=1"], lines / seconds_by["workers=2"]
    print(f"    simulate(), workers=1 (fresh process)         {one:>12,.0f} lines/s")
    print(f"(c) simulate(), workers=2 (fresh process)         {two:>12,.0f} lines/s")
    print(
        f"    (c)/workers=1 = {two / one:.2f}x   (target >= 1.7 on 10+ files: "
        f"{'10+' if len(paths) >= 10 else 'only'} {len(paths)} here)"
    )


def count_lines(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--copies", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-window", action="store_true")
    parser.add_argument(
        "--month-copies", type=int, default=60, help="PRO copies for (c) alone (0: skip)"
    )
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--parallel", nargs="+", help=argparse.SUPPRESS)  # (c), fresh process
    args = parser.parse_args()
    if args.parallel:
        strategy, paths = [BackFavourite60()], args.parallel
        simulate(paths[:1], strategy, market_filter=window(args))  # first-use costs
        times = {"workers=1": float("inf"), "workers=2": float("inf")}
        # alternated, so that a change in what else runs on the machine hits both alike
        for _ in range(args.repeat):
            for workers in (1, 2):
                start = time.perf_counter()
                simulate(paths, strategy, market_filter=window(args), workers=workers)
                seconds = time.perf_counter() - start
                key = f"workers={workers}"
                times[key] = min(times[key], seconds)
        print(json.dumps(times))
        return 0
    if not HISTORIC.exists():
        print(f"{HISTORIC} is missing: this benchmark reads the shared data")
        return 2
    print(f"window: {'none' if args.no_window else 'inplay=False, seconds_to_start=80'}")
    # the figures mean little on a busy machine: say how busy it was
    print(f"load average at the start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        chosen, _ = market_files(HISTORIC.iterdir())
        paths, lines = [], 0
        for path in chosen.values():
            data = read(path)
            target = Path(tmp, "historic", path.name.removesuffix(".bz2").removesuffix(".gz"))
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            paths.append(str(target))
            lines += count_lines(data)
        measure("historic market files", paths, lines, args)

        pro = read(HISTORIC / PRO)
        paths = []
        for i in range(args.copies):
            market = f"1.9{i:08d}".encode()
            path = Path(tmp, "pro", market.decode())
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(pro.replace(b"1.127236622", market))
            paths.append(str(path))
        measure(f"PRO file x{args.copies}", paths, count_lines(pro) * args.copies, args)
        if args.month_copies:
            # A sweep's size: a pool's fixed costs (forking two workers, sending results back)
            # are paid once per run, so a run of under half a second measures them more than
            # the parallel work; a month of files is thousands.
            for i in range(args.copies, args.month_copies):
                market = f"1.9{i:08d}".encode()
                path = Path(tmp, "pro", market.decode())
                path.write_bytes(pro.replace(b"1.127236622", market))
                paths.append(str(path))
            print(f"\n== PRO file x{args.month_copies}: (c) alone")
            parallel(paths, count_lines(pro) * args.month_copies, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

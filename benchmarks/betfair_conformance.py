"""Conformance of marketstreams' Betfair MarketCache with betfairlightweight's cache.

After every message of every historic market file in ../shared/data/betfair/historic, for every
market the message touched, compares: market status, in-play, market total matched, and per
runner status, last traded price, total matched and the best three back and lay (price, size).
betfairlightweight runs in its own virtualenv (``.venv-peers``, installed from PyPI) in a
subprocess and streams its view back; PRO files (digit-string ``clk``) run with its PRO flags
(``calculate_market_tv`` and ``cumulative_runner_tv``).

Usage (from the repository root)::

    .venv/bin/python benchmarks/betfair_conformance.py [--peers .venv-peers/bin/python] [FILE...]

Prints one line per file and a summary of mismatch classes with the first example of each.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "betfair" / "historic"
PEERS_PYTHON = ROOT / ".venv-peers" / "bin" / "python"


def read_lines(path: Path) -> Iterator[bytes]:
    opener: Any = bz2.open if path.suffix == ".bz2" else gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for line in f:
            if line.strip():
                yield line


def is_market_file(path: Path) -> bool:
    for line in read_lines(path):
        return orjson.loads(line).get("op") == "mcm"
    return False


def is_pro(path: Path) -> bool:
    """Betfair-sold files carry digit-string clocks."""
    for line in read_lines(path):
        clk = orjson.loads(line).get("clk")
        return isinstance(clk, str) and clk.isdigit()
    return False


def _r2(x: Any) -> Any:
    return None if x is None else round(float(x), 2)


# -- the betfairlightweight side (runs inside .venv-peers) ----------------------------------


def peer_main(path: str, pro: bool) -> None:
    import logging

    from betfairlightweight.streaming.listener import StreamListener

    logging.disable(logging.CRITICAL)
    listener = StreamListener(
        max_latency=None,
        lightweight=True,
        calculate_market_tv=pro,
        cumulative_runner_tv=pro,
    )
    listener.register_stream(0, "marketSubscription")
    out = sys.stdout.buffer
    for line in read_lines(Path(path)):
        listener.on_data(line.decode())
        message = orjson.loads(line)
        ids = list(dict.fromkeys(mc["id"] for mc in message.get("mc") or ()))
        caches = listener.stream._caches
        view = []
        for mid in ids:
            c = caches.get(mid)
            if c is None:
                continue
            runners = []
            for r in c.runners:
                back = [[d["price"], d["size"]] for d in r.serialise_available_to_back()[:3]]
                lay = [[d["price"], d["size"]] for d in r.serialise_available_to_lay()[:3]]
                runners.append(
                    [
                        r.selection_id,
                        float(r.handicap or 0),
                        r._definition_status,
                        r.last_price_traded,
                        _r2(r.total_matched),
                        back,
                        lay,
                    ]
                )
            view.append(
                [mid, c._definition_status, c._definition_in_play, _r2(c.total_matched), runners]
            )
        out.write(orjson.dumps(view) + b"\n")
    out.flush()


# -- our side ------------------------------------------------------------------------------


def our_views(path: Path) -> Iterator[list[Any]]:
    sys.path.insert(0, str(ROOT))
    from marketstreams.venues.betfair import MarketCache

    cache = MarketCache(evict_closed_after=10**9)
    for line in read_lines(path):
        message = orjson.loads(line)
        cache(message)
        ids = list(dict.fromkeys(mc["id"] for mc in message.get("mc") or ()))
        view = []
        for mid in ids:
            b = cache.markets.get(mid)
            if b is None:
                continue
            runners = [
                [
                    r.selection_id,
                    float(r.handicap),
                    r.status,
                    r.last_price_traded,
                    _r2(r.total_matched),
                    [list(x) for x in r.best_back(3)],
                    [list(x) for x in r.best_lay(3)],
                ]
                for r in b.runners
            ]
            view.append([mid, b.status, b.inplay, _r2(b.total_matched), runners])
        yield view


FIELDS = ("status", "last_price_traded", "total_matched", "best_back_3", "best_lay_3")


def compare(
    ours: list[Any], theirs: list[Any], counts: Counter[str], examples: dict[str, str], where: str
) -> None:
    def miss(kind: str, detail: str) -> None:
        counts[kind] += 1
        examples.setdefault(kind, f"{where}: {detail}")

    theirs_by_id = {v[0]: v for v in theirs}
    for mid, status, inplay, total, runners in ours:
        other = theirs_by_id.get(mid)
        if other is None:
            miss("market missing in betfairlightweight", mid)
            continue
        if status != other[1]:
            miss("market status", f"{mid} ours={status} bflw={other[1]}")
        if inplay != other[2]:
            miss("market inplay", f"{mid} ours={inplay} bflw={other[2]}")
        if total != other[3]:
            miss("market total matched", f"{mid} ours={total} bflw={other[3]}")
        theirs_runners = {(r[0], r[1]): r for r in other[4]}
        ours_runners = {(r[0], r[1]): r for r in runners}
        if set(theirs_runners) != set(ours_runners):
            miss(
                "runner set",
                f"{mid} only ours={set(ours_runners) - set(theirs_runners)} "
                f"only bflw={set(theirs_runners) - set(ours_runners)}",
            )
        for key, r in ours_runners.items():
            t = theirs_runners.get(key)
            if t is None:
                continue
            for i, name in enumerate(FIELDS, start=2):
                if r[i] != t[i]:
                    miss(f"runner {name}", f"{mid} {key} ours={r[i]} bflw={t[i]}")


def run_file(path: Path, peers: Path) -> tuple[int, Counter[str], dict[str, str]]:
    pro = is_pro(path)
    proc = subprocess.Popen(
        [str(peers), __file__, "--peer", str(path)] + (["--pro"] if pro else []),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    n = 0
    for n, ours in enumerate(our_views(path), start=1):
        line = proc.stdout.readline()
        if not line:
            counts["betfairlightweight stopped early"] += 1
            break
        compare(ours, orjson.loads(line), counts, examples, f"{path.name} message {n}")
    proc.stdout.close()
    if proc.wait() != 0:
        counts["betfairlightweight failed"] += 1
    return n, counts, examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--peers", type=Path, default=PEERS_PYTHON)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--pro", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.peer:
        peer_main(args.peer, args.pro)
        return 0
    if not args.peers.exists():
        print(f"betfairlightweight's virtualenv not found at {args.peers}", file=sys.stderr)
        return 2
    files = args.files or sorted(p for p in DATA.iterdir() if p.is_file())
    total: Counter[str] = Counter()
    first: dict[str, str] = {}
    messages = 0
    for path in files:
        if not is_market_file(path):
            print(f"{path.name:32} skipped (not a market stream file)")
            continue
        n, counts, examples = run_file(path, args.peers)
        messages += n
        total.update(counts)
        for k, v in examples.items():
            first.setdefault(k, v)
        flag = "PRO" if is_pro(path) else "   "
        print(f"{path.name:32} {flag} messages={n:6d} mismatches={sum(counts.values()):6d}")
    print(f"\n{messages} messages compared, {sum(total.values())} mismatches")
    for kind, count in total.most_common():
        print(f"  {kind}: {count}\n    first: {first[kind]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

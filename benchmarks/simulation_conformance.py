"""Simulation conformance: flumine 3.3 and marketstreams run the same strategies on the same files,
same run, and their orders are compared one by one.

    python benchmarks/simulation_conformance.py [--peer-python .venv-peers/bin/python]
        [--no-window] [--json out.json] [PATH ...]

Files: every Betfair *market* stream file of ../shared/data/betfair/historic (or the PATHs given).
Files of other streams (ORDER-, RACE-, CRICKET-, sportsdata-) are skipped and listed, and so is a
second file of a market already seen (BASIC-1.132153978.gz repeats BASIC-1.132153978: flumine
would carry the first file's blotter into the second).

Strategies: benchmarks/_flumine_sim.py (flumine's BaseStrategy) and
benchmarks/_simulation_common.py (marketstreams' Strategy): the tutorial's back the favourite
at 60 s, proportional staking at 30 s and a lay strategy, in one pass each. The window is the
tutorial's (``inplay=False, seconds_to_start=80``: flumine's listener_kwargs, marketstreams'
ReplayFilter); ``--no-window`` runs both without one.

Orders are paired by (strategy, market, selection, side, n-th such order) and compared on size
matched, average price matched, profit and status, floats within 1e-6. Status is compared as
the outcome of the size breakdown, the same function on both sides: VOIDED when anything was
voided, EXECUTION_COMPLETE when fully matched, LAPSED / CANCELLED when a remainder lapsed / was
cancelled, EXECUTABLE when a remainder was still live when the data ended, PENDING when never
placed (flumine reports a lapsed order as EXECUTION_COMPLETE; marketstreams as LAPSED: the same
outcome). Refused orders (VIOLATION) never reach flumine's blotter and are counted apart.

The output: a table per file, then one line per class of difference with its count and first
examples. A difference that fits a known flumine defect (B1-B3, written up with the evidence in
docs/simulation.md) is named by it; any other is "unexplained" with the fields that differ.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from _simulation_common import HISTORIC, RULES, STRATEGIES, market_files

from marketstreams import ReplayFilter
from marketstreams.simulation import simulate

ROOT = Path(__file__).resolve().parents[1]
PEER = Path(__file__).with_name("_flumine_sim.py")
TOLERANCE = 1e-6
FIELDS = ("size_matched", "average_price_matched", "profit", "status")


def outcome(order: dict[str, Any]) -> str:
    """The order's final state from its size breakdown (the same rule for both sides)."""
    if order.get("status") in ("PENDING", "VIOLATION"):
        return str(order["status"])
    if order["size_voided"] > TOLERANCE:
        return "VOIDED"
    if order.get("order_type", "LIMIT") != "LIMIT":  # size is the liability: matched or not
        return "EXECUTION_COMPLETE" if order["size_matched"] > TOLERANCE else "UNMATCHED"
    if order["size"] - order["size_matched"] <= TOLERANCE:
        return "EXECUTION_COMPLETE"
    if order["size_lapsed"] > TOLERANCE:
        return "LAPSED"
    if order["size_cancelled"] > TOLERANCE:
        return "CANCELLED"
    return "EXECUTABLE"


def ours_as_dict(order: Any) -> dict[str, Any]:
    return {
        "strategy": order.strategy,
        "market_id": order.market_id,
        "selection_id": order.selection_id,
        "side": order.side,
        "order_type": order.order_type,
        "persistence": order.persistence,
        "price": order.price,
        "size": order.size,
        "size_matched": order.size_matched,
        "average_price_matched": order.average_price_matched,
        "size_remaining": order.size_remaining,
        "size_lapsed": order.size_lapsed,
        "size_cancelled": order.size_cancelled,
        "size_voided": order.size_voided,
        "profit": order.profit,
        "status": order.status,
        "placed_at": order.placed_at,
        "matched_at": order.matched_at,
        "violation": order.violation,
    }


def keyed(orders: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    seen: Counter[tuple[Any, ...]] = Counter()
    out = {}
    for order in orders:
        base = (order["strategy"], order["market_id"], order["selection_id"], order["side"])
        out[(*base, seen[base])] = order
        seen[base] += 1
    return out


def differences(peer: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    """The compared fields that differ ("status" compares outcomes)."""
    found = []
    for name in FIELDS:
        if name == "status":
            if outcome(peer) != outcome(ours):
                found.append("status")
            continue
        a, b = peer[name], ours[name]
        if name == "profit" and not peer.get("market_closed", True):
            continue  # flumine settles only what closed; an unsettled profit is not compared
        a = 0.0 if a is None else a
        b = 0.0 if b is None else b
        if abs(a - b) > TOLERANCE:
            found.append(name)
    return found


def strategy_set(args: argparse.Namespace) -> dict[str, Any]:
    return RULES if args.rules else STRATEGIES


CAUSES = {
    "B1": "LAPSE order lapsed by marketstreams at the turn in play, matched later by flumine "
    "(flumine lapses only on a suspension)",
    "B2": "unmatched remainder at the close: marketstreams lapses it, flumine leaves it EXECUTABLE",
    "B3": "runner removed: marketstreams voids the order, flumine keeps it (no adjustment factor)",
}


def cause(peer: dict[str, Any], ours: dict[str, Any], diff: list[str]) -> str:
    """The known flumine defect a difference fits (docs/simulation.md), else the fields."""
    same_matched = abs(peer["size_matched"] - ours["size_matched"]) <= TOLERANCE
    if (
        diff == ["status"]
        and same_matched
        and outcome(peer) == "EXECUTABLE"
        and peer.get("market_closed", True)
        and abs(peer["size_remaining"] - ours["size_lapsed"]) <= TOLERANCE
    ):
        return "B2"
    if ours["size_voided"] > TOLERANCE and peer["size_voided"] <= TOLERANCE:
        return "B3"
    if (
        ours.get("persistence") == "LAPSE"
        and ours["size_lapsed"] > TOLERANCE
        and peer["size_lapsed"] <= TOLERANCE
        and peer["size_matched"] > ours["size_matched"]
    ):
        return "B1"
    return "unexplained: " + " + ".join(diff)


def run_flumine(args: argparse.Namespace, paths: list[str]) -> dict[str, Any]:
    command = [args.peer_python, str(PEER), "--strategies", ",".join(strategy_set(args)), *paths]
    if args.no_window:
        command.insert(2, "--no-window")
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"flumine failed ({done.returncode}):\n{done.stderr[-3000:]}")
    peer: dict[str, Any] = json.loads(done.stdout)
    return peer


def run_ours(args: argparse.Namespace, paths: list[str]) -> tuple[Any, float]:
    window = None if args.no_window else ReplayFilter.make(inplay=False, seconds_to_start=80)
    start = time.perf_counter()
    result = simulate(
        paths,
        [cls() for cls in strategy_set(args).values()],
        market_filter=window,
        commission=0.0,
    )
    return result, time.perf_counter() - start


def describe(order: dict[str, Any] | None) -> str:
    if order is None:
        return "-"
    return (
        f"{order['side']} {order['size']}@{order['price']} matched {order['size_matched']}"
        f"@{order['average_price_matched']} profit {order['profit']} {outcome(order)}"
        f" ({order['status']}) placed_at {order.get('placed_at')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    parser.add_argument("--no-window", action="store_true")
    parser.add_argument(
        "--rules", action="store_true", help="the rules set instead of the tutorial's strategies"
    )
    parser.add_argument("--json", type=Path, help="write both sides' orders here")
    args = parser.parse_args()
    if not os.path.exists(args.peer_python):
        print(f"{args.peer_python} is missing: run benchmarks/peers.sh (flumine 3.3)")
        return 2
    sources = args.paths or (sorted(HISTORIC.iterdir()) if HISTORIC.exists() else [])
    if not sources:
        print(f"{HISTORIC} is missing: this benchmark reads the shared data")
        return 2
    chosen, skipped = market_files(sources)
    paths = [str(p) for p in chosen.values()]
    file_of = {market: path.name for market, path in chosen.items()}
    print(f"market files: {len(paths)}; skipped {len(skipped)}:")
    for reason in skipped:
        print(f"  {reason}")
    window = "none" if args.no_window else "inplay=False, seconds_to_start=80"
    names = ", ".join(c.__name__ for c in strategy_set(args).values())
    print(f"window: {window}; strategies: {names}")

    peer = run_flumine(args, paths)
    result, seconds = run_ours(args, paths)
    ours_all = [ours_as_dict(o) for o in result.orders]
    ours_orders = [o for o in ours_all if o["status"] != "VIOLATION"]
    print(
        f"flumine: {len(peer['orders'])} orders in {peer['seconds']:.2f} s, refused "
        f"{sum(peer['violations'].values())}; marketstreams: {len(ours_orders)} orders in "
        f"{seconds:.2f} s, refused {len(ours_all) - len(ours_orders)}; errors "
        f"{len(result.errors)}, strategy errors {result.strategy_errors}"
    )
    for error in result.errors:
        print(f"  error: {error}")

    theirs, mine = keyed(peer["orders"]), keyed(ours_orders)
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    classes: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for key in sorted(set(theirs) | set(mine), key=str):
        name = file_of.get(key[1], key[1])
        a, b = theirs.get(key), mine.get(key)
        per_file[name]["flumine"] += a is not None
        per_file[name]["ours"] += b is not None
        if a is None or b is None:
            cls = "only in marketstreams" if a is None else "only in flumine"
        else:
            per_file[name]["compared"] += 1
            diff = differences(a, b)
            if not diff:
                per_file[name]["equal"] += 1
                continue
            cls = cause(a, b, diff)
        per_file[name]["mismatches"] += 1
        classes[cls].append(key)

    print(f"\n{'file':<28} {'flumine':>7} {'ours':>5} {'compared':>8} {'equal':>5} {'mismatch':>8}")
    total: Counter[str] = Counter()
    for name in sorted(set(file_of.values())):
        row = per_file.get(name, Counter())
        total.update(row)
        print(
            f"{name:<28} {row['flumine']:>7} {row['ours']:>5} {row['compared']:>8} "
            f"{row['equal']:>5} {row['mismatches']:>8}"
        )
    print(
        f"{'total':<28} {total['flumine']:>7} {total['ours']:>5} {total['compared']:>8} "
        f"{total['equal']:>5} {total['mismatches']:>8}"
    )
    print(f"\nclasses of difference: {len(classes)}")
    for cls, keys in sorted(classes.items(), key=lambda item: -len(item[1])):
        print(f"  {cls} {CAUSES.get(cls, '')}: {len(keys)}")
        for key in keys[:3]:
            print(f"    {key[0]} {key[1]} ({file_of.get(key[1], '?')}) selection {key[2]}")
            print(f"      flumine:       {describe(theirs.get(key))}")
            print(f"      marketstreams: {describe(mine.get(key))}")
    if args.json:
        args.json.write_text(json.dumps({"flumine": peer, "marketstreams": ours_all}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

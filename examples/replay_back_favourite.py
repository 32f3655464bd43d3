"""The flumine tutorial's "back the favourite" backtest, with marketstreams.replay.

    python examples/replay_back_favourite.py [PATH ...] [--workers N]

PATH: Betfair historical files, folders or the .tar Betfair sells (read in place). Without a path
it uses ../shared/data/betfair/historic when present, else a tiny market it writes itself.

The strategy: in WIN markets, pre-play, in the last 60 seconds before the scheduled start, note
the favourite (lowest best back price) once; at the end, settle a 1-unit back bet on it from the
market's final definition. Each file's results come back from whichever process replayed it and
are merged by replay()'s default reducer (dicts are merged).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from marketstreams import ReplayFilter, replay

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent / ".." / "shared" / "data" / "betfair" / "historic"


class BackFavourite:
    def __init__(self, seconds_before: float = 60.0) -> None:
        self.seconds_before = seconds_before
        self.bets: dict[str, dict[str, Any]] = {}
        self.books: dict[str, Any] = {}

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.books[book.market_id] = book  # for settling at the end
        if book.market_id in self.bets or book.status != "OPEN":
            return
        start = book.market_definition.get("marketTime") if book.market_definition else None
        if start is None or book.publish_time is None:
            return
        from datetime import datetime

        seconds_to_start = (
            datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp()
            - book.publish_time / 1000
        )
        if seconds_to_start > self.seconds_before:
            return
        offers = [
            (best[0][0], r)
            for r in book.runners
            if r.status == "ACTIVE" and (best := r.best_back(1))
        ]
        if offers:
            price, runner = min(offers, key=lambda offer: offer[0])
            self.bets[book.market_id] = {"selection_id": runner.selection_id, "price": price}

    def result(self) -> dict[str, dict[str, Any]]:
        for market_id, bet in self.bets.items():
            definition = self.books[market_id].market_definition or {}
            winners = {
                r["id"] for r in definition.get("runners", []) if r.get("status") == "WINNER"
            }
            settled = bool(winners)
            bet["profit"] = (
                (bet["price"] - 1 if bet["selection_id"] in winners else -1.0) if settled else None
            )
        return self.bets


def tiny_market(folder: Path) -> Path:
    """One WIN market, 90 s before the off until it closes, two runners."""
    lines = []
    definition = {
        "marketType": "WIN",
        "marketTime": "2026-01-01T12:00:00.000Z",
        "inPlay": False,
        "status": "OPEN",
        "runners": [
            {"id": 1, "sortPriority": 1, "status": "ACTIVE"},
            {"id": 2, "sortPriority": 2, "status": "ACTIVE"},
        ],
    }
    start_ms = 1767268800000
    lines.append(
        {
            "op": "mcm",
            "pt": start_ms - 90_000,
            "mc": [
                {
                    "id": "1.1",
                    "img": True,
                    "marketDefinition": definition,
                    "rc": [{"id": 1, "atb": [[2.0, 10]]}, {"id": 2, "atb": [[3.0, 10]]}],
                }
            ],
        }
    )
    lines.append(
        {
            "op": "mcm",
            "pt": start_ms - 30_000,
            "mc": [{"id": "1.1", "rc": [{"id": 2, "atb": [[1.8, 5]]}]}],
        }
    )
    closed = dict(
        definition,
        status="CLOSED",
        runners=[
            {"id": 1, "sortPriority": 1, "status": "LOSER"},
            {"id": 2, "sortPriority": 2, "status": "WINNER"},
        ],
    )
    lines.append(
        {"op": "mcm", "pt": start_ms + 60_000, "mc": [{"id": "1.1", "marketDefinition": closed}]}
    )
    path = folder / "1.1"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.paths or ([str(SHARED)] if SHARED.exists() else [str(tiny_market(Path(tmp)))])
        result = replay(
            paths,
            hooks=[BackFavourite()],
            market_filter=ReplayFilter.make(
                market_types=["WIN"], inplay=False, seconds_to_start=80
            ),
            workers=args.workers,
        )
    bets = result.results[0] or {}
    settled = [b["profit"] for b in bets.values() if b["profit"] is not None]
    for market_id, bet in sorted(bets.items()):
        print(f"{market_id}: backed {bet['selection_id']} at {bet['price']} -> {bet['profit']}")
    print(f"markets bet: {len(bets)}, settled: {len(settled)}, profit: {sum(settled):+.2f} units")
    print(
        f"replay: files={len(result.files)} markets={result.markets} updates={result.updates} "
        f"seconds={result.seconds:.2f} errors={len(result.errors)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Betfair historic files: the MarketCache on a recorded stream, line by line, plus numpy views.

    python examples/betfair_historic_file.py [FILE]

FILE is a Betfair historic data file or a self-recorded stream (plain, .gz or .bz2). Without one
it uses a file of ../shared/data/betfair when present, else writes a small synthetic recording.
"""

from __future__ import annotations

import bz2
import gzip
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import orjson

from marketstreams.venues import betfair
from mock_servers.betfair import SyntheticMarkets

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "betfair" / "historic"


def open_any(path: Path) -> IO[bytes]:
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def synthetic_file(directory: str) -> Path:
    path = Path(directory) / "synthetic-1.900000001"
    markets = SyntheticMarkets(markets=1, runners=4, orders_every=0)
    with open(path, "wb") as f:
        pt = 1700000000000
        for _, change in markets.initial():
            f.write(orjson.dumps({"op": "mcm", "clk": None, "pt": pt, "mc": [change]}) + b"\n")
        for i in range(2000):
            _, change = markets.next()
            message = {"op": "mcm", "clk": None, "pt": pt + 250 * i, "mc": [change]}
            f.write(orjson.dumps(message) + b"\n")
    return path


def replay(path: Path) -> None:
    cache = betfair.MarketCache()
    lines = 0
    last: Any = None
    with open_any(path) as f:
        for line in f:
            lines += 1
            for book in cache(line):  # bytes in, the changed MarketBooks out
                last = book
    print(f"{path.name}: {lines} lines, {len(cache)} markets, {cache.changes} market changes")
    if last is None:
        return
    print(f"{last.market_id}: {last.status}, in-play {last.inplay}, matched {last.total_matched}")
    for runner in last.runners:
        print(
            f"  {runner.selection_id:>10} {runner.status or '':8} ltp={runner.last_price_traded} "
            f"matched={runner.total_matched:.2f} back={runner.best_back(1)} lay={runner.best_lay(1)}"
        )
    offers = last.best_offers  # [runner, side (back, lay), level, (price, size)]
    print(f"best_offers array {offers.shape}; first runner's best back {offers[0, 0, 0].tolist()}")


def main(argv: list[str]) -> None:
    if argv:
        replay(Path(argv[0]))
        return
    candidate = SHARED / "1.197931750"
    if candidate.exists():
        replay(candidate)
        return
    with tempfile.TemporaryDirectory() as tmp:
        replay(synthetic_file(tmp))


if __name__ == "__main__":
    main(sys.argv[1:])

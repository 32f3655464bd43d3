"""Replay a recorded BitMEX session through the same protocol code the live feed uses.

    python examples/bitmex_replay_capture.py [CAPTURE]

CAPTURE is a cryptofeed raw capture (default: the 2021 one in ../shared/data/bitmex). Prints
each book's top of book at the end, and the protocol's counters.
"""

from __future__ import annotations

import sys
from pathlib import Path

from marketstreams.venues.bitmex import BitmexProtocol
from marketstreams.venues.bitmex.capture import iter_received

DEFAULT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "bitmex"
DEFAULT_CAPTURE = DEFAULT / "cryptofeed_BITMEX.ws.1.0"


def main(path: Path) -> int:
    if not path.is_file():
        print(f"no capture at {path}: nothing to replay")
        return 0
    protocol = BitmexProtocol()
    updates = trades = 0
    for received, frame in iter_received(path):
        for event in protocol.receive(frame, received):
            if hasattr(event, "book"):
                updates += 1
                trades += len(event.trades)
    for symbol, book in sorted(protocol.books.items()):
        print(f"{symbol:10} bid {book.best_bid()} ask {book.best_ask()} levels {len(book)}")
    print(f"{updates} book updates, {trades} trades; {protocol.counters}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CAPTURE))

"""The minimal markets behind each class of difference simulation_conformance.py finds.

    python benchmarks/simulation_minimal_cases.py DIR
    python benchmarks/simulation_conformance.py DIR/1.91             # class 1 (tutorial set)
    python benchmarks/simulation_conformance.py --no-window DIR/1.91
    python benchmarks/simulation_conformance.py --rules DIR/1.92     # class 2 (rules set)
    python benchmarks/simulation_conformance.py DIR/1.93             # class 3 (tutorial set)

All are WIN markets of two runners, scheduled at 12:00:00, opening at 11:58:30 with runner 1
offered at 2.0 (10 to back) and 2.02 (10 to lay), last traded at 2.02; two small changes on runner
2 at 11:59:10 and 11:59:11 give the strategies books inside their last 60 s.

1.91  BackFavourite60 backs runner 1 at its last traded price 2.02, which rests behind the 10
      waiting at 2.02. At 12:00:01 the market turns in play (a new version, still OPEN: no
      suspension), at 12:00:05 60 more trade at 2.02, at 12:05:00 the market suspends in play,
      at 12:06:40 it closes with runner 1 the winner. Betfair lapses a LAPSE order when the
      market turns in play; flumine only lapses on a SUSPENDED book, so it keeps the order and
      fills it from the in-play volume.
1.93  BackFavourite60's back at 2.02 is created at 11:59:10 (the queue at 2.02 holds 10); 50 ms
      later 40 more trade at 2.02 (20 once halved); the order reaches the exchange at 11:59:11
      (the first book after the 0.12 s latency) and nothing trades after. flumine matches
      only EXECUTABLE orders (middleware LIVE_STATUS), so the volume that traded while the
      order was on its way fills nothing: 0 matched, lapsed at the off.
1.92  PassivePersist's PERSIST orders rest; nothing trades; the market suspends at 11:59:59, turns
      in play at 12:00:01 and closes at 12:06:40. What is still unmatched at the close lapses on
      Betfair; flumine leaves those orders EXECUTABLE.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

START = 1767268800000  # 2026-01-01T12:00:00Z


def definition(
    status: str = "OPEN", inplay: bool = False, version: int = 1, winner: int | None = None
) -> dict[str, Any]:
    """A full market definition (betfairlightweight needs every field)."""
    runners = [
        {
            "id": i,
            "sortPriority": i,
            "status": ("WINNER" if winner == i else "LOSER") if winner else "ACTIVE",
        }
        for i in (1, 2)
    ]
    return {
        "marketType": "WIN",
        "marketTime": "2026-01-01T12:00:00.000Z",
        "bspMarket": False,
        "turnInPlayEnabled": True,
        "persistenceEnabled": True,
        "marketBaseRate": 5.0,
        "inPlay": inplay,
        "status": status,
        "betDelay": 0,
        "version": version,
        "runners": runners,
        "bettingType": "ODDS",
        "bspReconciled": False,
        "complete": True,
        "crossMatching": True,
        "discountAllowed": True,
        "eventId": "1",
        "eventTypeId": "7",
        "numberOfActiveRunners": 2,
        "numberOfWinners": 1,
        "regulators": ["MR_INT"],
        "runnersVoidable": False,
        "timezone": "GMT",
    }


OPENING = [
    (-90_000, {"img": True, "marketDefinition": definition(), "rc": [
        {"id": 1, "ltp": 2.02, "trd": [[2.02, 20]], "atb": [[2.0, 10]], "atl": [[2.02, 10]]},
        {"id": 2, "ltp": 3.0, "trd": [[3.0, 20]], "atb": [[2.9, 10]], "atl": [[3.0, 10]]},
    ]}),
    (-50_000, {"rc": [{"id": 2, "atb": [[2.9, 12]]}]}),
    (-49_000, {"rc": [{"id": 2, "atb": [[2.9, 11]]}]}),
]  # fmt: skip

CASES: dict[str, list[tuple[int, dict[str, Any]]]] = {
    "1.91": [
        *OPENING,
        (1_000, {"marketDefinition": definition(inplay=True, version=2)}),
        (5_000, {"rc": [{"id": 1, "ltp": 2.02, "trd": [[2.02, 80]]}]}),
        (300_000, {"marketDefinition": definition("SUSPENDED", True, 3)}),
        (400_000, {"marketDefinition": definition("CLOSED", True, 4, winner=1)}),
    ],
    "1.93": [
        *OPENING[:2],
        (-49_950, {"rc": [{"id": 1, "ltp": 2.02, "trd": [[2.02, 60]]}]}),
        OPENING[2],
        (-1_000, {"marketDefinition": definition("SUSPENDED", False, 2)}),
        (400_000, {"marketDefinition": definition("CLOSED", True, 3, winner=1)}),
    ],
    "1.92": [
        *OPENING,
        (-1_000, {"marketDefinition": definition("SUSPENDED", False, 2)}),
        (1_000, {"marketDefinition": definition(inplay=True, version=3)}),
        (400_000, {"marketDefinition": definition("CLOSED", True, 4, winner=1)}),
    ],
}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for market, messages in CASES.items():
        lines = (
            json.dumps({"op": "mcm", "pt": START + pt, "mc": [{"id": market, **change}]})
            for pt, change in messages
        )
        (folder / market).write_text("\n".join(lines) + "\n")
        print(folder / market)
    return 0


if __name__ == "__main__":
    sys.exit(main())

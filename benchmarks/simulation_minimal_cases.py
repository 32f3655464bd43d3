"""The minimal markets behind each class of difference simulation_conformance.py finds, and a
few more that check rules the shared data rarely reaches (both sides agree on those).

    python benchmarks/simulation_minimal_cases.py DIR
    python benchmarks/simulation_conformance.py DIR/1.91             # class 1 (tutorial set)
    python benchmarks/simulation_conformance.py --no-window DIR/1.91
    python benchmarks/simulation_conformance.py --rules DIR/1.92     # class 2 (rules set)
    python benchmarks/simulation_conformance.py DIR/1.93             # class 3 (tutorial set)
    python benchmarks/simulation_conformance.py --rules DIR/1.97     # class 4 (rules set)
    python benchmarks/simulation_conformance.py [--rules --no-window] DIR/1.94   # and 1.95, 1.96

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
1.94  Three runners; runner 3 is removed at 11:59:30 with an adjustment factor of 30 (the market
      suspends, then reopens at 1.4): orders on runner 3 are voided, matched prices on the
      others reduced by 30 % (2.02 -> 1.41, 2.0 -> 1.4).
1.95  ProportionalBack30's back at 2.06 (9.43 to win 10) reaches the exchange after 3 at 2.1 and
      4 at 2.08 were offered: it crosses three levels, 9 matched at 2.0822 (2.08 rounded, as
      flumine's wap does); runners 1 and 2 both win (a dead heat: profit halved less half the
      stake, +0.36).
1.96  In play with a 5 s bet delay (rules set, --no-window): InplayBack's back crosses, so it
      waits out the delay and executes against the book of then.
1.97  Class 4 (rules set). PassivePersist's back at 5.0 on runner 3 is matched (2) from traded
      volume, then runner 3 is removed WITHOUT an adjustment factor. Betfair voids every bet on a
      non-runner; flumine voids only when the removal carries an adjustment factor, so it keeps
      2 matched at 5.0 on a runner that never ran (profit 0 either way).
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
    status: str = "OPEN",
    inplay: bool = False,
    version: int = 1,
    winner: int | None = None,
    *,
    runners: dict[int, str] | None = None,
    factors: dict[int, float] | None = None,
    bet_delay: int = 0,
) -> dict[str, Any]:
    """A full market definition (betfairlightweight needs every field). `runners`: id -> status
    (default runners 1 and 2, ACTIVE, or WINNER / LOSER when `winner` is given)."""
    if runners is None:
        runners = {
            i: ("WINNER" if winner == i else "LOSER") if winner else "ACTIVE" for i in (1, 2)
        }
    listed = []
    for i, runner_status in runners.items():
        runner: dict[str, Any] = {"id": i, "sortPriority": i, "status": runner_status}
        if factors and i in factors:
            runner["adjustmentFactor"] = factors[i]
        listed.append(runner)
    return {
        "marketType": "WIN",
        "marketTime": "2026-01-01T12:00:00.000Z",
        "bspMarket": False,
        "turnInPlayEnabled": True,
        "persistenceEnabled": True,
        "marketBaseRate": 5.0,
        "inPlay": inplay,
        "status": status,
        "betDelay": bet_delay,
        "version": version,
        "runners": listed,
        "bettingType": "ODDS",
        "bspReconciled": False,
        "complete": True,
        "crossMatching": True,
        "discountAllowed": True,
        "eventId": "1",
        "eventTypeId": "7",
        "numberOfActiveRunners": sum(r == "ACTIVE" for r in runners.values()),
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

THREE = {1: "ACTIVE", 2: "ACTIVE", 3: "ACTIVE"}
OPENING3 = [
    (-90_000, {"img": True, "marketDefinition": definition(runners=THREE), "rc": [
        {"id": 1, "ltp": 2.0, "trd": [[2.0, 20]], "atb": [[2.0, 10]], "atl": [[2.02, 10]]},
        {"id": 2, "ltp": 3.0, "trd": [[3.0, 20]], "atb": [[2.9, 10]], "atl": [[3.0, 10]]},
        {"id": 3, "ltp": 5.0, "trd": [[5.0, 20]], "atb": [[4.9, 10]], "atl": [[5.0, 10]]},
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
    "1.94": [
        *OPENING3,
        (
            -40_000,
            {"rc": [{"id": 1, "trd": [[2.0, 60], [2.02, 30]]}, {"id": 2, "trd": [[3.0, 60]]}]},
        ),
        (
            -30_000,
            {
                "marketDefinition": definition(
                    "SUSPENDED",
                    version=2,
                    runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"},
                    factors={3: 30.0},
                )
            },
        ),
        (
            -29_000,
            {
                "marketDefinition": definition(
                    version=3, runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"}, factors={3: 30.0}
                ),
                "rc": [{"id": 1, "atb": [[1.4, 10]], "atl": [[1.42, 10]]}],
            },
        ),
        (
            -1_000,
            {
                "marketDefinition": definition(
                    "SUSPENDED",
                    version=4,
                    runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"},
                    factors={3: 30.0},
                )
            },
        ),
        (
            400_000,
            {
                "marketDefinition": definition(
                    "CLOSED",
                    True,
                    5,
                    runners={1: "WINNER", 2: "LOSER", 3: "REMOVED"},
                    factors={3: 30.0},
                )
            },
        ),
    ],
    "1.95": [
        *OPENING,
        (-40_000, {"rc": [{"id": 1, "atb": [[2.04, 3], [2.02, 4]]}]}),
        (-29_000, {"rc": [{"id": 1, "atb": [[2.06, 2]]}]}),
        (-28_950, {"rc": [{"id": 1, "atb": [[2.1, 3], [2.08, 4]]}]}),
        (-28_000, {"rc": [{"id": 2, "atb": [[2.9, 9]]}]}),
        (-1_000, {"marketDefinition": definition("SUSPENDED", False, 2)}),
        (
            400_000,
            {"marketDefinition": definition("CLOSED", True, 3, runners={1: "WINNER", 2: "WINNER"})},
        ),
    ],
    "1.96": [
        *OPENING,
        (0, {"marketDefinition": definition("SUSPENDED", False, 2)}),
        (1_000, {"marketDefinition": definition(inplay=True, version=3, bet_delay=5)}),
        (2_000, {"rc": [{"id": 1, "atb": [[1.9, 10]], "atl": [[1.92, 10]]}]}),
        (4_000, {"rc": [{"id": 1, "atb": [[1.8, 4], [1.7, 50]], "trd": [[1.9, 30]]}]}),
        (7_100, {"rc": [{"id": 1, "atb": [[1.7, 40]]}]}),
        (9_000, {"rc": [{"id": 1, "trd": [[1.9, 30], [1.8, 20]]}]}),
        (300_000, {"marketDefinition": definition("SUSPENDED", True, 4, bet_delay=5)}),
        (400_000, {"marketDefinition": definition("CLOSED", True, 5, winner=2)}),
    ],
    "1.97": [
        *OPENING3,
        (-40_000, {"rc": [{"id": 3, "ltp": 5.0, "trd": [[5.0, 80]]}]}),
        (
            -30_000,
            {
                "marketDefinition": definition(
                    "SUSPENDED", version=2, runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"}
                )
            },
        ),
        (
            -29_000,
            {
                "marketDefinition": definition(
                    version=3, runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"}
                )
            },
        ),
        (
            -1_000,
            {
                "marketDefinition": definition(
                    "SUSPENDED", version=4, runners={1: "ACTIVE", 2: "ACTIVE", 3: "REMOVED"}
                )
            },
        ),
        (
            400_000,
            {
                "marketDefinition": definition(
                    "CLOSED", True, 5, runners={1: "WINNER", 2: "LOSER", 3: "REMOVED"}
                )
            },
        ),
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

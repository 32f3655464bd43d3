"""A Betfair Exchange Stream API server: real TLS, the real protocol, synthetic or recorded data.

Clients connect over TLS (a throwaway CA made at start with ``trustme``; its PEM path is printed
and available as :attr:`BetfairMockServer.ca_path`) and speak ESA exactly as to
``stream-api.betfair.com``:

* the server speaks first (``op: connection``); ``authentication`` is checked against the
  configured app keys and sessions (``NO_APP_KEY``, ``INVALID_APP_KEY``, ``NO_SESSION``,
  ``INVALID_SESSION_INFORMATION``; ``MAX_CONNECTION_LIMIT_EXCEEDED`` past ``max_connections``);
  not subscribing within ``idle_timeout`` seconds gets ``TIMEOUT`` and a close;
* ``marketSubscription`` matches markets by every ``marketFilter`` field (an empty filter matches
  every market) and trims runner changes to the ``marketDataFilter`` fields; the answer is a
  status, then ``SUB_IMAGE`` (``img: true`` per market) and deltas, or - when the request carries
  ``initialClk`` and ``clk`` - ``RESUB_DELTA`` with every change after ``clk``, then deltas;
  unknown or expired clocks get ``INVALID_CLOCK``;
* ``orderSubscription`` streams synthetic orders of the account on the first market (placed,
  partly and fully matched, cancelled), with ``mb``/``ml`` and per-strategy ``smc``, the same way;
* ``heartbeat`` ops are answered; ``HEARTBEAT`` change messages go out after ``heartbeatMs`` of
  silence; ``conflateMs`` batches changes into one message per interval (``con: true``);
  ``segmentationEnabled`` splits images and resubscription deltas of more than
  ``segment_size`` market changes into ``SEG_START``/``SEG``/``SEG_END``.

Clocks are positions in one change log; every message's ``clk`` says how far the client is.
:meth:`BetfairMockServer.stream_changes` counts the market (or order) changes a stream - named by
its ``initialClk`` - has been sent, images included and retransmissions not: a lossless client
that applied everything it was sent has applied exactly that many.

Fault switches, acting on connections open at the time of the call unless said otherwise:
``drop_every`` (close every connection after N change messages, also future ones),
:meth:`~BetfairMockServer.drop`, :meth:`~BetfairMockServer.expire_sessions`
(INVALID_SESSION_INFORMATION), ``stale`` (``status: 503`` on every change message while set),
:meth:`~BetfairMockServer.send_garbage`, ``split_utf8`` (writes cut inside a multi-byte
character), :meth:`~BetfairMockServer.silence`, :meth:`~BetfairMockServer.invalidate_clocks` and
:meth:`~BetfairMockServer.corrupt_next` (a change message no client can apply).

The certificate login (``POST /api/certlogin``) and keep-alive (``/api/keepAlive``) endpoints are
served over TLS on :attr:`BetfairMockServer.login_port`; ``users`` holds the accepted passwords,
``fail_logins`` makes the next N logins answer HTTP 503, ``login_attempts`` counts them all.

Run it alone with ``python -m mock_servers.betfair --port 8443 --app-key K --session S``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import logging
import random
import ssl
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import orjson
import trustme
from aiohttp import web

__all__ = ["BetfairMockServer", "MockEndpoint", "demo_server", "main"]

logger = logging.getLogger("marketstreams.mock.betfair")

CRLF: Final = b"\r\n"


def _build_ticks() -> list[float]:
    ticks: list[float] = []
    for lo, hi, step in (
        (1.01, 2.0, 0.01),
        (2.02, 3.0, 0.02),
        (3.05, 4.0, 0.05),
        (4.1, 6.0, 0.1),
        (6.2, 10.0, 0.2),
        (10.5, 20.0, 0.5),
        (21.0, 30.0, 1.0),
    ):
        n = round((hi - lo) / step)
        ticks.extend(round(lo + i * step, 2) for i in range(n + 1))
    return ticks


TICKS: Final = _build_ticks()

_FIELD_KEYS: Final = {
    "EX_ALL_OFFERS": ("atb", "atl"),
    "EX_BEST_OFFERS": ("batb", "batl"),
    "EX_BEST_OFFERS_DISP": ("bdatb", "bdatl"),
    "EX_TRADED": ("trd",),
    "EX_TRADED_VOL": ("tv",),
    "EX_LTP": ("ltp",),
    "SP_TRADED": ("spb", "spl"),
    "SP_PROJECTED": ("spn", "spf"),
}
_PRICE_LADDERS: Final = ("atb", "atl", "trd", "spb", "spl")
_LEVEL_LADDERS: Final = ("batb", "batl", "bdatb", "bdatl")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _clock(seq: int) -> str:
    return base64.b64encode(seq.to_bytes(8, "big")).decode()


def _parse_clock(token: object) -> int | None:
    if not isinstance(token, str):
        return None
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 8 else None


# -- server-side truth (independent of the client library's caches) -------------------------


class _RunnerState:
    __slots__ = ("ladders", "levels", "scalars")

    def __init__(self) -> None:
        self.ladders: dict[str, dict[float, float]] = {}
        self.levels: dict[str, dict[int, list[float]]] = {}
        self.scalars: dict[str, Any] = {}

    def apply(self, rc: dict[str, Any]) -> None:
        for key, value in rc.items():
            if key in ("id", "hc"):
                continue
            if key in _PRICE_LADDERS:
                ladder = self.ladders.setdefault(key, {})
                for price, size in value:
                    if size:
                        ladder[price] = size
                    else:
                        ladder.pop(price, None)
            elif key in _LEVEL_LADDERS:
                levels = self.levels.setdefault(key, {})
                for level, price, size in value:
                    if size:
                        levels[level] = [level, price, size]
                    else:
                        levels.pop(level, None)
            else:
                self.scalars[key] = value

    def image(self, sid: Any, hc: Any) -> dict[str, Any]:
        rc: dict[str, Any] = {"id": sid}
        if hc:
            rc["hc"] = hc
        for key, ladder in self.ladders.items():
            rc[key] = [[p, s] for p, s in ladder.items()]
        for key, levels in self.levels.items():
            rc[key] = [levels[k] for k in sorted(levels)]
        rc.update(self.scalars)
        return rc


class _MarketState:
    __slots__ = ("definition", "market_id", "runners", "tv")

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.definition: dict[str, Any] | None = None
        self.tv: float | None = None
        self.runners: dict[tuple[Any, Any], _RunnerState] = {}

    def apply(self, mc: dict[str, Any]) -> None:
        if mc.get("img"):
            self.runners.clear()
            self.tv = None
        if mc.get("marketDefinition") is not None:
            self.definition = mc["marketDefinition"]
        if mc.get("tv") is not None:
            self.tv = mc["tv"]
        for rc in mc.get("rc") or ():
            key = (rc["id"], rc.get("hc") or 0)
            runner = self.runners.get(key)
            if runner is None:
                runner = self.runners[key] = _RunnerState()
            runner.apply(rc)

    def image(self) -> dict[str, Any]:
        mc: dict[str, Any] = {"id": self.market_id, "img": True}
        if self.definition is not None:
            mc["marketDefinition"] = self.definition
        if self.tv is not None:
            mc["tv"] = self.tv
        mc["rc"] = [r.image(sid, hc) for (sid, hc), r in self.runners.items()]
        return mc


class _OrderState:
    """Orders of the account by market and runner, as the order stream reports them."""

    def __init__(self) -> None:
        self.markets: dict[str, dict[tuple[int, float], dict[str, Any]]] = {}

    def apply(self, oc: dict[str, Any]) -> None:
        runners = self.markets.setdefault(oc["id"], {})
        if oc.get("fullImage"):
            runners.clear()
        for orc in oc.get("orc") or ():
            key = (orc["id"], orc.get("hc") or 0.0)
            runner = runners.get(key)
            if runner is None or orc.get("fullImage"):
                runner = runners[key] = {"uo": {}, "mb": {}, "ml": {}, "smc": {}}
            for uo in orc.get("uo") or ():
                runner["uo"].setdefault(uo["id"], {}).update(uo)
            for side in ("mb", "ml"):
                for p, s in orc.get(side) or ():
                    runner[side][p] = s
            for ref, change in (orc.get("smc") or {}).items():
                held = runner["smc"].setdefault(ref, {"mb": {}, "ml": {}})
                for side in ("mb", "ml"):
                    for p, s in change.get(side) or ():
                        held[side][p] = s

    def image(self) -> list[dict[str, Any]]:
        out = []
        for market_id, runners in self.markets.items():
            orcs = []
            for (sid, hc), r in runners.items():
                orc: dict[str, Any] = {"id": sid, "fullImage": True}
                if hc:
                    orc["hc"] = hc
                orc["uo"] = list(r["uo"].values())
                orc["mb"] = [[p, s] for p, s in r["mb"].items()]
                orc["ml"] = [[p, s] for p, s in r["ml"].items()]
                if r["smc"]:
                    orc["smc"] = {
                        ref: {k: [[p, s] for p, s in v.items()] for k, v in m.items()}
                        for ref, m in r["smc"].items()
                    }
                orcs.append(orc)
            out.append({"id": market_id, "fullImage": True, "orc": orcs})
        return out


# -- data sources -----------------------------------------------------------------------------


_MARKET_TIME_BASE: Final = 1_780_326_000  # 2026-06-01T15:00:00Z: fixed, so a seed replays alike
_IN_PLAY_BET_DELAY: Final = 1  # seconds; Betfair delays bets once a market turns in play


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(epoch))


def _definition(
    index: int,
    selection_ids: Sequence[int],
    event_type_id: str,
    market_type: str,
    country_code: str,
) -> dict[str, Any]:
    """A market definition with every field a real open one carries (see the historic files in
    the shared data: the same keys, types and shapes; ``settledTime`` only comes once closed,
    runners' ``bsp`` once reconciled, ``removalDate`` with a removed runner)."""
    start = _MARKET_TIME_BASE + 1800 * index
    runners = len(selection_ids)
    return {
        "bspMarket": False,
        "turnInPlayEnabled": True,
        "persistenceEnabled": True,
        "marketBaseRate": 5,
        "eventId": str(30000000 + index),
        "eventTypeId": event_type_id,
        "numberOfWinners": 1,
        "bettingType": "ODDS",
        "marketType": market_type,
        "marketTime": _iso(start),
        "suspendTime": _iso(start),
        "bspReconciled": False,
        "complete": True,
        "inPlay": False,
        "crossMatching": True,
        "runnersVoidable": False,
        "numberOfActiveRunners": runners,
        "betDelay": 0,
        "status": "OPEN",
        "runners": [
            {
                "adjustmentFactor": round(100 / runners, 3),
                "status": "ACTIVE",
                "sortPriority": j + 1,
                "id": sid,
                "name": f"Rünner {j}",
            }
            for j, sid in enumerate(selection_ids)
        ],
        "regulators": ["MR_INT"],
        "venue": "Café Park",  # a multi-byte character for the split-UTF-8 fault
        "countryCode": country_code,
        "discountAllowed": True,
        "timezone": "Europe/London",
        "openDate": _iso(start),
        "version": 4000000001 + index,
        "priceLadderDefinition": {"type": "CLASSIC"},
        "raceType": "Flat",
        "eventName": f"Café Park {index + 1}",
        "name": f"R{index + 1} 1m Hcap",
    }


class SyntheticMarkets:
    """A deterministic market generator: ``markets`` markets of ``runners`` runners, each change
    moves a few prices of one runner, sometimes trades; every ``orders_every`` changes the account
    places, fills or cancels an order on the first market."""

    def __init__(
        self,
        markets: int = 3,
        runners: int = 4,
        seed: int = 1,
        orders_every: int = 7,
        event_type_id: str = "7",
        market_type: str = "WIN",
        country_code: str = "GB",
        first_market_id: int = 900000001,
    ) -> None:
        self.rng = random.Random(seed)
        self.orders_every = orders_every
        self.count = 0
        self.market_ids = [f"1.{first_market_id + i}" for i in range(markets)]
        self.selection_ids = [1000 + j for j in range(runners)]
        self.best: dict[tuple[str, int], int] = {}
        self.tv: dict[tuple[str, int], float] = {}
        self.trd: dict[tuple[str, int], dict[float, float]] = {}
        self.definitions: dict[str, dict[str, Any]] = {}
        for i, mid in enumerate(self.market_ids):
            self.definitions[mid] = _definition(
                i, self.selection_ids, event_type_id, market_type, country_code
            )
            for j, sid in enumerate(self.selection_ids):
                self.best[(mid, sid)] = 40 + 20 * j
                self.tv[(mid, sid)] = 0.0
                self.trd[(mid, sid)] = {}
        self._orders: dict[str, dict[str, Any]] = {}
        self._order_ids = itertools.count(1)

    def initial(self) -> list[tuple[str, dict[str, Any]]]:
        """The opening state as ``(op, change)`` pairs: one full market change per market."""
        out: list[tuple[str, dict[str, Any]]] = []
        for mid in self.market_ids:
            rcs = []
            for sid in self.selection_ids:
                best = self.best[(mid, sid)]
                rcs.append(
                    {
                        "id": sid,
                        "atb": [[TICKS[best - k], 10.0 + k] for k in range(5)],
                        "atl": [[TICKS[best + 1 + k], 12.0 + k] for k in range(5)],
                    }
                )
            out.append(("mcm", {"id": mid, "marketDefinition": self.definitions[mid], "rc": rcs}))
        return out

    def next(self) -> tuple[str, dict[str, Any]]:
        """The next change as ``(op, change)``."""
        self.count += 1
        rng = self.rng
        if self.orders_every and self.count % self.orders_every == 0:
            return "ocm", self._order_change()
        mid = self.market_ids[rng.randrange(len(self.market_ids))]
        if self.count % 500 == 0:
            md = dict(self.definitions[mid])
            md["version"] = md["version"] + 1
            md["inPlay"] = not md["inPlay"]
            md["betDelay"] = _IN_PLAY_BET_DELAY if md["inPlay"] else 0
            self.definitions[mid] = md
            return "mcm", {"id": mid, "marketDefinition": md}
        sid = self.selection_ids[rng.randrange(len(self.selection_ids))]
        key = (mid, sid)
        old = self.best[key]
        new = min(max(old + rng.choice((-1, 0, 0, 1)), 6), len(TICKS) - 8)
        self.best[key] = new
        rc: dict[str, Any] = {"id": sid}
        atb = [[TICKS[new - k], round(rng.uniform(1, 200), 2)] for k in range(3)]
        atl = [[TICKS[new + 1 + k], round(rng.uniform(1, 200), 2)] for k in range(3)]
        if new > old:  # the old best lay became a back price, clear what fell off
            atl.append([TICKS[old + 1], 0])
        elif new < old:  # the old best back became the best lay: a smaller size there
            atb.append([TICKS[old], 0])
            atl[0][1] = round(rng.uniform(1, 50), 2)  # one price once per ladder, as Betfair
        rc["atb"] = atb
        rc["atl"] = atl
        if rng.random() < 0.3:
            price = TICKS[new]
            traded = self.trd[key]
            traded[price] = round(traded.get(price, 0.0) + rng.uniform(1, 20), 2)
            self.tv[key] = round(sum(traded.values()), 2)
            rc["trd"] = [[price, traded[price]]]
            rc["ltp"] = price
            rc["tv"] = self.tv[key]
            total = round(sum(v for (m, _), v in self.tv.items() if m == mid), 2)
            return "mcm", {"id": mid, "tv": total, "rc": [rc]}
        return "mcm", {"id": mid, "rc": [rc]}

    def _order_change(self) -> dict[str, Any]:
        rng = self.rng
        mid = self.market_ids[0]
        sid = self.selection_ids[0]
        open_orders = [o for o in self._orders.values() if o["status"] == "E"]
        if open_orders and rng.random() < 0.6:
            order = open_orders[rng.randrange(len(open_orders))]
            if rng.random() < 0.25:
                order["sc"] = order["sr"]
                order["sr"] = 0
                order["status"] = "EC"
                order["cd"] = 1700000000000 + self.count
                return {"id": mid, "orc": [{"id": sid, "uo": [dict(order)]}]}
            fill = round(min(order["sr"], rng.uniform(1, order["s"])), 2)
            order["sm"] = round(order["sm"] + fill, 2)
            order["sr"] = round(order["s"] - order["sm"] - order["sc"], 2)
            order["avp"] = order["p"]
            order["md"] = 1700000000000 + self.count
            if order["sr"] <= 0:
                order["sr"] = 0
                order["status"] = "EC"
            side = "mb" if order["side"] == "B" else "ml"
            matched = round(
                sum(
                    o["sm"]
                    for o in self._orders.values()
                    if o["side"] == order["side"] and o["p"] == order["p"]
                ),
                2,
            )
            return {
                "id": mid,
                "orc": [
                    {
                        "id": sid,
                        "uo": [dict(order)],
                        side: [[order["p"], matched]],
                        "smc": {order["rfs"]: {side: [[order["p"], matched]]}},
                    }
                ],
            }
        bet_id = str(300000000000 + next(self._order_ids))
        side = rng.choice("BL")
        price = TICKS[self.best[(mid, sid)] + (0 if side == "B" else 1)]
        size = round(rng.uniform(2, 50), 2)
        order = {
            "id": bet_id,
            "p": price,
            "s": size,
            "side": side,
            "status": "E",
            "pt": "L",
            "ot": "L",
            "pd": 1700000000000 + self.count,
            "sm": 0,
            "sr": size,
            "sl": 0,
            "sc": 0,
            "sv": 0,
            "rac": "",
            "rc": "REG_GGC",
            "rfo": f"o-{bet_id}",
            "rfs": "mock-strategy",
        }
        self._orders[bet_id] = order
        return {"id": mid, "orc": [{"id": sid, "uo": [dict(order)]}]}


class RecordedMarkets:
    """Market changes from a recorded file (one ``mcm`` per line; plain, ``.gz`` or ``.bz2``)."""

    def __init__(self, path: str | Path, repeat: int = 1) -> None:
        import bz2
        import gzip

        p = Path(path)
        opener: Any = bz2.open if p.suffix == ".bz2" else gzip.open if p.suffix == ".gz" else open
        self.changes: list[tuple[str, dict[str, Any]]] = []
        with opener(p, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                message = orjson.loads(line)
                if message.get("op") != "mcm":
                    continue
                for mc in message.get("mc") or ():
                    self.changes.append(("mcm", mc))
        self.changes = self.changes * repeat
        self._next = 0

    def initial(self) -> list[tuple[str, dict[str, Any]]]:
        return []

    def next(self) -> tuple[str, dict[str, Any]] | None:
        if self._next >= len(self.changes):
            return None
        change = self.changes[self._next]
        self._next += 1
        return change


# -- the change log ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    seq: int
    op: str
    market_id: str
    change: dict[str, Any]
    raw: bytes  # the change serialised once
    pt: int = 0  # publish time: when the change was generated
    tails: dict[Any, bytes] = field(default_factory=dict)  # serialised message tails per filter


@dataclass(slots=True)
class _Stream:
    """A logical stream, named by its initialClk; survives the connections resuming it."""

    op: str
    image_seq: int
    image_changes: int
    last_sent: int
    matcher: Any


@dataclass(slots=True)
class _Subscription:
    op: str
    id: int
    stream: _Stream
    initial_clk: str
    cursor: int  # last log seq sent
    market_filter: dict[str, Any]
    keys: frozenset[str] | None  # runner change keys to send (None = all)
    with_definition: bool
    heartbeat_ms: int
    conflate_ms: int
    segmentation: bool


@dataclass(eq=False)
class _Connection:
    writer: asyncio.StreamWriter
    id: str
    subscription: _Subscription | None = None
    authenticated: bool = False
    app_key: str | None = None
    session: str | None = None
    changes_sent: int = 0
    silenced: bool = False
    closing: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MockEndpoint:
    """Where and how to reach a running mock (what the demo and examples need)."""

    host: str
    port: int
    ssl_context: ssl.SSLContext
    app_key: str
    session: str
    ca_path: str
    login_url: str


class BetfairMockServer:
    """The mock ESA server (see the module docstring). Use as ``async with`` or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        app_keys: Iterable[str] = ("mock-app-key",),
        sessions: Iterable[str] = ("mock-session",),
        users: dict[str, str] | None = None,
        markets: int = 3,
        runners: int = 4,
        seed: int = 1,
        source: str | Path | None = None,
        rate: float | None = 100.0,
        limit: int | None = None,
        start_on_subscribe: bool = False,
        batch: int = 1,
        max_connections: int = 10,
        idle_timeout: float = 15.0,
        log_size: int = 1_000_000,
        segment_size: int | None = None,
        login: bool = True,
        replay: bool = False,
        repeat: int = 1,
        prefill: int = 0,
    ) -> None:
        self.host = host
        self._port = port
        self.app_keys = set(app_keys)
        self.sessions = set(sessions)
        self.users = dict(users or {"mock-user": "mock-password"})
        self.rate = rate
        self.limit = limit
        self.start_on_subscribe = start_on_subscribe
        self.batch = batch
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.log_size = log_size
        self.segment_size = segment_size
        self.login_enabled = login
        self.source: SyntheticMarkets | RecordedMarkets = (
            RecordedMarkets(source, repeat)
            if source is not None
            else SyntheticMarkets(markets, runners, seed)
        )
        self.replay = replay
        # fault switches
        self.drop_every: int | None = None
        self.stale = False
        self.split_utf8 = False
        self.fail_logins = 0  # the next N certificate logins answer HTTP 503
        self._reject_resubscribe = False
        self._corrupt: set[str] = set()  # ops whose next change message gets a bad entry
        # state
        self._log: list[_Entry] = []
        self._log_start = 1  # seq of _log[0]
        self._seq = 0
        self._markets: dict[str, _MarketState] = {}
        self._orders = _OrderState()
        self._streams: dict[str, _Stream] = {}
        self._connections: set[_Connection] = set()
        self._connection_ids = itertools.count(1)
        self._session_ids = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self._login_runner: web.AppRunner | None = None
        self._login_port = 0
        self._generator: asyncio.Task[None] | None = None
        self._new_data = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path = ""
        self._server_ssl: ssl.SSLContext | None = None
        self._client_ssl: ssl.SSLContext | None = None
        # counters
        self.connections_total = 0
        self.authentications = 0
        self.messages_sent = 0  # every line written
        self.changes_sent = 0  # market/order change entries written (retransmissions included)
        self.sent_per_subscription: dict[int, int] = {}  # change messages per subscription id
        self.heartbeats_received = 0
        self.login_attempts = 0  # certificate logins asked for, refused and failed included
        for op, change in self.source.initial():
            self._append(op, change)
        self.changes_generated = 0  # changes appended after the opening state
        # what a new stream's image shows when ``replay`` is set: the opening state, so that
        # every generated change follows as a delta (benchmarks replay whole files this way)
        self._opening_seq = self._seq
        self._opening_images = orjson.loads(
            orjson.dumps([m.image() for m in self._markets.values()])
        )
        if prefill:
            for _ in range(prefill):
                nxt = self.source.next()
                if nxt is None:
                    break
                self._append(*nxt)
                self.changes_generated += 1

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="betfair-mock-")
        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1", "::1")
        self.ca_path = str(Path(self._tmp.name) / "betfair-mock-ca.pem")
        ca.cert_pem.write_to_path(self.ca_path)
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(server_ssl)
        self._server_ssl = server_ssl
        client_ssl = ssl.create_default_context()
        ca.configure_trust(client_ssl)
        self._client_ssl = client_ssl
        self._server = await asyncio.start_server(
            self._handle, self.host, self._port, ssl=server_ssl, limit=2**20
        )
        if self.login_enabled:
            app = web.Application()
            app.router.add_post("/api/certlogin", self._certlogin)
            app.router.add_route("*", "/api/keepAlive", self._keepalive)
            self._login_runner = web.AppRunner(app, access_log=None)
            await self._login_runner.setup()
            site = web.TCPSite(self._login_runner, self.host, 0, ssl_context=server_ssl)
            await site.start()
            self._login_port = int(self._login_runner.addresses[0][1])
        self._generator = asyncio.create_task(self._generate(), name="betfair-mock-generator")
        logger.info("betfair mock on %s:%s (CA %s)", self.host, self.port, self.ca_path)

    async def stop(self) -> None:
        if self._generator is not None:
            self._generator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generator
            self._generator = None
        for conn in list(self._connections):
            await self._close(conn)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._login_runner is not None:
            await self._login_runner.cleanup()
            self._login_runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> BetfairMockServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- properties -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def login_port(self) -> int:
        return self._login_port

    @property
    def login_url(self) -> str:
        return f"https://{self.host}:{self._login_port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context trusting this server's throwaway CA."""
        assert self._client_ssl is not None, "server not started"
        return self._client_ssl

    def endpoint(self) -> MockEndpoint:
        return MockEndpoint(
            host=self.host,
            port=self.port,
            ssl_context=self.client_ssl_context(),
            app_key=next(iter(sorted(self.app_keys))),
            session=next(iter(sorted(self.sessions))),
            ca_path=self.ca_path,
            login_url=self.login_url,
        )

    @property
    def connections(self) -> int:
        return len(self._connections)

    @property
    def sequence(self) -> int:
        """The position of the newest change in the log (what a current ``clk`` names)."""
        return self._seq

    def stream_changes(self, initial_clk: str) -> int:
        """Changes (``mc`` / ``oc`` entries) the stream named ``initial_clk`` has been sent,
        its image included and retransmissions after a resubscription not."""
        stream = self._streams[initial_clk]
        return stream.image_changes + sum(
            1
            for e in self._entries_after(stream.image_seq)
            if e.seq <= stream.last_sent and e.op == stream.op and stream.matcher(e)
        )

    def stream_total(self, initial_clk: str) -> int:
        """Changes that belong to the stream named ``initial_clk`` up to the newest one generated
        (what :meth:`stream_changes` reaches once the stream is sent everything)."""
        stream = self._streams[initial_clk]
        return stream.image_changes + sum(
            1
            for e in self._entries_after(stream.image_seq)
            if e.op == stream.op and stream.matcher(e)
        )

    def market_images(self) -> dict[str, dict[str, Any]]:
        """The server's current image of every market (for comparisons in tests)."""
        return {mid: m.image() for mid, m in self._markets.items()}

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    # -- fault switches -------------------------------------------------------------------

    async def drop(self) -> None:
        """Close every open connection now."""
        for conn in list(self._connections):
            await self._close(conn)

    def expire_sessions(self) -> None:
        """Invalidate every session: open connections get INVALID_SESSION_INFORMATION and are
        closed, new authentications with the old tokens are refused."""
        self.sessions.clear()
        for conn in list(self._connections):
            self._write_now(
                conn,
                _status(None, "FAILURE", "INVALID_SESSION_INFORMATION", "session expired", True),
            )
            conn.closing = True
            conn.wake.set()

    def send_garbage(self) -> None:
        """Write a line that is not JSON to every open connection."""
        for conn in list(self._connections):
            self._write_now(conn, b"\x00this is not json {{\r\n")

    def silence(self) -> None:
        """Stop writing anything (heartbeats included) to the connections open now."""
        for conn in self._connections:
            conn.silenced = True

    def corrupt_next(self, op: str = "mcm") -> None:
        """The next ``op`` (``mcm`` / ``ocm``) delta message sent carries, ahead of its real change,
        an entry no client can apply: a runner change with ``"spn": "abc"``, or a matched ladder
        entry without a size. The message's ``clk`` is the real one, so a client that skips the
        message loses the real change for good; the server's truth never sees the bad entry."""
        if op not in ("mcm", "ocm"):
            raise ValueError(f"unknown change op {op!r}")
        self._corrupt.add(op)

    def invalidate_clocks(self) -> None:
        """Forget the change log: resubscriptions with older clocks get INVALID_CLOCK."""
        self._log_start = self._seq + 1
        self._log.clear()
        self._reject_resubscribe = True

    # -- the log ----------------------------------------------------------------------------

    def _append(self, op: str, change: dict[str, Any]) -> None:
        self._seq += 1
        if op == "mcm":
            mid = change["id"]
            market = self._markets.get(mid)
            if market is None:
                market = self._markets[mid] = _MarketState(mid)
            market.apply(change)
        else:
            mid = change["id"]
            self._orders.apply(change)
        self._log.append(_Entry(self._seq, op, mid, change, orjson.dumps(change), _now_ms()))
        if len(self._log) > self.log_size:
            drop = len(self._log) - self.log_size
            del self._log[:drop]
            self._log_start += drop

    def _entries_after(self, seq: int) -> list[_Entry]:
        start = max(0, seq + 1 - self._log_start)
        return self._log[start:]

    async def step(self, n: int = 1) -> int:
        """Generate ``n`` changes now (for tests that drive the clock themselves)."""
        done = 0
        for _ in range(n):
            nxt = self.source.next()
            if nxt is None:
                break
            self._append(*nxt)
            self.changes_generated += 1
            done += 1
        self._notify()
        return done

    def _notify(self) -> None:
        for conn in self._connections:
            conn.wake.set()

    async def _generate(self) -> None:
        if self.start_on_subscribe:
            await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        start = loop.time()
        while self.limit is None or self.changes_generated < self.limit:
            n = self.batch
            if self.limit is not None:
                n = min(n, self.limit - self.changes_generated)
            if await self.step(n) == 0:
                return
            if self.rate is None:
                await asyncio.sleep(0)
            else:
                due = start + self.changes_generated / self.rate
                await asyncio.sleep(max(0.0, due - loop.time()))

    # -- connections ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(writer, f"mock-{next(self._connection_ids)}")
        self._connections.add(conn)
        self.connections_total += 1
        sender = asyncio.create_task(self._send_loop(conn))
        conn.tasks.append(sender)
        self._write_now(conn, orjson.dumps({"op": "connection", "connectionId": conn.id}) + CRLF)
        try:
            async with asyncio.timeout(self.idle_timeout) as idle:
                while not conn.closing:
                    line = await reader.readline()
                    if not line:
                        break
                    if not line.strip():
                        continue
                    try:
                        request = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        self._write_now(
                            conn, _status(None, "FAILURE", "INVALID_INPUT", "not JSON", True)
                        )
                        break
                    if not isinstance(request, dict):
                        self._write_now(
                            conn, _status(None, "FAILURE", "INVALID_INPUT", "not an object", True)
                        )
                        break
                    if not self._on_request(conn, request):
                        break
                    if conn.subscription is not None:
                        idle.reschedule(None)
        except TimeoutError:
            self._write_now(
                conn,
                _status(
                    None,
                    "FAILURE",
                    "TIMEOUT",
                    f"Connection is not subscribed and is idle: {int(self.idle_timeout * 1000)} ms",
                    True,
                ),
            )
        except (ConnectionError, ssl.SSLError, ValueError):
            pass
        finally:
            await self._close(conn)

    def _on_request(self, conn: _Connection, request: dict[str, Any]) -> bool:
        op = request.get("op")
        rid = request.get("id")
        if op == "authentication":
            return self._authenticate(conn, rid, request)
        if not conn.authenticated:
            self._write_now(
                conn, _status(rid, "FAILURE", "NOT_AUTHORIZED", "not authenticated", True)
            )
            return False
        if op == "heartbeat":
            self.heartbeats_received += 1
            self._write_now(conn, _status(rid, "SUCCESS"))
            return True
        if op in ("marketSubscription", "orderSubscription"):
            return self._subscribe(conn, rid, request)
        self._write_now(conn, _status(rid, "FAILURE", "INVALID_REQUEST", f"unknown op {op}", False))
        return True

    def _authenticate(self, conn: _Connection, rid: Any, request: dict[str, Any]) -> bool:
        if conn.authenticated:
            self._write_now(
                conn,
                _status(rid, "FAILURE", "INVALID_REQUEST", "Connection is already authenticated"),
            )
            return True
        app_key, session = request.get("appKey"), request.get("session")
        error = None
        if not app_key:
            error = ("NO_APP_KEY", "No application key")
        elif app_key not in self.app_keys:
            error = ("INVALID_APP_KEY", "Invalid application key")
        elif not session:
            error = ("NO_SESSION", "No session token")
        elif session not in self.sessions:
            error = ("INVALID_SESSION_INFORMATION", "Invalid session information")
        elif sum(1 for c in self._connections if c.authenticated) >= self.max_connections:
            error = ("MAX_CONNECTION_LIMIT_EXCEEDED", "Too many connections")
        if error is not None:
            self._write_now(conn, _status(rid, "FAILURE", error[0], error[1], True))
            return False
        conn.authenticated = True
        conn.app_key, conn.session = app_key, session
        self.authentications += 1
        available = self.max_connections - sum(1 for c in self._connections if c.authenticated)
        status = {
            "op": "status",
            "id": rid,
            "statusCode": "SUCCESS",
            "connectionClosed": False,
            "connectionsAvailable": available,
        }
        self._write_now(conn, orjson.dumps(status) + CRLF)
        return True

    def _subscribe(self, conn: _Connection, rid: Any, request: dict[str, Any]) -> bool:
        op = "mcm" if request["op"] == "marketSubscription" else "ocm"
        market_filter = request.get("marketFilter") or {} if op == "mcm" else {}
        data_filter = request.get("marketDataFilter") or {}
        fields = data_filter.get("fields") if op == "mcm" else None
        heartbeat_ms = request.get("heartbeatMs") or 5000
        conflate_ms = request.get("conflateMs") or 0
        if not 500 <= heartbeat_ms <= 30000 or not 0 <= conflate_ms <= 120000:
            self._write_now(conn, _status(rid, "FAILURE", "INVALID_INPUT", "bad range", False))
            return True
        keys: frozenset[str] | None = None
        if fields is not None:
            keys = frozenset(k for f in fields for k in _FIELD_KEYS.get(f, ()))
        matcher = self._matcher(op, market_filter)
        initial_clk, clk = request.get("initialClk"), request.get("clk")
        resume_seq = _parse_clock(clk) if initial_clk and clk else None
        stream = self._streams.get(initial_clk) if initial_clk else None
        if initial_clk and clk:
            if (
                resume_seq is None
                or stream is None
                or stream.op != op
                or resume_seq + 1 < self._log_start
                or resume_seq > self._seq
                or self._reject_resubscribe
            ):
                self._reject_resubscribe = False
                self._write_now(
                    conn, _status(rid, "FAILURE", "INVALID_CLOCK", "clock not recognised", False)
                )
                return True
        sub = _Subscription(
            op=op,
            id=rid,
            stream=stream,  # type: ignore[arg-type]  # set below for new streams
            initial_clk=initial_clk or "",
            cursor=self._seq,
            market_filter=market_filter,
            keys=keys,
            with_definition=fields is None or "EX_MARKET_DEF" in fields,
            heartbeat_ms=heartbeat_ms,
            conflate_ms=conflate_ms,
            segmentation=bool(request.get("segmentationEnabled", True)),
        )
        self.sent_per_subscription.setdefault(rid, 0)
        self._write_now(conn, _status(rid, "SUCCESS"))
        if resume_seq is not None and stream is not None:
            changes = [e for e in self._entries_after(resume_seq) if e.op == op and matcher(e)]
            sub.cursor = self._seq
            sub.stream = stream
            self._send_changes(conn, sub, [e.change for e in changes], "RESUB_DELTA", con=True)
        else:
            image_seq = self._seq
            if op == "mcm" and self.replay:
                image_seq = self._opening_seq
                images = [
                    m for m in self._opening_images if matcher(_Entry(0, "mcm", m["id"], {}, b""))
                ]
            elif op == "mcm":
                images = [
                    m.image()
                    for mid, m in self._markets.items()
                    if matcher(_Entry(0, "mcm", mid, {}, b""))
                ]
            else:
                images = [] if self.replay else self._orders.image()
                image_seq = self._opening_seq if self.replay else self._seq
            initial = _clock(image_seq) + f"#{rid}#{conn.id}"
            stream = _Stream(op, image_seq, len(images), image_seq, matcher)
            self._streams[initial] = stream
            sub.stream = stream
            sub.initial_clk = initial
            sub.cursor = image_seq
            self._send_changes(conn, sub, images, "SUB_IMAGE")
        conn.subscription = sub
        self._subscribed.set()
        conn.wake.set()
        return True

    def _matcher(self, op: str, market_filter: dict[str, Any]) -> Any:
        if op == "ocm" or not market_filter:
            return lambda entry: True
        lists = {
            "marketIds": None,
            "eventTypeIds": "eventTypeId",
            "eventIds": "eventId",
            "countryCodes": "countryCode",
            "marketTypes": "marketType",
            "venues": "venue",
            "bettingTypes": "bettingType",
            "raceTypes": "raceType",
        }
        flags = {"bspMarket": "bspMarket", "turnInPlayEnabled": "turnInPlayEnabled"}
        markets = self._markets

        def match(entry: _Entry) -> bool:
            market = markets.get(entry.market_id)
            md = market.definition if market is not None else None
            md = md or {}
            for key, attr in lists.items():
                wanted = market_filter.get(key)
                if wanted is None:
                    continue
                value = entry.market_id if attr is None else md.get(attr)
                if value not in wanted:
                    return False
            for key, attr in flags.items():
                wanted = market_filter.get(key)
                if wanted is not None and md.get(attr) != wanted:
                    return False
            return True

        return match

    # -- writing --------------------------------------------------------------------------

    def _trim(self, sub: _Subscription, change: dict[str, Any]) -> dict[str, Any]:
        """``change`` without what the subscription's data filter leaves out (itself when
        nothing needs leaving out)."""
        if sub.op != "mcm" or (sub.keys is None and sub.with_definition):
            return change
        trim_definition = not sub.with_definition and "marketDefinition" in change
        rcs = change.get("rc")
        keys = None if sub.keys is None else sub.keys | {"id", "hc"}
        trim_rc = keys is not None and rcs is not None and any(rc.keys() - keys for rc in rcs)
        if not trim_definition and not trim_rc:
            return change
        out = {k: v for k, v in change.items() if k != "marketDefinition" or sub.with_definition}
        if trim_rc and keys is not None and rcs is not None:
            out["rc"] = [{k: v for k, v in rc.items() if k in keys} for rc in rcs]
        return out

    def _header(self, sub: _Subscription, ct: str | None) -> dict[str, Any]:
        header: dict[str, Any] = {"op": sub.op, "id": sub.id}
        if ct in ("SUB_IMAGE", "RESUB_DELTA"):
            header["initialClk"] = sub.initial_clk
            header["conflateMs"] = sub.conflate_ms
            header["heartbeatMs"] = sub.heartbeat_ms
        header["clk"] = _clock(sub.cursor)
        header["pt"] = _now_ms()
        if ct is not None:
            header["ct"] = ct
        if self.stale:
            header["status"] = 503
        return header

    def _send_changes(
        self,
        conn: _Connection,
        sub: _Subscription,
        changes: Sequence[dict[str, Any]],
        ct: str | None,
        con: bool = False,
    ) -> None:
        key = "mc" if sub.op == "mcm" else "oc"
        trimmed = [self._trim(sub, c) for c in changes]
        if con:
            trimmed = [dict(c, con=True) if key == "mc" else c for c in trimmed]
        header = self._header(sub, ct)
        size = self.segment_size
        if sub.segmentation and size is not None and len(trimmed) > size:
            chunks = [trimmed[i : i + size] for i in range(0, len(trimmed), size)]
            for i, chunk in enumerate(chunks):
                message = dict(header)
                message["segmentType"] = (
                    "SEG_START" if i == 0 else "SEG_END" if i == len(chunks) - 1 else "SEG"
                )
                message[key] = chunk
                self._write_now(conn, orjson.dumps(message) + CRLF)
        else:
            header[key] = trimmed
            self._write_now(conn, orjson.dumps(header) + CRLF)
        self._count(conn, sub, len(trimmed))

    def _count(self, conn: _Connection, sub: _Subscription, changes: int) -> None:
        if changes:
            self.changes_sent += changes
            self.sent_per_subscription[sub.id] = self.sent_per_subscription.get(sub.id, 0) + 1
            conn.changes_sent += 1
        sub.stream.last_sent = max(sub.stream.last_sent, sub.cursor)

    def _write_now(self, conn: _Connection, data: bytes) -> None:
        if conn.silenced or conn.writer.is_closing():
            return
        self.messages_sent += data.count(b"\n")
        if self.split_utf8:
            # cut the write inside the first multi-byte character, if any
            for i, byte in enumerate(data):
                if byte >= 0xC0:
                    conn.writer.write(data[: i + 1])
                    conn.writer.write(data[i + 1 :])
                    return
        conn.writer.write(data)

    async def _send_loop(self, conn: _Connection) -> None:
        """Deltas and heartbeats for one connection, from its cursor in the log."""
        loop = asyncio.get_running_loop()
        last_write = loop.time()
        try:
            while not conn.closing:
                sub = conn.subscription
                timeout = None if sub is None else sub.heartbeat_ms / 1000
                if sub is not None and sub.conflate_ms:
                    await asyncio.sleep(sub.conflate_ms / 1000)
                else:
                    conn.wake.clear()
                    if sub is None or sub.cursor >= self._seq:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(timeout):
                                await conn.wake.wait()
                if conn.closing:
                    break
                sub = conn.subscription
                if sub is None:
                    continue
                pending = self._entries_after(sub.cursor)
                if pending:
                    await self._send_pending(conn, sub, pending)
                    last_write = loop.time()
                elif loop.time() - last_write >= sub.heartbeat_ms / 1000 - 0.001:
                    self._write_now(conn, orjson.dumps(self._header(sub, "HEARTBEAT")) + CRLF)
                    last_write = loop.time()
                await conn.writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            conn.closing = True
            if not conn.writer.is_closing():
                conn.writer.close()

    async def _send_pending(
        self, conn: _Connection, sub: _Subscription, pending: list[_Entry]
    ) -> None:
        key = b"mc" if sub.op == "mcm" else b"oc"
        matcher = sub.stream.matcher
        if sub.conflate_ms:
            batch = [e for e in pending if e.op == sub.op and matcher(e)]
            sub.cursor = pending[-1].seq
            if batch:
                changes = [dict(e.change, con=True) if sub.op == "mcm" else e.change for e in batch]
                self._send_changes(conn, sub, changes, None)
                await self._after_change(conn)
            return
        plain = sub.keys is None and sub.with_definition
        filter_key = (sub.keys, sub.with_definition)
        head = b'{"op":"' + sub.op.encode() + b'","id":' + str(sub.id).encode()
        out: list[bytes] = []
        for entry in pending:
            sub.cursor = entry.seq
            if entry.op != sub.op or not matcher(entry):
                continue
            corrupt = (
                _corrupted(sub.op, self._trim(sub, entry.change))
                if sub.op in self._corrupt
                else None
            )
            if corrupt is not None:
                self._corrupt.discard(sub.op)
                message = self._header(sub, None)
                message[key.decode()] = [corrupt]
                out.append(orjson.dumps(message) + CRLF)
            elif self.stale:  # the rare path: a header with a status
                trimmed = self._trim(sub, entry.change)
                raw = entry.raw if trimmed is entry.change else orjson.dumps(trimmed)
                prefix = orjson.dumps(self._header(sub, None))[:-1]
                out.append(prefix + b',"' + key + b'":[' + raw + b"]}" + CRLF)
            else:
                # messages are serialised once per change and data filter, then reused
                tail = entry.tails.get(filter_key)
                if tail is None:
                    if plain:
                        raw = entry.raw
                    else:
                        trimmed = self._trim(sub, entry.change)
                        raw = entry.raw if trimmed is entry.change else orjson.dumps(trimmed)
                    tail = entry.tails[filter_key] = (
                        b',"clk":"'
                        + _clock(entry.seq).encode()
                        + b'","pt":'
                        + str(entry.pt).encode()
                        + b',"'
                        + key
                        + b'":['
                        + raw
                        + b"]}"
                        + CRLF
                    )
                out.append(head + tail)
            self._count(conn, sub, 1)
            if self.drop_every is not None and conn.changes_sent >= self.drop_every:
                break
            if len(out) >= 256:
                self._flush(conn, out)
                await conn.writer.drain()
        self._flush(conn, out)
        await self._after_change(conn)

    def _flush(self, conn: _Connection, out: list[bytes]) -> None:
        if out:
            self._write_now(conn, b"".join(out))
            out.clear()

    async def _after_change(self, conn: _Connection) -> None:
        if self.drop_every is not None and conn.changes_sent >= self.drop_every:
            await conn.writer.drain()
            conn.closing = True
            conn.writer.close()

    async def _close(self, conn: _Connection) -> None:
        conn.closing = True
        conn.wake.set()
        self._connections.discard(conn)
        if not conn.writer.is_closing():
            conn.writer.close()
        with contextlib.suppress(Exception):
            await conn.writer.wait_closed()
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # -- certificate login ----------------------------------------------------------------

    async def _certlogin(self, request: web.Request) -> web.Response:
        self.login_attempts += 1
        if self.fail_logins > 0:
            self.fail_logins -= 1
            return web.json_response({"error": "mock outage"}, status=503)
        form = await request.post()
        app_key = request.headers.get("X-Application", "")
        username, password = form.get("username"), form.get("password")
        if app_key not in self.app_keys:
            return web.json_response({"loginStatus": "INVALID_APP_KEY"})
        if not isinstance(username, str) or self.users.get(username) != password:
            return web.json_response({"loginStatus": "INVALID_USERNAME_OR_PASSWORD"})
        token = f"mock-session-{next(self._session_ids)}"
        self.sessions.add(token)
        return web.json_response({"sessionToken": token, "loginStatus": "SUCCESS"})

    async def _keepalive(self, request: web.Request) -> web.Response:
        token = request.headers.get("X-Authentication", "")
        if token in self.sessions:
            return web.json_response(
                {
                    "token": token,
                    "product": request.headers.get("X-Application", ""),
                    "status": "SUCCESS",
                    "error": "",
                }
            )
        return web.json_response(
            {"token": "", "product": "", "status": "FAIL", "error": "NO_SESSION"}
        )


def _corrupted(op: str, change: dict[str, Any]) -> dict[str, Any] | None:
    """``change`` with an entry no cache can apply put first (None when it has no runners)."""
    if op == "mcm":
        rcs = change.get("rc")
        if not rcs:
            return None
        return dict(change, rc=[{"id": rcs[0]["id"], "spn": "abc"}, *rcs])
    orcs = change.get("orc")
    if not orcs:
        return None
    return dict(change, orc=[{"id": orcs[0]["id"], "mb": [[1.5]]}, *orcs])


def _status(
    rid: Any,
    code: str,
    error: str | None = None,
    message: str | None = None,
    closed: bool = False,
) -> bytes:
    status: dict[str, Any] = {"op": "status", "statusCode": code, "connectionClosed": closed}
    if rid is not None:
        status["id"] = rid
    if error is not None:
        status["errorCode"] = error
        status["errorMessage"] = message or error
    return orjson.dumps(status) + CRLF


@contextlib.asynccontextmanager
async def demo_server(
    markets: int = 3, rate: float | None = 50.0, **kwargs: Any
) -> AsyncIterator[MockEndpoint]:
    """Run a mock with a synthetic market in-process; yields where to connect::

    async with demo_server() as ep:
        feed = betfair.Feed(ep.app_key, ep.session, [MarketSubscription()],
                            host=ep.host, port=ep.port, ssl_context=ep.ssl_context)
    """
    server = BetfairMockServer(markets=markets, rate=rate, **kwargs)
    async with server:
        yield server.endpoint()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marketstreams mock betfair", description="A mock Betfair Exchange Stream API server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="stream port (0: any free port)")
    parser.add_argument("--app-key", action="append", default=None, help="accepted app key(s)")
    parser.add_argument("--session", action="append", default=None, help="accepted session(s)")
    parser.add_argument("--markets", type=int, default=3, help="synthetic markets")
    parser.add_argument("--runners", type=int, default=4, help="runners per synthetic market")
    parser.add_argument("--rate", type=float, default=20.0, help="changes per second (0: max)")
    parser.add_argument("--source", default=None, help="serve a recorded file instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="stop after N changes")
    parser.add_argument("--batch", type=int, default=1, help="changes generated per wake-up")
    parser.add_argument("--repeat", type=int, default=1, help="serve --source N times over")
    parser.add_argument("--prefill", type=int, default=0, help="generate N changes before serving")
    parser.add_argument(
        "--replay",
        action="store_true",
        help="every new stream starts from the opening state and gets every change as a delta",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    server = BetfairMockServer(
        host=args.host,
        port=args.port,
        app_keys=args.app_key or ["mock-app-key"],
        sessions=args.session or ["mock-session"],
        markets=args.markets,
        runners=args.runners,
        seed=args.seed,
        source=args.source,
        rate=args.rate or None,
        limit=args.limit,
        batch=args.batch,
        repeat=args.repeat,
        prefill=args.prefill,
        replay=args.replay,
    )
    async with server:
        print(
            f"betfair mock: stream {server.host}:{server.port} login {server.login_url} "
            f"CA {server.ca_path}",
            flush=True,
        )
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    """``marketstreams mock betfair --port P --app-key K --session S``: serve until interrupted."""
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:  # the port is taken, the host is not ours...: one line, no traceback
        print(f"betfair mock: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

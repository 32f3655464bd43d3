"""The Betfair mock server: TLS lines on the common base, the Exchange Stream API, its log.

More in docs/mock_servers.md (``mock_servers.betfair``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson
import trustme

from ..base import MockServer
from .faults import BetfairFaults
from .login import LoginEndpoints
from .markets import FIELD_KEYS, MarketState, OrderState, RecordedMarkets, SyntheticMarkets
from .wire import CRLF, clock, corrupted, now_ms, parse_clock, status_line

logger = logging.getLogger("marketstreams.mock.betfair")


# -- the change log ---------------------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    seq: int
    op: str
    market_id: str
    change: dict[str, Any]
    raw: bytes  # the change serialised once
    pt: int = 0  # publish time: when the change was generated
    tails: dict[Any, bytes] = field(default_factory=dict)  # serialised message tails per filter


@dataclass(slots=True)
class Stream:
    """A logical stream, named by its initialClk; survives the connections resuming it."""

    op: str
    image_seq: int
    image_changes: int
    last_sent: int
    matcher: Any


@dataclass(slots=True)
class Subscription:
    op: str
    id: int
    stream: Stream
    initial_clk: str
    cursor: int  # last log seq sent
    market_filter: dict[str, Any]
    keys: frozenset[str] | None  # runner change keys to send (None = all)
    with_definition: bool
    heartbeat_ms: int
    conflate_ms: int
    segmentation: bool


@dataclass(eq=False)
class Connection:
    writer: asyncio.StreamWriter
    id: str
    subscription: Subscription | None = None
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


class BetfairMockServer(BetfairFaults, MockServer[Connection]):
    """The mock ESA server (see the module docstring). Use as ``async with`` or start()/stop()."""

    venue: ClassVar[str] = "betfair"

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
        super().__init__(host, port)
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
        self._log: list[Entry] = []
        self._log_start = 1  # seq of _log[0]
        self._seq = 0
        self._markets: dict[str, MarketState] = {}
        self._orders = OrderState()
        self._streams: dict[str, Stream] = {}
        self._connection_ids = itertools.count(1)
        self._server: asyncio.base_events.Server | None = None
        self._login = LoginEndpoints(self)
        self._generator: asyncio.Task[None] | None = None
        self._new_data = asyncio.Event()
        self._subscribed = asyncio.Event()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_path = ""
        self._server_ssl: ssl.SSLContext | None = None
        self._client_ssl: ssl.SSLContext | None = None
        # counters
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

    async def _listen(self) -> int:
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
            self._handle, self.host, self.requested_port, ssl=server_ssl, limit=2**20
        )
        if self.login_enabled:
            await self._login.start(self.host, server_ssl)
        self._generator = asyncio.create_task(self._generate(), name="betfair-mock-generator")
        port = int(self._server.sockets[0].getsockname()[1])
        logger.info("betfair mock on %s:%s (CA %s)", self.host, port, self.ca_path)
        return port

    async def _shutdown(self) -> None:
        if self._generator is not None:
            self._generator.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._generator
            self._generator = None
        for conn in list(self.clients):
            await self._close(conn)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._login.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- properties -----------------------------------------------------------------------

    @property
    def login_port(self) -> int:
        return self._login.port

    @property
    def login_url(self) -> str:
        return f"https://{self.host}:{self._login.port}"

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

    # -- the log ----------------------------------------------------------------------------

    def _append(self, op: str, change: dict[str, Any]) -> None:
        self._seq += 1
        if op == "mcm":
            mid = change["id"]
            market = self._markets.get(mid)
            if market is None:
                market = self._markets[mid] = MarketState(mid)
            market.apply(change)
        else:
            mid = change["id"]
            self._orders.apply(change)
        self._log.append(Entry(self._seq, op, mid, change, orjson.dumps(change), now_ms()))
        if len(self._log) > self.log_size:
            drop = len(self._log) - self.log_size
            del self._log[:drop]
            self._log_start += drop

    def _entries_after(self, seq: int) -> list[Entry]:
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
        for conn in self.clients:
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
        conn = Connection(writer, f"mock-{next(self._connection_ids)}")
        self._connected(conn)
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
                            conn, status_line(None, "FAILURE", "INVALID_INPUT", "not JSON", True)
                        )
                        break
                    if not isinstance(request, dict):
                        self._write_now(
                            conn,
                            status_line(None, "FAILURE", "INVALID_INPUT", "not an object", True),
                        )
                        break
                    if not self._on_request(conn, request):
                        break
                    if conn.subscription is not None:
                        idle.reschedule(None)
        except TimeoutError:
            self._write_now(
                conn,
                status_line(
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

    def _on_request(self, conn: Connection, request: dict[str, Any]) -> bool:
        op = request.get("op")
        rid = request.get("id")
        if op == "authentication":
            return self._authenticate(conn, rid, request)
        if not conn.authenticated:
            self._write_now(
                conn, status_line(rid, "FAILURE", "NOT_AUTHORIZED", "not authenticated", True)
            )
            return False
        if op == "heartbeat":
            self.heartbeats_received += 1
            self._write_now(conn, status_line(rid, "SUCCESS"))
            return True
        if op in ("marketSubscription", "orderSubscription"):
            return self._subscribe(conn, rid, request)
        self._write_now(
            conn, status_line(rid, "FAILURE", "INVALID_REQUEST", f"unknown op {op}", False)
        )
        return True

    def _authenticate(self, conn: Connection, rid: Any, request: dict[str, Any]) -> bool:
        if conn.authenticated:
            self._write_now(
                conn,
                status_line(
                    rid, "FAILURE", "INVALID_REQUEST", "Connection is already authenticated"
                ),
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
        elif sum(1 for c in self.clients if c.authenticated) >= self.max_connections:
            error = ("MAX_CONNECTION_LIMIT_EXCEEDED", "Too many connections")
        if error is not None:
            self._write_now(conn, status_line(rid, "FAILURE", error[0], error[1], True))
            return False
        conn.authenticated = True
        conn.app_key, conn.session = app_key, session
        self.authentications += 1
        available = self.max_connections - sum(1 for c in self.clients if c.authenticated)
        status = {
            "op": "status",
            "id": rid,
            "statusCode": "SUCCESS",
            "connectionClosed": False,
            "connectionsAvailable": available,
        }
        self._write_now(conn, orjson.dumps(status) + CRLF)
        return True

    def _subscribe(self, conn: Connection, rid: Any, request: dict[str, Any]) -> bool:
        op = "mcm" if request["op"] == "marketSubscription" else "ocm"
        market_filter = request.get("marketFilter") or {} if op == "mcm" else {}
        data_filter = request.get("marketDataFilter") or {}
        fields = data_filter.get("fields") if op == "mcm" else None
        heartbeat_ms = request.get("heartbeatMs") or 5000
        conflate_ms = request.get("conflateMs") or 0
        if not 500 <= heartbeat_ms <= 30000 or not 0 <= conflate_ms <= 120000:
            self._write_now(conn, status_line(rid, "FAILURE", "INVALID_INPUT", "bad range", False))
            return True
        keys: frozenset[str] | None = None
        if fields is not None:
            keys = frozenset(k for f in fields for k in FIELD_KEYS.get(f, ()))
        matcher = self._matcher(op, market_filter)
        initial_clk, clk = request.get("initialClk"), request.get("clk")
        resume_seq = parse_clock(clk) if initial_clk and clk else None
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
                    conn,
                    status_line(rid, "FAILURE", "INVALID_CLOCK", "clock not recognised", False),
                )
                return True
        sub = Subscription(
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
        self._write_now(conn, status_line(rid, "SUCCESS"))
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
                    m for m in self._opening_images if matcher(Entry(0, "mcm", m["id"], {}, b""))
                ]
            elif op == "mcm":
                images = [
                    m.image()
                    for mid, m in self._markets.items()
                    if matcher(Entry(0, "mcm", mid, {}, b""))
                ]
            else:
                images = [] if self.replay else self._orders.image()
                image_seq = self._opening_seq if self.replay else self._seq
            initial = clock(image_seq) + f"#{rid}#{conn.id}"
            stream = Stream(op, image_seq, len(images), image_seq, matcher)
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

        def match(entry: Entry) -> bool:
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

    def _trim(self, sub: Subscription, change: dict[str, Any]) -> dict[str, Any]:
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

    def _header(self, sub: Subscription, ct: str | None) -> dict[str, Any]:
        header: dict[str, Any] = {"op": sub.op, "id": sub.id}
        if ct in ("SUB_IMAGE", "RESUB_DELTA"):
            header["initialClk"] = sub.initial_clk
            header["conflateMs"] = sub.conflate_ms
            header["heartbeatMs"] = sub.heartbeat_ms
        header["clk"] = clock(sub.cursor)
        header["pt"] = now_ms()
        if ct is not None:
            header["ct"] = ct
        if self.stale:
            header["status"] = 503
        return header

    def _send_changes(
        self,
        conn: Connection,
        sub: Subscription,
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

    def _count(self, conn: Connection, sub: Subscription, changes: int) -> None:
        if changes:
            self.changes_sent += changes
            self.sent_per_subscription[sub.id] = self.sent_per_subscription.get(sub.id, 0) + 1
            conn.changes_sent += 1
        sub.stream.last_sent = max(sub.stream.last_sent, sub.cursor)

    def _write_now(self, conn: Connection, data: bytes) -> None:
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

    async def _send_loop(self, conn: Connection) -> None:
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
        self, conn: Connection, sub: Subscription, pending: list[Entry]
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
                corrupted(sub.op, self._trim(sub, entry.change))
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
                        + clock(entry.seq).encode()
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

    def _flush(self, conn: Connection, out: list[bytes]) -> None:
        if out:
            self._write_now(conn, b"".join(out))
            out.clear()

    async def _after_change(self, conn: Connection) -> None:
        if self.drop_every is not None and conn.changes_sent >= self.drop_every:
            await conn.writer.drain()
            conn.closing = True
            conn.writer.close()

    async def _close(self, conn: Connection) -> None:
        conn.closing = True
        conn.wake.set()
        self._disconnected(conn)
        if not conn.writer.is_closing():
            conn.writer.close()
        with contextlib.suppress(Exception):
            await conn.writer.wait_closed()
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


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

"""The proxy's state, without sockets: books in, per-client conflating queues out.

More in docs/modules.md (``marketstreams.proxy.hub``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from ..conflate import Conflator, Pending
from ..feed import Feed
from ..models import Trade, describe
from .metrics import ClientCounters, Histogram, VenueCounters
from .protocol import (
    PROTOCOL_VERSION,
    Request,
    RequestError,
    book_id,
    book_kind,
    encode,
    encode_trade,
    error_message,
    market_label,
    parse_request,
    serialise_book,
)

__all__ = ["BookState", "Client", "ClientLimits", "Hub"]

logger = logging.getLogger("marketstreams.proxy")

RECENT_TRADES: Final = 50  # trades a new subscriber gets with its snapshot
_UPDATE_PREFIX: Final = b'{"type":"update","conflated":0,'


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What one client may cost before it is cut off (see the module docstring)."""

    max_pending_seconds: float = 10.0
    """Disconnect a client whose oldest undelivered update has waited this long."""
    max_buffer_bytes: int = 8 * 1024 * 1024
    """Disconnect a client whose connection holds this many bytes unsent."""
    max_trades: int = 1_000
    """Trades kept per book for a busy client; older ones are dropped and counted."""
    max_subscriptions: int = 1_000
    """Books one client may subscribe to."""
    max_replies: int = 256
    """Replies queued for a client that sends requests but reads nothing."""

    def as_dict(self) -> dict[str, float | int]:
        return {
            "max_pending_seconds": self.max_pending_seconds,
            "max_buffer_bytes": self.max_buffer_bytes,
            "max_trades": self.max_trades,
            "max_subscriptions": self.max_subscriptions,
            "max_replies": self.max_replies,
        }


class BookState:
    """One book as the proxy keeps it: the live book, its serialised state, its subscribers."""

    __slots__ = (
        "_body",
        "_body_version",
        "book",
        "depth",
        "id",
        "id_json",
        "kind",
        "last_update",
        "market",
        "overlay",
        "received",
        "recent",
        "stale",
        "subscribers",
        "valid",
        "venue",
        "venue_counters",
        "version",
    )

    def __init__(self, book: Any, depth: int, venue_counters: VenueCounters) -> None:
        self.book = book
        self.venue: str = book.venue
        self.market: str = book.market
        self.id = book_id(self.venue, self.market)
        self.id_json = encode(self.id)
        self.kind = book_kind(book)
        self.depth = depth
        self.version = 0
        self.received: float | None = None  # wall-clock time of the last update here
        self.last_update = time.monotonic()
        self.valid = bool(book.is_valid)
        self.stale = describe(book)["stale"]
        self.subscribers: set[Client] = set()
        self.recent: deque[bytes] = deque(maxlen=RECENT_TRADES)
        self.venue_counters = venue_counters
        self._body = b""
        self._body_version = -1
        self.overlay: Callable[[str, str], dict[str, Any] | None] | None = None

    def body(self) -> bytes:
        """The serialised state after ``{"type":..,"conflated":..,`` (cached per change)."""
        if self._body_version != self.version:
            body = serialise_book(self.book, self.depth)
            if body.get("recv") is None:  # books that do not stamp receipt: ours is close
                body["recv"] = self.received
            if self.overlay is not None:  # e.g. paper trading's orders and profit
                extra = self.overlay(self.venue, self.market)
                if extra:
                    body["paper"] = extra
            self._body = encode(body)[1:]
            self._body_version = self.version
        return self._body

    def summary(self) -> dict[str, Any]:
        """This book's entry in a ``books`` message."""
        name = market_label(describe(self.book, 0).get("definition"))
        return {
            "book": self.id,
            "venue": self.venue,
            "market": self.market,
            "kind": self.kind,
            "name": name,
            "valid": self.valid,
            "stale": self.stale,
            "subscribers": len(self.subscribers),
        }


class Client:
    """One websocket client's subscriptions and bounded, conflating queue (no I/O here).

    The server calls :meth:`take` to get everything pending as one frame. ``abort`` drops the
    connection; ``buffered`` says how many bytes its connection holds unsent.
    """

    __slots__ = (
        "_hub",
        "abort",
        "buffered",
        "close_reason",
        "closed",
        "control",
        "id",
        "inflight_since",
        "keyed",
        "peer",
        "pending",
        "pending_since",
        "stats",
        "subscriptions",
        "wakeup",
    )

    def __init__(
        self,
        hub: Hub,
        client_id: int,
        peer: str | None,
        abort: Callable[[], None],
        buffered: Callable[[], int],
    ) -> None:
        self._hub = hub
        self.id = client_id
        self.peer = peer
        self.abort = abort
        self.buffered = buffered
        self.subscriptions: set[str] = set()
        self.stats = ClientCounters()
        # book id -> its pending delivery (merged updates, encoded trades, snapshot or not)
        self.pending: Conflator[str, None, bytes] = Conflator(hub.limits.max_trades, self.stats)
        self.control: list[bytes] = []  # replies and errors, in order
        self.keyed: dict[str, bytes] = {}  # latest-only pushes: "books", "venue:<name>"
        self.pending_since: float | None = None  # monotonic time the oldest pending item came
        self.inflight_since: float | None = None  # same, for the frame being written
        self.wakeup = asyncio.Event()
        self.closed = False
        self.close_reason: str | None = None

    def __repr__(self) -> str:
        return f"<Client {self.id} {self.peer} books={len(self.subscriptions)}>"

    # -- filling (the hub) ---------------------------------------------------------------------

    def offer(
        self, book: str, trades: list[bytes] | None, now: float, snapshot: bool = False
    ) -> Pending[None, bytes]:
        """A new state of ``book`` (and the trades that led to it). Never blocks."""
        if self.pending_since is None:
            self.pending_since = now
        pending = self.pending.offer(book, None, trades, snapshot)
        self.wakeup.set()
        return pending

    def reply(self, message: dict[str, Any], now: float) -> None:
        """Queue a reply or an error; cuts the client when too many are unread."""
        self.reply_bytes(encode(message), now)

    def reply_bytes(self, message: bytes, now: float) -> None:
        """:meth:`reply` with an encoded message."""
        if len(self.control) >= self._hub.limits.max_replies:
            self.cut("slow", f"more than {self._hub.limits.max_replies} unread replies")
            return
        self.control.append(message)
        if self.pending_since is None:
            self.pending_since = now
        self.wakeup.set()

    def push(self, key: str, message: bytes, now: float) -> None:
        """Queue a latest-only message (a newer one with the same key replaces it)."""
        self.keyed[key] = message
        if self.pending_since is None:
            self.pending_since = now
        self.wakeup.set()

    def request_snapshot(self, state: BookState, now: float) -> None:
        pending = self.offer(state.id, None, now, snapshot=True)
        if state.recent:
            pending.trades = list(state.recent)

    def forget(self, book: str) -> None:
        self.subscriptions.discard(book)
        self.pending.discard(book)

    @property
    def trades(self) -> dict[str, list[bytes]]:
        """The encoded trades pending per book (a view for tests and debugging)."""
        return {book: p.trades for book, p in self.pending.pending.items() if p.trades}

    # -- draining (the server's writer) -------------------------------------------------------

    def take(self, now: float) -> bytes | None:
        """Everything pending as one frame (a JSON array), or None when nothing is."""
        if not (self.pending or self.control or self.keyed):
            return None
        # Pieces joined once at the end: each book's state is copied once into the frame.
        pieces: list[bytes] = []
        add = pieces.append
        messages = 0
        for message in self.control:
            add(message)
            add(b",")
        messages += len(self.control)
        self.control.clear()
        for message in self.keyed.values():
            add(message)
            add(b",")
        messages += len(self.keyed)
        self.keyed.clear()
        stats = self.stats
        if self.pending:
            books = self._hub.books
            for name, pending in self.pending.pending.items():
                state = books.get(name)
                if state is None:
                    continue
                trades = pending.trades
                merged = pending.merged
                if trades:
                    add(b'{"type":"trades","book":')
                    add(state.id_json)
                    add(b',"dropped":%d,"trades":[' % pending.dropped)
                    add(b",".join(trades))
                    add(b"]},")
                    stats.trades += len(trades)
                    messages += 1
                if pending.snapshot:
                    add(b'{"type":"snapshot","conflated":%d,' % merged)
                elif merged:
                    add(b'{"type":"update","conflated":%d,' % merged)
                else:
                    add(_UPDATE_PREFIX)
                add(state.body())
                add(b",")
                messages += 1
                stats.deliveries += 1
            self.pending.clear()
        if not pieces:  # only books that have gone since
            self.pending_since = None
            return None
        pieces[-1] = b"]"  # the last separator closes the array
        frame = b"[" + b"".join(pieces)
        stats.frames += 1
        stats.messages += messages
        stats.bytes += len(frame)
        if self.pending_since is not None:
            self._hub.queue_delay.observe(now - self.pending_since)
        self.inflight_since = self.pending_since
        self.pending_since = None
        return frame

    def sent(self) -> None:
        """The frame from the last :meth:`take` is written (or buffered by the transport)."""
        self.inflight_since = None

    def waiting_since(self) -> float | None:
        """Monotonic time of the oldest item not yet written to the connection."""
        if self.inflight_since is not None:
            return self.inflight_since
        return self.pending_since

    def cut(self, reason: str, detail: str) -> None:
        """Disconnect now (the connection is aborted: a slow client could not read a close)."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        level = logging.WARNING if reason == "slow" else logging.INFO
        logger.log(level, "proxy: disconnecting client %d (%s): %s", self.id, self.peer, detail)
        self.wakeup.set()
        try:
            self.abort()
        except Exception:  # the connection may already be gone
            logger.debug("proxy: aborting client %d failed", self.id, exc_info=True)


def _with_id(message: dict[str, Any], request_id: str | int | None) -> dict[str, Any]:
    if request_id is not None:
        message["id"] = request_id
    return message


class _Venue:
    __slots__ = ("announced", "books", "counters", "feeds", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.feeds: list[Feed] = []
        self.counters = VenueCounters()
        self.books = 0
        self.announced: tuple[int, int, int, int] | None = None

    def state(self) -> dict[str, Any]:
        feeds = len(self.feeds)
        connected = sum(1 for f in self.feeds if f.stats.connected)
        if not feeds:
            state = "connected" if self.books else "unknown"
        elif connected == feeds:
            state = "connected"
        elif connected:
            state = "partial"
        else:
            state = "disconnected"
        return {
            "venue": self.name,
            "state": state,
            "feeds": feeds,
            "connected": connected,
            "reconnects": sum(f.stats.reconnects for f in self.feeds),
            "book_count": self.books,
            "updates": self.counters.updates,
            "updates_per_second": round(self.counters.rate.per_second, 2),
        }


class Hub:
    """Books in (as an Updater hook), per-client conflating queues out. See the module docstring.

    ``depth`` is the number of levels a side (or back/lay prices a runner) in book messages.
    A book whose status is ``CLOSED`` (a settled Betfair market) is dropped
    ``evict_closed_after`` seconds after its last update, so that a proxy streaming a whole
    day's markets keeps flat memory; it leaves the ``books`` list and its subscribers'
    subscriptions.
    """

    def __init__(
        self,
        depth: int = 20,
        limits: ClientLimits | None = None,
        feeds: Iterable[Feed] = (),
        *,
        evict_closed_after: float = 600.0,
    ) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self.evict_closed_after = evict_closed_after
        self.limits = limits or ClientLimits()
        self.books: dict[str, BookState] = {}
        self._by_key: dict[tuple[str, str], BookState] = {}
        self.clients: dict[int, Client] = {}
        self.venues: dict[str, _Venue] = {}
        self.queue_delay = Histogram()
        self.accepted = 0
        self.refused: Counter[str] = Counter()
        self.disconnected: Counter[str] = Counter()
        self._closed_totals = ClientCounters()
        self._next_id = 1
        self._books_message: bytes | None = None
        self._started = time.monotonic()
        # (venue, market) -> extra state for that book's messages ("paper"), or None: set it to
        # PaperTrading.overlay to show paper orders and profit in the viewer
        self.overlay: Callable[[str, str], dict[str, Any] | None] | None = None
        self.add_feeds(feeds)

    def add_feeds(self, feeds: Iterable[Feed]) -> None:
        """Report these feeds' connection state as their venues'."""
        for feed in feeds:
            self._venue(feed.venue).feeds.append(feed)

    def _venue(self, name: str) -> _Venue:
        venue = self.venues.get(name)
        if venue is None:
            venue = self.venues[name] = _Venue(name)
        return venue

    # -- books in ------------------------------------------------------------------------------

    def on_update(self, book: Any, trades: list[Trade]) -> None:
        """The Updater hook: record the new state and offer it to every subscriber."""
        key = (book.venue, book.market)
        state = self._by_key.get(key)
        if state is None:
            state = self._new_book(book)
        state.book = book
        state.version += 1
        now = time.monotonic()
        state.last_update = now
        counters = state.venue_counters
        counters.updates += 1
        view = describe(book)
        received = view["received"] or time.time()
        state.received = received
        ts = view["timestamp"]
        if ts:
            counters.lag.observe(max(0.0, received - ts / 1000.0))
        valid = view["valid"]
        stale = view["stale"]
        resnapshot = valid and not state.valid
        if valid != state.valid or stale != state.stale:
            state.valid = valid
            state.stale = stale
            self._books_changed(now)
        encoded = None
        if trades:
            encoded = [encode_trade(t) for t in trades]
            state.recent.extend(encoded)
        name = state.id
        for client in state.subscribers:
            client.offer(name, encoded, now, resnapshot)

    def _new_book(self, book: Any) -> BookState:
        venue = self._venue(book.venue)
        state = BookState(book, self.depth, venue.counters)
        state.overlay = self.overlay
        self.books[state.id] = state
        self._by_key[(state.venue, state.market)] = state
        venue.books += 1
        logger.info("proxy: new book %s (%s)", state.id, state.kind)
        self._books_changed(time.monotonic())
        return state

    def _books_changed(self, now: float) -> None:
        self._books_message = None
        if self.clients:
            message = self.books_message()
            for client in self.clients.values():
                client.push("books", message, now)

    def books_message(self, request_id: str | int | None = None) -> bytes:
        """The ``books`` message: every book and every venue's state (``id`` when given)."""
        if request_id is None and self._books_message is not None:
            return self._books_message
        message: dict[str, Any] = {
            "type": "books",
            "books": [s.summary() for s in sorted(self.books.values(), key=lambda s: s.id)],
            "venues": [v.state() for _, v in sorted(self.venues.items())],
        }
        if request_id is not None:
            message["id"] = request_id
            return encode(message)
        self._books_message = encode(message)
        return self._books_message

    # -- clients -------------------------------------------------------------------------------

    def connect(
        self,
        peer: str | None = None,
        abort: Callable[[], None] = lambda: None,
        buffered: Callable[[], int] = lambda: 0,
    ) -> Client:
        """Register a client; its queue starts with ``hello``, ``books`` and ``venue`` messages."""
        client = Client(self, self._next_id, peer, abort, buffered)
        self._next_id += 1
        self.clients[client.id] = client
        self.accepted += 1
        now = time.monotonic()
        client.reply(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "server": "marketstreams",
                "client": client.id,
                "depth": self.depth,
                "limits": self.limits.as_dict(),
            },
            now,
        )
        client.push("books", self.books_message(), now)
        for venue in self.venues.values():
            client.push(f"venue:{venue.name}", encode({"type": "venue", **venue.state()}), now)
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a client (its connection is gone)."""
        if self.clients.pop(client.id, None) is None:
            return
        client.closed = True
        for name in client.subscriptions:
            state = self.books.get(name)
            if state is not None:
                state.subscribers.discard(client)
        self._closed_totals.add(client.stats)
        self.disconnected[client.close_reason or "closed"] += 1

    def receive(self, client: Client, data: str | bytes) -> None:
        """Handle one client frame; a bad one gets an ``error`` message, never an exception."""
        now = time.monotonic()
        try:
            request = parse_request(data, self.limits.max_subscriptions)
        except RequestError as exc:
            client.stats.bad_requests += 1
            client.reply(
                error_message(exc.code, exc.message, op=exc.op, request_id=exc.request_id), now
            )
            return
        if request.op == "subscribe":
            self._subscribe(client, request, now)
        elif request.op == "unsubscribe":
            self._unsubscribe(client, request, now)
        elif request.op == "list":
            client.keyed.pop("books", None)  # the reply is at least as new as a pending push
            client.reply_bytes(self.books_message(request.id), now)
        else:  # ping
            client.reply(_with_id({"type": "pong", "time": time.time()}, request.id), now)

    def _subscribe(self, client: Client, request: Request, now: float) -> None:
        known = [name for name in request.books if name in self.books]
        unknown = [name for name in request.books if name not in self.books]
        new = [name for name in known if name not in client.subscriptions]
        if len(client.subscriptions) + len(new) > self.limits.max_subscriptions:
            client.stats.bad_requests += 1
            client.reply(
                error_message(
                    "too_many_subscriptions",
                    f"at most {self.limits.max_subscriptions} books per client",
                    op="subscribe",
                    request_id=request.id,
                ),
                now,
            )
            return
        client.reply(
            _with_id(
                {
                    "type": "subscribed",
                    "books": known,
                    "total": len(client.subscriptions) + len(new),
                },
                request.id,
            ),
            now,
        )
        if unknown:
            client.stats.bad_requests += 1
            client.reply(
                error_message(
                    "unknown_book",
                    f"no such book: {', '.join(unknown[:10])}",
                    op="subscribe",
                    request_id=request.id,
                    books=unknown,
                ),
                now,
            )
        for name in known:
            state = self.books[name]
            client.subscriptions.add(name)
            state.subscribers.add(client)
            client.request_snapshot(state, now)

    def _unsubscribe(self, client: Client, request: Request, now: float) -> None:
        gone = []
        for name in request.books:
            if name in client.subscriptions:
                gone.append(name)
                client.forget(name)
                state = self.books.get(name)
                if state is not None:
                    state.subscribers.discard(client)
        client.reply(
            _with_id(
                {"type": "unsubscribed", "books": gone, "total": len(client.subscriptions)},
                request.id,
            ),
            now,
        )

    # -- housekeeping --------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Sample rates, announce venue state changes (the update rate included, to the unit:
        the viewer shows it), cut slow clients. Call every ~0.5 s."""
        now = time.monotonic() if now is None else now
        for venue in self.venues.values():
            venue.counters.rate.sample(now, venue.counters.updates)
            state = venue.state()
            key = (
                state["connected"],
                state["reconnects"],
                state["feeds"],
                round(state["updates_per_second"]),
            )
            if key != venue.announced:
                venue.announced = key
                message = encode({"type": "venue", **state})
                for client in self.clients.values():
                    client.push(f"venue:{venue.name}", message, now)
        self._evict_closed(now)
        limits = self.limits
        for client in list(self.clients.values()):
            since = client.waiting_since()
            if since is not None and now - since > limits.max_pending_seconds:
                client.cut(
                    "slow",
                    f"undelivered data waited {now - since:.1f} s "
                    f"(limit {limits.max_pending_seconds} s)",
                )
                continue
            buffered = client.buffered()
            if buffered > limits.max_buffer_bytes:
                client.cut(
                    "slow", f"{buffered} bytes unsent (limit {limits.max_buffer_bytes} bytes)"
                )

    def _evict_closed(self, now: float) -> None:
        gone = [
            state
            for state in self.books.values()
            if describe(state.book)["status"] == "CLOSED"
            and now - state.last_update > self.evict_closed_after
        ]
        for state in gone:
            del self.books[state.id]
            del self._by_key[(state.venue, state.market)]
            self.venues[state.venue].books -= 1
            for client in state.subscribers:
                client.forget(state.id)
            logger.info("proxy: dropped closed book %s", state.id)
        if gone:
            self._books_changed(now)

    def totals(self) -> ClientCounters:
        """Counters of every client, past and present."""
        out = ClientCounters()
        out.add(self._closed_totals)
        for client in self.clients.values():
            out.add(client.stats)
        return out

    def metrics(self) -> dict[str, Any]:
        """Everything ``/metrics`` and ``/metrics.json`` report."""
        venues = {}
        for name, venue in sorted(self.venues.items()):
            venues[name] = {**venue.state(), "lag": venue.counters.lag.as_dict()}
        return {
            "uptime": round(time.monotonic() - self._started, 3),
            "depth": self.depth,
            "books": len(self.books),
            "venues": venues,
            "clients": {
                "connected": len(self.clients),
                "accepted": self.accepted,
                "refused": dict(self.refused),
                "disconnected": dict(self.disconnected),
                "totals": self.totals().as_dict(),
                "queue_delay": self.queue_delay.as_dict(),
                "limits": self.limits.as_dict(),
            },
        }

    def health(self) -> dict[str, Any]:
        """``ok`` when every configured feed is connected and every book valid, else
        ``degraded`` (with the reasons)."""
        problems = []
        for name, venue in sorted(self.venues.items()):
            state = venue.state()
            if state["feeds"] and state["connected"] < state["feeds"]:
                problems.append(f"{name}: {state['connected']}/{state['feeds']} feeds connected")
        invalid = sorted(s.id for s in self.books.values() if not s.valid)
        if invalid:
            problems.append(f"invalid books: {', '.join(invalid[:20])}")
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "books": len(self.books),
            "clients": len(self.clients),
            "venues": {name: v.state()["state"] for name, v in sorted(self.venues.items())},
            "uptime": round(time.monotonic() - self._started, 3),
        }

"""The Betfair feed: asyncio TLS connections moving bytes between sockets and the sans-I/O core.

More in docs/modules.md (``marketstreams.venues.betfair.feed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

from ...exceptions import (
    ConfigurationError,
    ConnectionLostError,
    MalformedFrameError,
    SilenceError,
    TLSVerificationError,
    VenueError,
)
from ...feed import FeedStats
from ...models import Update
from ...recording.format import Header, Kind, Record, public_endpoint
from ...recording.writer import Channel, Recorder, resolve_recorder
from ...secret import Secret
from ...session import Batch, Loss, RecordReplay
from ...transport.backoff import Backoff
from .cache import MarketCache, OrderCache
from .errors import (
    BetfairAuthenticationError,
    BetfairStatusError,
    BetfairSubscriptionError,
    ErrorAction,
    LoginError,
    SessionExpiredError,
)
from .login import TRANSIENT_LOGIN_CODES, BetfairSession
from .protocol import (
    DEFAULT_MAX_LINE,
    Authenticated,
    Change,
    ClockReset,
    StatusFailure,
    StreamProtocol,
    SubscriptionState,
)
from .subscriptions import MarketSubscription, OrderSubscription, Subscription

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "BetfairSessionCore", "Books", "Feed", "retry"]

logger = logging.getLogger("marketstreams.betfair.feed")

DEFAULT_HOST = "stream-api.betfair.com"
DEFAULT_PORT = 443
_READ_SIZE = 256 * 1024

# what a connection hands to ``updates()``: a batch of updates and its subscription's index
_Item = tuple[Batch, int]


class Feed:
    """A Betfair Exchange Stream API feed (see the module docstring).

    ``session_token`` is a token string / :class:`~marketstreams.secret.Secret`, or a
    :class:`~.login.BetfairSession` (from :func:`~.login.login`) that the feed asks for a new
    token when the stream says the session expired. ``caches[i]`` and ``states[i]`` are the cache
    and the subscription state (clocks, counters) of ``subscriptions[i]``, and ``cores[i]`` its
    :class:`BetfairSessionCore` (what the live connections and a replay of its recording share).
    """

    venue = "betfair"

    def __init__(
        self,
        app_key: str | Secret,
        session_token: str | Secret | BetfairSession,
        subscriptions: Sequence[Subscription] | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 10,
        idle_intervals: int = 3,
        idle_timeout: float | None = None,
        connect_timeout: float = 15.0,
        backoff: Backoff | Callable[[], Backoff] | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        evict_closed_after: float = 600.0,
        keep_complete_orders: float = 3600.0,
        queue_size: int = 64,
        record: Recorder | str | os.PathLike[str] | None = None,
    ) -> None:
        subs = list(subscriptions) if subscriptions is not None else [MarketSubscription()]
        if not subs:
            raise ConfigurationError("at least one subscription is needed")
        if len(subs) > max_connections:
            raise ConfigurationError(
                f"{len(subs)} subscriptions need {len(subs)} connections, over the limit of "
                f"{max_connections} (Betfair's default per app key is 10)"
            )
        if idle_intervals < 1:
            raise ConfigurationError("idle_intervals must be at least 1")
        self._app_key = app_key if isinstance(app_key, Secret) else Secret(app_key)
        if isinstance(session_token, BetfairSession):
            self._login: BetfairSession | None = session_token
            self._session: Secret | None = None
        else:
            self._login = None
            self._session = (
                session_token if isinstance(session_token, Secret) else Secret(session_token)
            )
        self.subscriptions = subs
        self.host = host
        self.port = port
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.idle_intervals = idle_intervals
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        if isinstance(backoff, Backoff):
            b = backoff

            def new_backoff() -> Backoff:  # one per subscription, alike
                return Backoff(b.initial, b.maximum, b.factor, b.jitter)
        else:
            new_backoff = backoff or (lambda: Backoff(initial=0.1, maximum=30.0))
        self.max_line = max_line
        self.stats = FeedStats()
        self.states = [SubscriptionState(s) for s in subs]
        self.caches: list[MarketCache | OrderCache] = [
            MarketCache(evict_closed_after=evict_closed_after)
            if isinstance(s, MarketSubscription)
            else OrderCache(
                keep_complete_orders=keep_complete_orders, evict_closed_after=evict_closed_after
            )
            for s in subs
        ]
        self._queue_size = queue_size
        self._relogin = asyncio.Lock()
        self._login_refused: LoginError | None = None
        self.evict_closed_after = evict_closed_after
        self.keep_complete_orders = keep_complete_orders
        self.record = record
        self._channels: list[Channel | None] = [None] * len(subs)
        self.cores = [
            BetfairSessionCore(
                self._app_key,
                state,
                cache,
                self.stats,
                backoff=new_backoff(),
                max_line=max_line,
                can_log_in=self._login is not None,
                token=self._session,
            )
            for state, cache in zip(self.states, self.caches, strict=True)
        ]
        # replaying a recording of this feed (one subscription: see from_recording)
        self._replay = RecordReplay(self.core, "connection closed", queued=True)

    def __repr__(self) -> str:
        kinds = ",".join(s.kind for s in self.subscriptions)
        return f"<betfair.Feed {self.host}:{self.port} subscriptions={kinds}>"

    @property
    def core(self) -> BetfairSessionCore:
        """The session core of the first subscription (a replay feed's only one)."""
        return self.cores[0]

    @property
    def market_cache(self) -> MarketCache:
        """The cache of the first market subscription."""
        for cache in self.caches:
            if isinstance(cache, MarketCache):
                return cache
        raise ConfigurationError("this feed has no market subscription")

    @property
    def order_cache(self) -> OrderCache:
        """The cache of the first order subscription."""
        for cache in self.caches:
            if isinstance(cache, OrderCache):
                return cache
        raise ConfigurationError("this feed has no order subscription")

    async def updates(self) -> AsyncIterator[Update]:
        """Updates from every subscription until cancelled or a fatal error is raised."""
        queue: asyncio.Queue[_Item | BaseException] = asyncio.Queue(self._queue_size)
        self._login_refused = None  # each iteration may ask Betfair once more
        owned = self._open_channels()
        channels = self._channels
        tasks = [
            asyncio.create_task(self._run(i, queue), name=f"betfair-{s.kind}-{i}")
            for i, s in enumerate(self.subscriptions)
        ]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                batch, index = item
                channel = channels[index]
                if channel is not None:  # the books are handed on now, in their state of now
                    channel.delivered(time.time_ns(), len(batch))
                for update in batch:
                    yield update
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.stats.connected = False
            for cache in self.caches:
                cache.invalidate("feed closed")
            for i, channel in enumerate(channels):
                if channel is not None:
                    channel.close()
                    channels[i] = None
            if owned is not None:
                owned.close()

    # -- one subscription, reconnecting -------------------------------------------------

    async def _run(self, index: int, queue: asyncio.Queue[_Item | BaseException]) -> None:
        core = self.cores[index]
        core.backoff.reset()
        token: Secret | None = None
        stale: Secret | None = None  # the session token the stream refused last
        while True:
            loss = Loss("connection closed")
            try:
                # Logging in (again) happens here, inside the error handling below: a refusal
                # ends the feed with the error, a passing failure is retried with backoff.
                token = await self._token(stale)
                stale = None
                await self._connection(index, core, queue, token)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                decision = core.retry(exc)
                if decision is None:
                    self._record_fatal(index, exc)
                    core.on_fatal()
                    await queue.put(exc)  # updates() raises it
                    return
                loss = decision
                if isinstance(exc, SessionExpiredError):
                    stale = token  # log in again before reconnecting
            self._record_lost(index, loss.reason, loss.counter)
            lost = core.on_lost(loss)
            if lost:
                await queue.put((lost, index))
            delay = core.backoff.next_delay()
            logger.warning(
                "betfair %s stream lost (%s); reconnecting in %.2fs",
                core.state.subscription.kind,
                loss.reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _token(self, stale: Secret | None) -> Secret:
        """The session token to connect with. With a :class:`~.login.BetfairSession`, logs in
        first when it never has, or when the stream refused ``stale`` and nobody has logged in
        since; subscriptions share one login, and after a refusal none asks Betfair again."""
        login = self._login
        if login is None:
            assert self._session is not None
            return self._session
        async with self._relogin:
            if self._login_refused is not None:
                raise self._login_refused
            if login.logged_in and login.token is not stale:
                return login.token
            try:
                return await login.login()
            except LoginError as exc:
                if exc.code not in TRANSIENT_LOGIN_CODES:
                    self._login_refused = exc
                raise

    def _read_timeout(self, state: SubscriptionState) -> float:
        hb = state.heartbeat_ms or state.subscription.heartbeat_ms or 5000
        interval = hb / 1000
        if self.idle_timeout is not None:
            return min(interval, self.idle_timeout / self.idle_intervals)
        return interval

    async def _connection(
        self,
        index: int,
        core: BetfairSessionCore,
        queue: asyncio.Queue[_Item | BaseException],
        token: Secret,
    ) -> None:
        try:
            async with asyncio.timeout(self.connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=self.ssl_context, limit=_READ_SIZE
                )
        except ssl.SSLCertVerificationError as exc:  # fatal: name the host for the user
            raise TLSVerificationError(f"{self.host}:{self.port}", exc.verify_message) from None
        core.token = token
        now = time.time_ns()
        core.on_connect(now / 1e9)
        channel = self._channels[index]
        if channel is not None:
            channel.connected(now)
        state = core.state
        on_data = core.on_data
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + self.connect_timeout
            missed = 0
            while True:
                streaming = core.streaming
                timeout = self._read_timeout(state) if streaming else deadline - loop.time()
                try:
                    async with asyncio.timeout(max(timeout, 0.0)):
                        data = await reader.read(_READ_SIZE)
                except TimeoutError:
                    if not streaming:
                        raise ConnectionLostError(
                            f"no subscription after {self.connect_timeout:.1f}s"
                        ) from None
                    missed += 1
                    if missed >= self.idle_intervals:
                        raise SilenceError(f"silent for {missed} heartbeat intervals") from None
                    core.heartbeat()
                    out = core.data_to_send()
                    writer.write(out)
                    if channel is not None:
                        _record_sent(channel, out)
                    continue
                if not data:
                    raise ConnectionLostError("connection closed by Betfair")
                now = time.time_ns()
                if channel is not None:
                    channel.received(now, data)
                missed = 0
                batch = on_data(data, now / 1e9)
                out = core.data_to_send()
                if out:
                    writer.write(out)
                    if channel is not None:
                        _record_sent(channel, out)
                if batch:
                    await queue.put((batch, index))
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    # -- recording and replay ---------------------------------------------------------------------

    def _open_channels(self) -> Recorder | None:
        """One recording channel per subscription; returns the recorder the feed owns, if any."""
        record = self.record
        if record is None:
            return None
        record, owned = resolve_recorder(record)
        secrets = [self._app_key.value, self._session.value if self._session else None]
        for i, sub in enumerate(self.subscriptions):
            message = sub.to_message(0)
            self._channels[i] = record.channel(
                self.venue,
                f"tls://{self.host}:{self.port}",
                [message],
                feed={
                    "kind": sub.kind,
                    "subscription": message,
                    "host": public_endpoint(self.host),
                    "port": self.port,
                    "evict_closed_after": self.evict_closed_after,
                    "keep_complete_orders": self.keep_complete_orders,
                    "max_line": self.max_line,
                    "login": self._login is not None,  # an expired session was retried
                },
                name=f"{sub.kind}{i}",
                secrets=secrets,
                companion=_Historical(sub.change_op),
            )
        return owned

    def _record_lost(self, index: int, reason: str, counter: str | None) -> None:
        channel = self._channels[index]
        if channel is not None:
            channel.disconnected(time.time_ns(), reason, counter=counter)

    def _record_fatal(self, index: int, exc: BaseException) -> None:
        channel = self._channels[index]
        if channel is not None:
            channel.disconnected(time.time_ns(), str(exc), error=type(exc).__name__, fatal=True)

    @classmethod
    def from_recording(cls, header: Header) -> Feed:
        """A feed that replays one recorded subscription (see :meth:`replay_record`)."""
        info = header.feed
        message = info.get("subscription") or {}
        common: dict[str, Any] = {
            "conflate_ms": message.get("conflateMs"),
            "heartbeat_ms": message.get("heartbeatMs"),
            "segmentation_enabled": bool(message.get("segmentationEnabled", True)),
        }
        kind = info.get("kind")
        subscription: Subscription
        if kind == "market":
            subscription = MarketSubscription(**common)
        elif kind == "order":
            subscription = OrderSubscription(**common)
        else:
            raise ConfigurationError("the recording does not say which Betfair stream it holds")
        feed = cls(
            "replay",
            "replay",
            [subscription],
            host=str(info.get("host") or DEFAULT_HOST),
            port=int(info.get("port") or DEFAULT_PORT),
            evict_closed_after=float(info.get("evict_closed_after", 600.0)),
            keep_complete_orders=float(info.get("keep_complete_orders", 3600.0)),
            max_line=int(info.get("max_line", DEFAULT_MAX_LINE)),
        )
        feed.core.can_log_in = bool(info.get("login"))
        return feed

    def replay_record(self, record: Record) -> list[Update]:
        """Apply one recorded record exactly as the live feed applied the event it records: the
        bytes through the same :class:`BetfairSessionCore`, batches handed on where the live
        feed handed them on (so hooks see the books in the same state), drops and reconnects
        where they happened. Raises what the live feed raised."""
        return self._replay.apply(record)


class Books:
    """The books one read changed, in order, as a batch of updates: each :class:`Update` is
    made as the batch is iterated (when the feed hands it on), so the updates are short-lived
    and the garbage collector's work stays small at tens of thousands of updates a second.
    ``snapshots``: the indexes of the books an image replaced (None when none were)."""

    __slots__ = ("books", "snapshots")

    def __init__(self, books: list[Any], snapshots: set[int] | None = None) -> None:
        self.books = books
        self.snapshots = snapshots

    def __len__(self) -> int:
        return len(self.books)

    def __iter__(self) -> Iterator[Update]:
        snapshots = self.snapshots
        if snapshots:
            for i, book in enumerate(self.books):
                yield Update(book, [], i in snapshots)
        else:
            for book in self.books:
                yield Update(book)


class BetfairSessionCore:
    """One subscription's stream connections without I/O (see :mod:`marketstreams.session`):
    a :class:`StreamProtocol` per connection (authenticating with ``token``), every change
    through the subscription's cache, and the updates of each read as one batch. The feed's
    live loop and the replay of its recording drive it alike."""

    def __init__(
        self,
        app_key: Secret,
        state: SubscriptionState,
        cache: MarketCache | OrderCache,
        stats: FeedStats,
        *,
        backoff: Backoff,
        max_line: int = DEFAULT_MAX_LINE,
        can_log_in: bool = False,
        token: Secret | None = None,
    ) -> None:
        self.state = state
        self.cache = cache
        self.stats = stats
        self.backoff = backoff
        self.max_line = max_line
        #: the feed logs in again after an expired session (see :func:`retry`)
        self.can_log_in = can_log_in
        #: the session token the next connection authenticates with
        self.token = token
        self.protocol: StreamProtocol | None = None  # the open connection's
        self.connects = 0
        self._app_key = app_key

    @property
    def streaming(self) -> bool:
        """Whether the open connection is subscribed and streaming."""
        return self.protocol is not None and self.protocol.phase == "streaming"

    def on_connect(self, now: float) -> list[Update]:
        """A connection opened: a new protocol, which authenticates and subscribes (resuming
        from the subscription's clocks when it has them)."""
        if self.token is None:
            raise ConfigurationError("no session token to authenticate with")
        stats = self.stats
        if self.connects:
            stats.reconnects += 1
        self.connects += 1
        stats.connects += 1
        stats.connected = True
        self.protocol = StreamProtocol(
            self._app_key, self.token, self.state, max_line=self.max_line
        )
        return []

    def on_data(self, data: str | bytes, now: float) -> Books:
        """Bytes read at ``now``: the batch of updates they complete (maybe none)."""
        protocol = self.protocol
        if protocol is None:
            return Books([])
        books = self._apply(protocol.events(data if isinstance(data, bytes) else data.encode()))
        self.stats.updates += len(books)
        return books

    def heartbeat(self) -> None:
        """The line was quiet for a heartbeat interval: queue a client heartbeat."""
        if self.protocol is not None:
            self.protocol.send_heartbeat()

    def data_to_send(self) -> bytes:
        """Bytes to write to the open connection (empty when there is nothing)."""
        return b"" if self.protocol is None else self.protocol.data_to_send()

    def on_lost(self, loss: Loss) -> list[Update]:
        """The connection is gone: the updates of the books it made invalid."""
        loss.count(self.stats)
        self.stats.connected = False
        self.protocol = None
        return [Update(book) for book in self.cache.invalidate(loss.reason)]

    def on_fatal(self) -> None:
        """The subscription gives up (see :func:`retry`)."""
        self.stats.connected = False
        self.protocol = None

    def retry(self, exc: BaseException) -> Loss | None:
        """The one retry decision (:func:`retry`) for this subscription's feed."""
        return retry(exc, self.can_log_in)

    def _apply(self, events: Iterable[Any]) -> Books:
        books: list[Any] = []
        snapshots: set[int] | None = None
        stats = self.stats
        state = self.state
        cache = self.cache
        for event in events:
            if event.__class__ is Change:
                stats.messages += 1
                ct = event.change_type
                before = cache.changes
                try:
                    changed: list[Any] = cache(event.message)
                except MalformedFrameError as exc:
                    # The protocol has already moved the clocks past this message: a resume
                    # would never send it again (on the order stream: lost fills). Forget the
                    # clocks; the new connection gets a full image, which makes the markets
                    # the cache marked invalid valid again.
                    state.reset_clock()
                    logger.warning(
                        "betfair %s stream: a change could not be applied (%s); "
                        "resubscribing for a full image",
                        state.subscription.kind,
                        exc,
                    )
                    raise _Unapplied(f"{exc}; resubscribing for a full image") from exc
                if ct is None:
                    state.changes += cache.changes - before
                    books.extend(changed)
                    continue
                if ct == "SUB_IMAGE":
                    state.changes = cache.changes - before  # a new stream starts with its image
                    if snapshots is None:
                        snapshots = set()
                    for book in changed:
                        if not book.is_valid:
                            book.mark_valid()
                        snapshots.add(len(books))
                        books.append(book)
                    self.backoff.reset()
                elif ct == "RESUB_DELTA":
                    state.changes += cache.changes - before
                    seen = set(map(id, changed))
                    books.extend(changed)
                    books.extend(b for b in cache.mark_valid() if id(b) not in seen)
                    self.backoff.reset()
                else:
                    books.extend(changed)  # heartbeats: only books whose stale flag changed
            elif isinstance(event, Authenticated):
                if event.connections_available is not None and event.connections_available < 1:
                    logger.warning("betfair reports no further stream connections available")
            elif isinstance(event, ClockReset):
                logger.warning("betfair refused the stored clocks; taking a full image")
            elif isinstance(event, StatusFailure):
                stats.errors += 1
                logger.warning("betfair status failure: %s", event.error)
        return Books(books, snapshots)


def retry(exc: BaseException, can_log_in: bool) -> Loss | None:
    """The one retry decision of a Betfair stream connection: a :class:`Loss` to reconnect
    after (logging in again first after an expired session), None to give up.
    ``can_log_in``: the feed was given a login, not a plain session token."""
    if isinstance(exc, SessionExpiredError):
        return Loss(f"session expired ({exc.code})") if can_log_in else None
    if isinstance(exc, LoginError):  # refused credentials are fatal, an outage is not
        return Loss(f"login failed: {exc}", "errors") if exc.code in TRANSIENT_LOGIN_CODES else None
    if isinstance(exc, _FATAL):
        return None
    if isinstance(exc, MalformedFrameError):  # a line, or a change the cache cannot apply
        return Loss(f"malformed frame: {exc}", "malformed")
    if isinstance(exc, BetfairStatusError) and exc.action is ErrorAction.FATAL:
        return None
    if isinstance(exc, ConnectionLostError):
        return Loss(str(exc), "silences" if isinstance(exc, SilenceError) else None)
    # connection errors, status failures: retried
    return Loss(
        f"{exc.__class__.__name__}: {exc}",
        "errors" if isinstance(exc, VenueError) else None,
    )


_FATAL = (
    BetfairAuthenticationError,
    BetfairSubscriptionError,
    ConfigurationError,
    ssl.SSLCertVerificationError,  # retrying cannot make a certificate valid
)


class _Unapplied(MalformedFrameError):
    """The cache could not apply a change message: the subscription starts again from an
    image."""


_AUTHENTICATION = b'"op":"authentication"'


def _record_sent(channel: Channel, data: bytes) -> None:
    """Record what was written, line by line; the authentication line only as a summary."""
    now = time.time_ns()
    for line in data.split(b"\r\n"):
        if not line:
            continue
        if _AUTHENTICATION in line:
            channel.withheld(now, {"op": "authentication"})
        else:
            channel.sent(now, line + b"\r\n")


class _Historical:
    """Betfair's historical format beside a recording: every ``mcm`` (or ``ocm``) line that
    carries changes, as received, one per line (runs in the recorder's thread)."""

    folder = "betfair-historical"

    def __init__(self, change_op: str) -> None:
        self.suffix = f".{change_op}"
        self._op = b'"op":"%s"' % change_op.encode()
        self._changes = b'"mc":[' if change_op == "mcm" else b'"oc":['
        self._empty = self._changes + b"]"
        self._rest = b""

    def feed(self, kind: str, payload: bytes) -> list[bytes]:
        if kind not in Kind.received:
            if kind == Kind.CONNECTED or kind == Kind.DISCONNECTED:
                self._rest = b""  # a new connection starts with a new line
            return []
        data = self._rest + payload if self._rest else payload
        lines = data.split(b"\n")
        self._rest = lines.pop()
        out = []
        for line in lines:
            if self._op in line[:80] and self._changes in line and self._empty not in line:
                out.append(line.rstrip(b"\r") + b"\n")
        return out

"""Books and trades to Redis Streams, and back: one stream per book, for other processes.

More in docs/modules.md (``marketstreams.sinks.redis``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..exceptions import ConfigurationError
from ..models import Trade, describe
from ..transport.backoff import Backoff

__all__ = [
    "RedisBooks",
    "RedisSink",
    "RemoteBook",
    "SinkStats",
    "book_entry",
    "describable",
    "encode_entry",
    "main",
]

logger = logging.getLogger("marketstreams.sinks.redis")

_RETRYABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
_DUPLICATE = "equal or smaller"  # Redis' answer to an XADD id already passed
# Error replies of a Redis that refuses writes for a while (out of memory, a read-only replica
# after a failover, a failed snapshot, too few replicas, a busy script, a cluster resharding):
# retried with backoff, keeping the batch; resending is safe thanks to the sink-chosen ids.
_REFUSALS = frozenset(
    {
        "OOM",
        "READONLY",
        "MISCONF",
        "NOREPLICAS",
        "MASTERDOWN",
        "BUSY",
        "LOADING",
        "TRYAGAIN",
        "CLUSTERDOWN",
    }
)


def _refusal(exc: BaseException) -> bool:
    """Whether ``exc`` is an error reply of a Redis that refuses writes only for a while."""
    if not isinstance(exc, ResponseError):
        return False
    code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
    return code in _REFUSALS


class _Refused(RedisError):
    """A batch Redis refused for a while (see ``_REFUSALS``): retried."""


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _plain_levels(levels: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Levels with exact decimals as strings (JSON keeps every digit)."""
    if levels and type(levels[0][0]) is Decimal:
        return [(str(p), str(v)) for p, v in levels]
    return levels


def describable(book: Any) -> bool:
    """Whether the sink can describe this kind of book: price levels (``"orderbook"``) or a
    Betfair market (``"betfair_market"``; Betfair's order stream is private and is not
    published). See :func:`marketstreams.models.describe`."""
    return describe(book)["kind"] in ("orderbook", "betfair_market")


def book_entry(book: Any, depth: int) -> dict[str, Any]:
    """What the sink stores of ``book``: its top ``depth`` levels and its state."""
    view = describe(book, depth)
    out: dict[str, Any] = {
        "venue": view["venue"],
        "market": view["market"],
        "valid": view["valid"],
        "status": view["status"],
    }
    kind = view["kind"]
    if kind == "orderbook":
        out["sequence"] = view["sequence"]
        out["timestamp"] = view["timestamp"]
        out["received"] = view["received"]
        out["bids"] = _plain_levels(view["bids"])
        out["asks"] = _plain_levels(view["asks"])
    elif kind == "betfair_market":
        out["timestamp"] = view["timestamp"]
        out["inplay"] = view["inplay"]
        out["runners"] = [
            {
                "id": r["id"],
                "hc": r["handicap"],
                "status": r["status"],
                "ltp": r["ltp"],
                "tv": r["matched"],
                "back": [list(level) for level in r["back"]],
                "lay": [list(level) for level in r["lay"]],
            }
            for r in view["runners"]
        ]
    return out


def encode_entry(book: Any, depth: int) -> bytes:
    """:func:`book_entry` as the JSON stored in an entry's ``book`` field."""
    return orjson.dumps(book_entry(book, depth), default=_plain)


@dataclass(slots=True)
class SinkStats:
    """Counters of a :class:`RedisSink`."""

    offered: int = 0  # updates handed to the sink
    published: int = 0  # entries Redis accepted
    duplicates: int = 0  # entries sent again after a reconnect and refused as already stored
    dropped: int = 0  # entries dropped: the buffer was full, or Redis refused them for good
    dropped_trades: int = 0  # trades in those entries
    unsupported: int = 0  # updates of books the sink cannot describe (order streams)
    errors: int = 0  # failed sends (Redis away, timeouts, refused writes)
    reconnects: int = 0  # successful sends after a failure
    pending: int = 0  # entries waiting (buffer and in flight)
    connected: bool = False

    def as_dict(self) -> dict[str, int | bool]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# (stream key, entry id, fields, trades in it)
_Entry = tuple[str, str, dict[str, bytes], int]


class RedisSink:
    """A hook that publishes every book update to Redis Streams (see the module docstring).

    ``url`` or ``client`` (a ``redis.asyncio.Redis``) says where. ``depth`` levels a side (or
    runner), ``maxlen`` entries kept per stream (approximately: ``MAXLEN ~``), ``buffer`` entries
    held while Redis is slow or away, ``batch`` entries per pipeline. ``timeout`` bounds every
    Redis call, so that a stalled server counts as away. Use as an async context manager (or
    :meth:`start` / :meth:`stop`) inside the running loop.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "marketstreams",
        depth: int = 10,
        maxlen: int = 100_000,
        buffer: int = 100_000,
        batch: int = 500,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        if depth < 1 or maxlen < 1 or buffer < 1 or batch < 1 or timeout <= 0:
            raise ConfigurationError("depth, maxlen, buffer, batch and timeout must be positive")
        self.client = client or aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # this sink retries by itself, keeping its buffer
        )
        self._own_client = client is None
        self.prefix = prefix
        self.depth = depth
        self.maxlen = maxlen
        self.buffer = buffer
        self.batch = batch
        self.backoff = backoff or Backoff(initial=0.05, maximum=5.0)
        self.stats = SinkStats()
        self._pending: deque[_Entry] = deque()
        self._inflight: list[_Entry] = []
        self._books: dict[tuple[str, str], list[int]] = {}  # key -> [last ms, last n]
        self._kinds: dict[type, bool] = {}  # book class -> describable
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def __repr__(self) -> str:
        return f"<RedisSink {self.prefix} depth={self.depth} {self.stats.as_dict()}>"

    def stream(self, venue: str, market: str) -> str:
        """The stream name of a book."""
        return f"{self.prefix}:{venue}:{market}"

    def entries(self, venue: str, market: str) -> int:
        """How many entries this sink has made of a book (the ``n`` of the newest one)."""
        state = self._books.get((venue, market))
        return 0 if state is None else state[1]

    # -- the hook (on the feed's path: never blocks, never raises) ----------------------------

    def __call__(self, book: Any, trades: list[Trade]) -> None:
        stats = self.stats
        stats.offered += 1
        kind = type(book)
        supported = self._kinds.get(kind)
        if supported is None:
            supported = self._kinds[kind] = describable(book)
        if not supported:
            stats.unsupported += 1
            return
        key = (book.venue, book.market)
        state = self._books.get(key)
        if state is None:
            state = self._books[key] = [0, 0]
        ms = max(state[0], int(time.time() * 1000))
        n = state[1] + 1
        state[0], state[1] = ms, n
        values: dict[str, bytes] = {
            "n": b"%d" % n,
            "book": encode_entry(book, self.depth),
        }
        if trades:
            values["trades"] = orjson.dumps([t.as_dict() for t in trades], default=_plain)
        pending = self._pending
        if len(pending) >= self.buffer:
            dropped = pending.popleft()
            stats.dropped += 1
            stats.dropped_trades += dropped[3]
        pending.append((self.stream(*key), f"{ms}-{n}", values, len(trades)))
        stats.pending = len(pending) + len(self._inflight)
        if not self._wake.is_set():
            self._idle.clear()
            self._wake.set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the publishing task (in the running loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"marketstreams-redis {self.prefix}")

    async def stop(self, drain_timeout: float | None = 5.0) -> None:
        """Publish what is buffered (for up to ``drain_timeout`` seconds), then stop."""
        if self._task is not None:
            if drain_timeout:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(drain_timeout):
                        await self.drain()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_client:
            with contextlib.suppress(RedisError, OSError):
                await self.client.aclose()

    async def drain(self) -> None:
        """Wait until every buffered entry has been published."""
        while self._pending or self._inflight:
            self._idle.clear()
            await self._idle.wait()

    async def __aenter__(self) -> RedisSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- publishing ---------------------------------------------------------------------------

    async def _run(self) -> None:
        pending = self._pending
        while True:
            if not pending and not self._inflight:
                self.stats.pending = 0
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
            if not self._inflight:
                take = min(self.batch, len(pending))
                self._inflight = [pending.popleft() for _ in range(take)]
            try:
                await self._send(self._inflight)
            except asyncio.CancelledError:
                raise
            except (*_RETRYABLE, _Refused) as exc:
                self._lost(exc)
                await asyncio.sleep(self.backoff.next_delay())
                continue
            except RedisError as exc:
                if _refusal(exc):  # refused for a while: keep the batch and retry
                    self._lost(exc)
                    await asyncio.sleep(self.backoff.next_delay())
                    continue
                # refused for another reason: do not loop on it, but count what is lost
                self.stats.errors += 1
                self._drop(self._inflight)
                logger.error("redis refused a batch of %d entries: %s", len(self._inflight), exc)
            if self._failing:
                self._failing = False
                self.stats.reconnects += 1
                logger.info("redis reachable again; %d entries waiting", len(pending))
            self.stats.connected = True
            self.backoff.reset()
            self._inflight = []
            self.stats.pending = len(pending)

    async def _send(self, entries: list[_Entry]) -> None:
        pipe = self.client.pipeline(transaction=False)
        streams = {key for key, _, _, _ in entries}
        pipe.sadd(f"{self.prefix}:books", *streams)
        for key, entry_id, values, _ in entries:
            pipe.xadd(key, values, id=entry_id, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
        results = await pipe.execute(raise_on_error=False)
        stats = self.stats
        refused: list[_Entry] = []  # refused for good
        refusal: BaseException | None = None  # refused for a while
        for entry, result in zip(entries, results[1:], strict=True):
            if isinstance(result, ResponseError):
                if _DUPLICATE in str(result):
                    stats.duplicates += 1  # stored before the connection broke
                elif _refusal(result):
                    refusal = refusal or result
                else:
                    refused.append(entry)
                    logger.error("redis refused an entry of %s: %s", entry[0], result)
                continue
            if isinstance(result, Exception):
                raise result
            stats.published += 1
        if isinstance(results[0], ResponseError) and _refusal(results[0]):
            refusal = refusal or results[0]
        if refusal is not None:  # the whole batch again: what was stored is refused as duplicate
            raise _Refused(f"{type(refusal).__name__}: {refusal}") from refusal
        if refused:
            stats.errors += 1
            self._drop(refused)

    def _drop(self, entries: list[_Entry]) -> None:
        """Count ``entries`` as dropped (Redis refused them for good)."""
        self.stats.dropped += len(entries)
        self.stats.dropped_trades += sum(entry[3] for entry in entries)

    def _lost(self, exc: BaseException) -> None:
        stats = self.stats
        stats.errors += 1
        stats.connected = False
        if not self._failing:
            self._failing = True
            logger.warning(
                "redis unreachable or refusing writes (%s: %s); buffering up to %d entries and "
                "retrying",
                type(exc).__name__,
                exc,
                self.buffer,
            )


# -- consuming ------------------------------------------------------------------------------


def _restore(levels: Iterable[list[Any]]) -> list[list[Any]]:
    return [[Decimal(v) if isinstance(v, str) else v for v in level] for level in levels]


@dataclass(slots=True)
class RemoteBook:
    """A book rebuilt from its stream: the state the publisher's hook saw at entry ``n``."""

    venue: str
    market: str
    valid: bool
    n: int
    entry_id: str
    sequence: Any = None
    timestamp: Any = None
    received: Any = None
    status: Any = None
    bids: list[list[Any]] = field(default_factory=list)
    asks: list[list[Any]] = field(default_factory=list)
    runners: list[dict[str, Any]] | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)

    def depth(self, n: int | None = None) -> dict[str, list[list[Any]]]:
        """``{"bids": [[price, volume], ...], "asks": [...]}`` like ``OrderBook.depth``."""
        return {"bids": self.bids[:n], "asks": self.asks[:n]}

    @classmethod
    def from_entry(cls, entry_id: Any, values: Any) -> RemoteBook:
        """A book from one stream entry (as redis-py returns it: bytes keys and values)."""
        book = orjson.loads(values[b"book"])
        trades = orjson.loads(values[b"trades"]) if b"trades" in values else []
        runners = book.get("runners")
        if runners is not None:
            for r in runners:
                r["back"] = _restore(r.get("back", ()))
                r["lay"] = _restore(r.get("lay", ()))
        for t in trades:
            for name in ("price", "base", "counter"):
                if isinstance(t.get(name), str):
                    t[name] = Decimal(t[name])
        return cls(
            venue=book["venue"],
            market=book["market"],
            valid=bool(book.get("valid")),
            n=int(values[b"n"]),
            entry_id=entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id),
            sequence=book.get("sequence"),
            timestamp=book.get("timestamp"),
            received=book.get("received"),
            status=book.get("status"),
            bids=_restore(book.get("bids", ())),
            asks=_restore(book.get("asks", ())),
            runners=runners,
            trades=trades,
        )

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class RedisBooks:
    """Read what a :class:`RedisSink` published: the books' latest states, and new entries."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: aioredis.Redis | None = None,
        prefix: str = "marketstreams",
    ) -> None:
        self.client = client or aioredis.Redis.from_url(url)
        self._own_client = client is None
        self.prefix = prefix

    async def __aenter__(self) -> RedisBooks:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()

    async def streams(self) -> list[str]:
        """Every book stream published under the prefix, sorted."""
        members = await self.client.smembers(f"{self.prefix}:books")
        return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)

    async def latest(self) -> dict[tuple[str, str], RemoteBook]:
        """The latest state of every book."""
        out: dict[tuple[str, str], RemoteBook] = {}
        for key in await self.streams():
            entries: Any = await self.client.xrevrange(key, count=1)
            if entries:
                entry_id, values = entries[0]
                book = RemoteBook.from_entry(entry_id, values)
                out[(book.venue, book.market)] = book
        return out

    async def history(self, venue: str, market: str) -> list[RemoteBook]:
        """Every entry still in one book's stream, oldest first."""
        entries: Any = await self.client.xrange(f"{self.prefix}:{venue}:{market}")
        return [RemoteBook.from_entry(i, v) for i, v in entries]

    async def follow(
        self, *, since: str = "$", block_ms: int = 1000, refresh: float = 5.0
    ) -> AsyncIterator[RemoteBook]:
        """Every new entry of every book, as it arrives (``since="0"``: from the start).

        New books are picked up every ``refresh`` seconds."""
        positions: dict[str, str] = {}
        checked = 0.0
        while True:
            now = time.monotonic()
            if now - checked >= refresh or not positions:
                checked = now
                for key in await self.streams():
                    positions.setdefault(key, since)
                if not positions:
                    await asyncio.sleep(min(refresh, block_ms / 1000))
                    continue
            reply: Any = await self.client.xread(positions, block=block_ms)  # type: ignore[arg-type]
            for key, entries in reply or ():
                name = key.decode() if isinstance(key, bytes) else key
                for entry_id, values in entries:
                    book = RemoteBook.from_entry(entry_id, values)
                    positions[name] = book.entry_id
                    yield book


def main(argv: list[str] | None = None) -> int:
    """``python -m marketstreams.sinks.redis --url URL [--prefix P]``: the latest books, as JSON
    (one object: ``"venue:market"`` -> book)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(
        prog="python -m marketstreams.sinks.redis", description=main.__doc__
    )
    p.add_argument("--url", default="redis://127.0.0.1:6379/0")
    p.add_argument("--prefix", default="marketstreams")
    args = p.parse_args(argv)

    async def read() -> dict[tuple[str, str], RemoteBook]:
        async with RedisBooks(args.url, prefix=args.prefix) as books:
            return await books.latest()

    try:
        latest = asyncio.run(read())
    except (RedisError, OSError) as exc:
        print(f"redis: {exc}", file=sys.stderr)
        return 1
    out = {f"{v}:{m}": book.as_dict() for (v, m), book in latest.items()}
    sys.stdout.write(orjson.dumps(out, default=_plain).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

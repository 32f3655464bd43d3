"""Metrics for long-running processes, per venue and per book, as a Python API and as Prometheus
text.

More in docs/modules.md (``marketstreams.metrics``).
"""

from __future__ import annotations

import time
import weakref
from bisect import bisect_left
from collections import deque
from typing import Any, Final

from .hooks import Hook
from .models import describe
from .prometheus import Exposition
from .updater import Updater

__all__ = ["LAG_BUCKETS", "BookMetrics", "Metrics", "render_prometheus"]

#: Histogram bounds of the venue-to-receipt lag, seconds.
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_FEED_COUNTERS: Final = {
    "reconnects": "Connections made after the first one.",
    "gaps": "Sequence gaps and out-of-sync detections.",
    "silences": "Connections replaced because the venue went quiet.",
    "malformed": "Frames skipped because they could not be parsed or applied.",
    "errors": "Venue error frames and statuses.",
    "messages": "Venue messages received.",
    "updates": "Book updates emitted.",
}
_HOOK_COUNTERS: Final = {
    "calls": "Times the hook was called.",
    "errors": "Hook calls that raised.",
    "conflated": "Updates merged into a pending delivery while the hook was busy.",
    "dropped": "Updates dropped because the hook's queue was full.",
    "dropped_trades": "Trades dropped beyond a pending delivery's cap.",
}


class BookMetrics:
    """What was seen of one book (all plain counters, updated by the metrics hook)."""

    __slots__ = (
        "_last_ts",
        "buckets",
        "closed",
        "invalidations",
        "lag_count",
        "lag_sum",
        "last_lag",
        "last_second",
        "last_update",
        "samples",
        "trades",
        "updates",
        "valid",
        "venue_conflated",
    )

    def __init__(self) -> None:
        self.updates = 0
        self.trades = 0
        self.invalidations = 0
        self.venue_conflated = 0
        self.valid = False
        self.buckets = [0] * (len(LAG_BUCKETS) + 1)
        self.lag_count = 0
        self.lag_sum = 0.0
        self.last_lag: float | None = None
        self.last_second = -1
        self.samples: deque[tuple[float, int]] = deque(maxlen=3600)  # (monotonic, updates)
        self.last_update = 0.0  # monotonic
        self.closed = False  # status CLOSED at the last update
        self._last_ts: Any = None

    def prune(self, now: float, window: float) -> None:
        """Drop the rate samples older than needed for the last ``window`` seconds."""
        samples = self.samples
        cutoff = now - window
        while len(samples) > 1 and samples[1][0] <= cutoff:
            samples.popleft()

    def rate(self, now: float, window: float) -> float:
        """Updates per second over (about) the last ``window`` seconds."""
        samples = self.samples
        if not samples:
            return 0.0
        self.prune(now, window)
        t0, c0 = samples[0]
        span = now - t0
        return (self.updates - c0) / span if span > 0 else 0.0

    def as_dict(self, now: float, window: float) -> dict[str, Any]:
        cumulative, running = [], 0
        for bound, n in zip((*LAG_BUCKETS, float("inf")), self.buckets, strict=True):
            running += n
            cumulative.append((bound, running))
        return {
            "updates": self.updates,
            "updates_per_second": self.rate(now, window),
            "trades": self.trades,
            "invalidations": self.invalidations,
            "venue_conflated": self.venue_conflated,
            "valid": self.valid,
            "lag": {
                "count": self.lag_count,
                "sum": self.lag_sum,
                "last": self.last_lag,
                "buckets": cumulative,
            },
        }


_attached: weakref.WeakKeyDictionary[Updater, Metrics] = weakref.WeakKeyDictionary()


class Metrics:
    """Per venue and book metrics of an :class:`~marketstreams.Updater` (see the module
    docstring). ``window``: seconds over which updates per second are averaged;
    ``expire_closed_after`` / ``expire_idle_after``: seconds after their last update that books
    whose status is ``CLOSED`` / all books are forgotten (``None``: never)."""

    def __init__(
        self,
        window: float = 10.0,
        *,
        expire_closed_after: float | None = 600.0,
        expire_idle_after: float | None = 3600.0,
    ) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        if (expire_closed_after is not None and expire_closed_after < 0) or (
            expire_idle_after is not None and expire_idle_after < 0
        ):
            raise ValueError("expiry times must not be negative")
        self.window = window
        self.expire_closed_after = expire_closed_after
        self.expire_idle_after = expire_idle_after
        self._next_sweep = 0.0
        self.books: dict[tuple[str, str], BookMetrics] = {}
        self.updater: Updater | None = None
        self.hook: Hook | None = None
        self.started = time.time()
        self._tracked: dict[str, Any] = {}

    @classmethod
    def for_updater(cls, updater: Updater, window: float = 10.0) -> Metrics:
        """The metrics attached to ``updater``, attaching new ones on first use."""
        metrics = _attached.get(updater)
        if metrics is None:
            metrics = cls(window)
            metrics.attach(updater)
        return metrics

    def attach(self, updater: Updater) -> Hook:
        """Observe every update of ``updater`` (also while it runs) and report its feeds' and
        hooks' counters. Returns the hook added."""
        if self.updater is not None:
            raise RuntimeError("these metrics are already attached to an Updater")
        self.updater = updater
        self.hook = updater.add_hook(Hook(self.observe, name="marketstreams-metrics"))
        _attached[updater] = self
        return self.hook

    def track(self, name: str, obj: Any) -> None:
        """Also export ``obj.stats.as_dict()`` (a Recorder, a Redis sink...) as
        ``marketstreams_<name>_<counter>``."""
        if not name.isidentifier():
            raise ValueError(f"{name!r} is not usable in a metric name")
        self._tracked[name] = obj

    def forget(self, venue: str, market: str) -> bool:
        """Stop reporting a book (until it updates again). Whether it was known."""
        return self.books.pop((venue, market), None) is not None

    def expire(self, now: float | None = None) -> int:
        """Forget the books past ``expire_closed_after`` / ``expire_idle_after`` (see the class
        docstring); done by itself while updates arrive and on every read. How many went."""
        if now is None:
            now = time.monotonic()
        closed_after, idle_after = self.expire_closed_after, self.expire_idle_after
        expired = [
            key
            for key, m in self.books.items()
            if (closed_after is not None and m.closed and now - m.last_update > closed_after)
            or (idle_after is not None and now - m.last_update > idle_after)
        ]
        for key in expired:
            del self.books[key]
        limits = [t for t in (closed_after, idle_after) if t is not None]
        # sweep again within a tenth of the shortest expiry (from 1 s to 60 s)
        self._next_sweep = now + max(1.0, min(60.0, min(limits, default=600.0) / 10))
        return len(expired)

    # -- the hook ----------------------------------------------------------------------------

    def observe(self, book: Any, trades: list[Any]) -> None:
        """Count one update of ``book`` (what the attached hook calls)."""
        key = (book.venue, book.market)
        m = self.books.get(key)
        if m is None:
            m = self.books[key] = BookMetrics()
        m.updates += 1
        if trades:
            m.trades += len(trades)
        view = describe(book)
        valid = view["valid"]
        if m.valid and not valid:
            m.invalidations += 1
        m.valid = valid
        if view["conflated"]:
            m.venue_conflated += 1
        now = time.monotonic()
        m.last_update = now
        m.closed = view["status"] == "CLOSED"
        second = int(now)
        if second != m.last_second:
            m.last_second = second
            m.samples.append((now, m.updates - 1))
            m.prune(now, self.window)
            if now >= self._next_sweep:
                self.expire(now)
        if not valid:
            return
        ts = view["timestamp"]
        if ts is None or ts == m._last_ts:  # lag only when the venue time moved
            return
        m._last_ts = ts
        received = view["received"]
        lag = (received if received is not None else time.time()) - ts / 1000.0
        m.last_lag = lag
        if lag < 0:
            lag = 0.0  # clock skew: counted in the first bucket
        m.buckets[bisect_left(LAG_BUCKETS, lag)] += 1
        m.lag_count += 1
        m.lag_sum += lag

    # -- reading -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every metric as plain data: ``books``, ``venues`` (books summed), ``feeds``,
        ``hooks`` and tracked objects."""
        now = time.monotonic()
        self.expire(now)
        books = {
            f"{venue}:{market}": {"venue": venue, "book": market, **m.as_dict(now, self.window)}
            for (venue, market), m in sorted(self.books.items())
        }
        venues: dict[str, dict[str, Any]] = {}
        for b in books.values():
            v = venues.setdefault(
                b["venue"], {"books": 0, "updates": 0, "updates_per_second": 0.0, "trades": 0}
            )
            v["books"] += 1
            v["updates"] += b["updates"]
            v["updates_per_second"] += b["updates_per_second"]
            v["trades"] += b["trades"]
        feeds = []
        hooks = []
        if self.updater is not None:
            for i, feed in enumerate(self.updater.feeds):
                feeds.append({"venue": feed.venue, "feed": _feed_name(feed, i), **_stats(feed)})
                venue = venues.setdefault(
                    feed.venue, {"books": 0, "updates": 0, "updates_per_second": 0.0, "trades": 0}
                )
                venue["reconnects"] = venue.get("reconnects", 0) + feed.stats.reconnects
                venue["gaps"] = venue.get("gaps", 0) + feed.stats.gaps
            for hook in self.updater.hooks:
                if hook is not self.hook:
                    hooks.append({"hook": hook.name, **hook.stats.as_dict()})
        return {
            "uptime": time.time() - self.started,
            "books": books,
            "venues": venues,
            "feeds": feeds,
            "hooks": hooks,
            "tracked": {name: _stats(obj) for name, obj in self._tracked.items()},
        }

    def render_prometheus(self) -> str:
        """The metrics in Prometheus' text format (names ``marketstreams_book_*``,
        ``marketstreams_feed_*``, ``marketstreams_hook_*``; no clash with the proxy's own
        ``marketstreams_proxy_*``)."""
        return render_prometheus(self.snapshot())


def _stats(obj: Any) -> dict[str, Any]:
    stats = getattr(obj, "stats", None)
    as_dict = getattr(stats, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else {}


def _feed_name(feed: Any, index: int) -> str:
    for attr in ("pair", "topics"):
        value = getattr(feed, attr, None)
        if isinstance(value, str):
            return value
        if isinstance(value, list | tuple) and value:
            return ",".join(map(str, value))
    return str(index)


# -- Prometheus text ---------------------------------------------------------------------------


def render_prometheus(snapshot: dict[str, Any]) -> str:
    """Prometheus text (format 0.0.4) of a :meth:`Metrics.snapshot`."""
    out = Exposition()
    for b in snapshot["books"].values():
        lab = {"venue": b["venue"], "book": b["book"]}
        out.add("marketstreams_book_updates_total", "counter", "Book updates.", b["updates"], lab)
        out.add(
            "marketstreams_book_updates_per_second",
            "gauge",
            "Book updates per second, recent average.",
            b["updates_per_second"],
            lab,
        )
        out.add("marketstreams_book_trades_total", "counter", "Trades.", b["trades"], lab)
        out.add(
            "marketstreams_book_invalidations_total",
            "counter",
            "Times the book went out of sync (gaps, drops, silences).",
            b["invalidations"],
            lab,
        )
        out.add(
            "marketstreams_book_venue_conflated_total",
            "counter",
            "Updates the venue conflated.",
            b["venue_conflated"],
            lab,
        )
        out.add(
            "marketstreams_book_valid", "gauge", "1 while the book is in sync.", b["valid"], lab
        )
        out.histogram(
            "marketstreams_book_lag_seconds",
            "Venue timestamp to local receipt, seconds.",
            b["lag"],
            lab,
        )
    for venue, v in sorted(snapshot["venues"].items()):
        lab = {"venue": venue}
        out.add(
            "marketstreams_venue_updates_per_second",
            "gauge",
            "Book updates per second of all the venue's books.",
            v["updates_per_second"],
            lab,
        )
    for f in snapshot["feeds"]:
        lab = {"venue": f["venue"], "feed": f["feed"]}
        for counter, help_text in _FEED_COUNTERS.items():
            if counter in f:
                out.add(
                    f"marketstreams_feed_{counter}_total", "counter", help_text, f[counter], lab
                )
        if "connected" in f:
            out.add(
                "marketstreams_feed_connected", "gauge", "1 while connected.", f["connected"], lab
            )
    for h in snapshot["hooks"]:
        lab = {"hook": h["hook"]}
        for counter, help_text in _HOOK_COUNTERS.items():
            out.add(f"marketstreams_hook_{counter}_total", "counter", help_text, h[counter], lab)
    for name, stats in sorted(snapshot["tracked"].items()):
        for counter, value in sorted(stats.items()):
            if isinstance(value, bool | int | float):
                out.add(
                    f"marketstreams_{name}_{counter}",
                    "gauge",
                    f"{name} {counter.replace('_', ' ')}.",
                    value,
                    {},
                )
    return out.text()

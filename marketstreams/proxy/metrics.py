"""Counters and histograms of the proxy, and their Prometheus text form.

Everything here is plain state updated on the event loop; :func:`prometheus_text` renders the
dict that :meth:`~marketstreams.proxy.hub.Hub.metrics` returns (the same dict ``/metrics.json``
serves), so both endpoints always agree.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Final

from ..prometheus import Exposition

__all__ = ["LATENCY_BUCKETS", "ClientCounters", "Histogram", "Rate", "prometheus_text"]

# Seconds; fine enough around the 1-50 ms that matter for a desk, coarse beyond.
LATENCY_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class Histogram:
    """Cumulative-bucket histogram plus the most recent ``window`` samples for quantiles."""

    __slots__ = ("bounds", "buckets", "count", "recent", "sum")

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS, window: int = 4096) -> None:
        self.bounds = tuple(bounds)
        self.buckets = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0
        self.recent: deque[float] = deque(maxlen=window)

    def observe(self, value: float) -> None:
        self.buckets[bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        self.recent.append(value)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of the recent samples (None before the first one)."""
        if not self.recent:
            return None
        ordered = sorted(self.recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def as_dict(self) -> dict[str, Any]:
        cumulative, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.buckets, strict=True):
            running += n
            cumulative.append([bound if bound != float("inf") else "+Inf", running])
        return {
            "count": self.count,
            "sum": self.sum,
            "p50": self.quantile(0.5),
            "p99": self.quantile(0.99),
            "buckets": cumulative,
        }


class Rate:
    """Events per second over the last ``span`` seconds, from a counter sampled by a ticker."""

    __slots__ = ("samples", "span")

    def __init__(self, span: float = 5.0) -> None:
        self.span = span
        self.samples: deque[tuple[float, int]] = deque()

    def sample(self, now: float, count: int) -> None:
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.span:
            self.samples.popleft()

    @property
    def per_second(self) -> float:
        if len(self.samples) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


@dataclass(slots=True)
class ClientCounters:
    """What the proxy did for clients (one instance per client, and one for all of them)."""

    frames: int = 0  # websocket frames sent
    bytes: int = 0  # payload bytes sent
    messages: int = 0  # messages sent (a frame carries one or more)
    deliveries: int = 0  # snapshot / update messages sent
    conflated: int = 0  # book updates merged into a pending delivery instead of sent apart
    trades: int = 0  # trades sent
    dropped_trades: int = 0  # trades dropped beyond the per-book cap of a slow client
    bad_requests: int = 0  # requests answered with an error message

    def add(self, other: ClientCounters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class VenueCounters:
    """Per venue: updates, lag and connection state."""

    updates: int = 0
    lag: Histogram = field(default_factory=Histogram)  # venue timestamp -> receipt, seconds
    rate: Rate = field(default_factory=Rate)


# -- Prometheus --------------------------------------------------------------------------------


def prometheus_text(snapshot: dict[str, Any]) -> str:
    """The Prometheus text exposition (format 0.0.4) of a :meth:`Hub.metrics` snapshot."""
    w = Exposition(prefix="marketstreams_proxy_")
    w.add("uptime_seconds", "gauge", "Seconds since the proxy started.", snapshot["uptime"])
    for venue, v in sorted(snapshot["venues"].items()):
        lab = {"venue": venue}
        w.add("updates_total", "counter", "Book updates received.", v["updates"], lab)
        w.add(
            "updates_per_second",
            "gauge",
            "Book updates per second over the last seconds.",
            v["updates_per_second"],
            lab,
        )
        w.add("books", "gauge", "Books known.", v["book_count"], lab)
        w.add("feeds", "gauge", "Feeds (venue connections) configured.", v["feeds"], lab)
        w.add("feeds_connected", "gauge", "Feeds connected now.", v["connected"], lab)
        w.add("reconnects_total", "counter", "Feed reconnections.", v["reconnects"], lab)
        w.histogram(
            "venue_lag_seconds",
            "Venue timestamp to local receipt, seconds.",
            v["lag"],
            lab,
        )
        for q in ("p50", "p99"):
            w.add(
                "venue_lag_quantile_seconds",
                "gauge",
                "Recent venue-to-receipt lag quantiles, seconds.",
                v["lag"][q],
                {**lab, "quantile": "0.5" if q == "p50" else "0.99"},
            )
    c = snapshot["clients"]
    w.add("clients", "gauge", "Websocket clients connected now.", c["connected"])
    w.add("clients_accepted_total", "counter", "Websocket clients accepted.", c["accepted"])
    for reason, n in sorted(c["refused"].items()):
        w.add(
            "clients_refused_total",
            "counter",
            "Websocket clients refused.",
            n,
            {"reason": reason},
        )
    for reason, n in sorted(c["disconnected"].items()):
        w.add(
            "clients_disconnected_total",
            "counter",
            "Websocket clients gone, by reason.",
            n,
            {"reason": reason},
        )
    totals = c["totals"]
    help_texts = {
        "frames": "Websocket frames sent.",
        "bytes": "Payload bytes sent.",
        "messages": "Protocol messages sent.",
        "deliveries": "Snapshot and update messages sent.",
        "conflated": "Book updates merged into a pending delivery of a busy client.",
        "trades": "Trades sent.",
        "dropped_trades": "Trades dropped beyond the per-book cap of a slow client.",
        "bad_requests": "Client requests answered with an error.",
    }
    for key, text in help_texts.items():
        w.add(f"{key}_total", "counter", text, totals[key])
    w.histogram(
        "queue_delay_seconds",
        "Time the oldest update of a frame waited in its client's queue, seconds.",
        c["queue_delay"],
    )
    return w.text()

"""A toy fourth venue, everything in this one package: a session core, a feed whose
"connection" is a list of frames ``"PRICE VOLUME"`` in memory driving that core, recording what
it receives, and replaying its recordings through the same core; and its registry spec.
Registered from the test with one ``registry.register`` line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from marketstreams import Feed as FeedInterface
from marketstreams import FeedStats, OrderBook, Update
from marketstreams.exceptions import ConfigurationError, MalformedFrameError
from marketstreams.recording.format import Header, Record
from marketstreams.recording.writer import Recorder
from marketstreams.session import Loss, RecordReplay
from marketstreams.venues.registry import Capabilities, VenueSpec, no_more_options, plain


class ToyCore:
    """The toy's session core (see :mod:`marketstreams.session`): ``"PRICE VOLUME"`` frames
    into the bid side, no I/O. The live feed and the replay of its recording drive it alike."""

    def __init__(self, market: str, stats: FeedStats) -> None:
        self.book = OrderBook("toy", market)
        self.stats = stats

    def on_connect(self, now: float) -> list[Update]:
        self.stats.connects += 1
        return []

    def on_data(self, data: str | bytes, now: float) -> list[Update]:
        frame = data if isinstance(data, str) else data.decode()
        try:
            price, volume = (float(x) for x in frame.split())
        except ValueError:
            self.stats.malformed += 1
            raise MalformedFrameError("not 'PRICE VOLUME'", frame) from None
        self.book.set_level("bid", price, volume)
        self.book.mark_valid()
        self.stats.messages += 1
        self.stats.updates += 1
        return [Update(self.book)]

    def on_lost(self, loss: Loss) -> list[Update]:
        self.book.invalidate(loss.reason)
        return [Update(self.book)]

    def on_fatal(self) -> None:
        self.stats.errors += 1

    def retry(self, exc: BaseException) -> Loss | None:
        return None  # a toy gives up at once

    def data_to_send(self) -> list[str]:
        return []


class ToyFeed:
    """Bids of one market, one ``"PRICE VOLUME"`` frame at a time."""

    venue = "toy"

    def __init__(
        self,
        market: str,
        frames: list[str],
        *,
        token: str | None = None,
        record: Recorder | None = None,
    ) -> None:
        self.market = market
        self.frames = frames
        self.token = token
        self.record = record
        self.stats = FeedStats()
        self.core = ToyCore(market, self.stats)
        self._replay = RecordReplay(self.core)

    @property
    def book(self) -> OrderBook:
        return self.core.book

    async def updates(self) -> AsyncIterator[Update]:
        channel = None
        if self.record is not None:
            channel = self.record.channel(
                "toy", "toy://memory", [self.market], feed={"market": self.market}
            )
        core = self.core
        try:
            now = time.time_ns()
            if channel is not None:
                channel.connected(now)
            core.on_connect(now / 1e9)
            for frame in self.frames:
                now = time.time_ns()
                if channel is not None:
                    channel.received(now, frame)
                for update in core.on_data(frame, now / 1e9):
                    yield update
        except Exception as exc:
            if core.retry(exc) is None:
                core.on_fatal()
                if channel is not None:
                    channel.disconnected(time.time_ns(), str(exc), fatal=True)
            raise
        finally:
            if channel is not None:
                channel.close()

    @classmethod
    def from_recording(cls, header: Header) -> ToyFeed:
        market = header.feed.get("market")
        if not isinstance(market, str):
            raise ConfigurationError("the recording does not name its toy market")
        return cls(market, [])

    def replay_record(self, record: Record) -> list[Update]:
        return self._replay.apply(record)


def feeds(
    markets: list[str], options: dict[str, Any], record: Recorder | None
) -> list[FeedInterface]:
    token = plain(options.pop("token", None))
    frames = list(options.pop("frames", ["100 1", "101 2", "102 3"]))
    no_more_options("toy", options)
    return [ToyFeed(market, frames, token=token, record=record) for market in markets]


async def demo(stack: contextlib.AsyncExitStack) -> list[FeedInterface]:
    return [ToyFeed("DEMO", ["1 1", "2 2"])]


SPEC = VenueSpec(
    name="toy",
    feeds=feeds,
    from_recording=ToyFeed.from_recording,
    capabilities=Capabilities(
        transport="memory",
        book="price levels",
        sequence="none",
        snapshots="none",
        trades="no",
        authentication="optional token",
    ),
    env={"token": "TOY_TOKEN"},
    demo=demo,
)

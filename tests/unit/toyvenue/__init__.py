"""A toy fourth venue, everything in this one package: a feed whose "connection" is a list of
frames ``"PRICE VOLUME"`` in memory, that records what it receives and replays its recordings,
and its registry spec. Registered from the test with one ``registry.register`` line."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from marketstreams import Feed as FeedInterface
from marketstreams import FeedStats, OrderBook, Update
from marketstreams.exceptions import ConfigurationError, MalformedFrameError
from marketstreams.recording.format import Header, Kind, Record
from marketstreams.recording.writer import Recorder
from marketstreams.venues.registry import Capabilities, VenueSpec, no_more_options, plain


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
        self.book = OrderBook("toy", market)

    def apply(self, frame: str) -> list[Update]:
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

    async def updates(self) -> AsyncIterator[Update]:
        channel = None
        if self.record is not None:
            channel = self.record.channel(
                "toy", "toy://memory", [self.market], feed={"market": self.market}
            )
        for frame in self.frames:
            if channel is not None:
                channel.received(time.time_ns(), frame)
            for update in self.apply(frame):
                yield update
        if channel is not None:
            channel.close()

    @classmethod
    def from_recording(cls, header: Header) -> ToyFeed:
        market = header.feed.get("market")
        if not isinstance(market, str):
            raise ConfigurationError("the recording does not name its toy market")
        return cls(market, [])

    def replay_record(self, record: Record) -> list[Update]:
        if record.kind in Kind.received:
            data = record.data
            return self.apply(data if isinstance(data, str) else data.decode())
        return []


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

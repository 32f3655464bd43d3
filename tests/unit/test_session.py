"""The session core's shared parts: one retry decision per venue, one replay of records."""

from __future__ import annotations

import ssl

import aiohttp
import orjson
import pytest

from marketstreams.exceptions import (
    AuthenticationError,
    ConfigurationError,
    FrameTooLargeError,
    MalformedFrameError,
    SequenceGapError,
    SilenceError,
    SubscriptionError,
    VenueError,
)
from marketstreams.models import Update
from marketstreams.recording.format import Kind, Record
from marketstreams.session import Loss, RecordReplay
from marketstreams.venues.betfair import feed as betfair_feed
from marketstreams.venues.betfair.errors import LoginError, SessionExpiredError, status_error
from marketstreams.venues.bitmex import feed as bitmex_feed
from marketstreams.venues.luno.feed import Feed as LunoFeed


def counter(loss: Loss | None) -> str | None:
    assert loss is not None
    return loss.counter


def test_luno_retry_decision() -> None:
    assert LunoFeed.retry(AuthenticationError("invalid_credentials")) is None
    assert LunoFeed.retry(ConfigurationError("unknown pair")) is None
    assert LunoFeed.retry(RuntimeError("a bug outside the frame path")) is None
    assert counter(LunoFeed.retry(SilenceError("no frame for 5 s"))) == "silences"
    assert counter(LunoFeed.retry(VenueError("internal_error"))) == "errors"
    assert counter(LunoFeed.retry(SequenceGapError(3, 5))) == "gaps"
    assert counter(LunoFeed.retry(FrameTooLargeError("big"))) is None
    loss = LunoFeed.retry(aiohttp.ClientConnectionError("reset"))
    assert loss == Loss("ClientConnectionError: reset", None)


def test_bitmex_retry_decision() -> None:
    assert bitmex_feed.retry(SubscriptionError("400", "unknown table")) is None
    assert bitmex_feed.retry(AuthenticationError("401")) is None
    assert counter(bitmex_feed.retry(SilenceError("silent for 10 s (no pong)"))) == "silences"
    assert bitmex_feed.retry(MalformedFrameError("unusable frame")) == Loss("unusable frame")
    assert bitmex_feed.retry(TimeoutError()) == Loss("TimeoutError")


def test_betfair_retry_decision() -> None:
    retry = betfair_feed.retry
    expired = SessionExpiredError("INVALID_SESSION_INFORMATION")
    assert retry(expired, can_log_in=False) is None
    assert retry(expired, can_log_in=True) == Loss("session expired (INVALID_SESSION_INFORMATION)")
    assert retry(LoginError("INVALID_USERNAME_OR_PASSWORD"), can_log_in=True) is None
    assert counter(retry(LoginError("CONNECTION_FAILED"), can_log_in=True)) == "errors"
    assert retry(ssl.SSLCertVerificationError("bad certificate"), can_log_in=True) is None
    assert counter(retry(MalformedFrameError("not JSON"), can_log_in=False)) == "malformed"
    assert retry(status_error("INVALID_APP_KEY"), can_log_in=True) is None
    assert counter(retry(status_error("TIMEOUT"), can_log_in=False)) == "errors"
    assert counter(retry(SilenceError("silent for 3 heartbeat intervals"), False)) == "silences"
    assert retry(OSError("reset"), can_log_in=False) == Loss("OSError: reset", None)


class Core:
    """A toy session core: 'x' frames fail, 'fatal' frames end the feed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_connect(self, now: float) -> list[Update]:
        self.calls.append("connect")
        return []

    def on_data(self, data: str | bytes, now: float) -> list[Update]:
        if data == "x":
            raise MalformedFrameError("bad frame")
        if data == "fatal":
            raise AuthenticationError("refused")
        self.calls.append(f"data {data!s}")
        return []

    def on_lost(self, loss: Loss) -> list[Update]:
        self.calls.append(f"lost {loss.reason} {loss.counter}")
        return []

    def on_fatal(self) -> None:
        self.calls.append("fatal")

    def retry(self, exc: BaseException) -> Loss | None:
        return None if isinstance(exc, AuthenticationError) else Loss(str(exc), "malformed")


def marker(kind: str, **info: object) -> Record:
    return Record(kind, 0.0, orjson.dumps(info))


def test_record_replay_follows_the_live_loop() -> None:
    core = Core()
    replay = RecordReplay(core, closed="closed")
    records = [
        marker(Kind.CONNECTED),
        Record(Kind.RECEIVED, 1.0, "a"),
        Record(Kind.RECEIVED, 2.0, "x"),  # the connection ends here...
        Record(Kind.RECEIVED, 3.0, "b"),  # ...so the live feed read no more of it
        marker(Kind.DISCONNECTED, reason="x", counter="malformed"),  # replayed already
        marker(Kind.CONNECTED),
        Record(Kind.RECEIVED, 4.0, "c"),
        marker(Kind.LOST, frames=3),
        marker(Kind.DISCONNECTED),  # the connection's end, after the recorder's loss
        marker(Kind.CONNECTED),
        marker(Kind.DISCONNECTED, counter="silences"),
    ]
    for record in records:
        assert replay.apply(record) == []
    assert core.calls == [
        "connect",
        "data a",
        "lost bad frame malformed",
        "connect",
        "data c",
        "lost the recording lost 3 frame(s) None",
        "lost closed None",
        "connect",
        "lost closed silences",
    ]
    replay.apply(marker(Kind.CONNECTED))
    with pytest.raises(AuthenticationError):
        replay.apply(Record(Kind.RECEIVED, 5.0, "fatal"))
    assert core.calls[-1] == "fatal"

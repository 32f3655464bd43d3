"""The session core's shared parts: one retry decision per venue, one replay of records."""

from __future__ import annotations

import ast
import inspect
import ssl
import textwrap

import aiohttp
import orjson
import pytest

from marketstreams.book import OrderBook
from marketstreams.exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConnectionLostError,
    FrameTooLargeError,
    MalformedFrameError,
    MarketStreamsError,
    SequenceGapError,
    SilenceError,
    SubscriptionError,
    TLSVerificationError,
    VenueError,
)
from marketstreams.feed import FeedStats
from marketstreams.models import Update
from marketstreams.recording.format import Header, Kind, Record
from marketstreams.session import Loss, RecordReplay
from marketstreams.venues.betfair import feed as betfair_feed
from marketstreams.venues.betfair.errors import LoginError, SessionExpiredError, status_error
from marketstreams.venues.bitmex import feed as bitmex_feed
from marketstreams.venues.luno import feed as luno_feed
from marketstreams.venues.luno.feed import LunoSessionCore
from marketstreams.venues.luno.protocol import OutOfSyncError

GIVE_UP = None


@pytest.mark.parametrize(
    ("exc", "decision"),
    [
        (AuthenticationError("invalid_credentials"), GIVE_UP),
        (ConfigurationError("unknown pair"), GIVE_UP),
        (TLSVerificationError("ws.luno.com:443", "self-signed"), GIVE_UP),
        (RuntimeError("a bug outside the frame path"), GIVE_UP),
        # The same words as a silence, but not one: the type decides, never the message.
        (ConnectionLostError("no frame for 5 s"), Loss("ConnectionLostError: no frame for 5 s")),
        (SilenceError("no frame for 5 s"), Loss("SilenceError: no frame for 5 s", "silences")),
        (VenueError("internal_error"), Loss("VenueError: internal_error", "errors")),
        (SequenceGapError(3, 5), Loss(f"SequenceGapError: {SequenceGapError(3, 5)}", "gaps")),
        (OutOfSyncError("unknown maker"), Loss("OutOfSyncError: unknown maker", "gaps")),
        (FrameTooLargeError("big"), Loss("FrameTooLargeError: big")),
        (aiohttp.ClientConnectionError("reset"), Loss("ClientConnectionError: reset")),
        (OSError("unreachable"), Loss("OSError: unreachable")),
        (TimeoutError("handshake"), Loss("TimeoutError: handshake")),
    ],
    ids=lambda v: type(v).__name__,
)
def test_luno_retry_decision(exc: BaseException, decision: Loss | None) -> None:
    assert luno_feed.retry(exc) == decision
    assert LunoSessionCore.retry(None, exc) == decision  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "decision"),
    [
        (SubscriptionError("400", "unknown table"), GIVE_UP),
        (AuthenticationError("401"), GIVE_UP),
        (ConfigurationError("bad topic"), GIVE_UP),
        (TLSVerificationError("ws.bitmex.com:443", "self-signed"), GIVE_UP),
        (RuntimeError("a bug outside the frame path"), GIVE_UP),
        (SilenceError("silent for 10 s (no pong)"), Loss("silent for 10 s (no pong)", "silences")),
        (ConnectionLostError("silent for 10 s"), Loss("silent for 10 s")),  # type, not words
        (MalformedFrameError("unusable frame"), Loss("unusable frame")),
        (FrameTooLargeError("over 16 MiB"), Loss("over 16 MiB")),
        (aiohttp.ClientConnectionError("reset"), Loss("reset")),
        (OSError("unreachable"), Loss("unreachable")),
        (TimeoutError(), Loss("TimeoutError")),
    ],
    ids=lambda v: type(v).__name__,
)
def test_bitmex_retry_decision(exc: BaseException, decision: Loss | None) -> None:
    assert bitmex_feed.retry(exc) == decision


EXPIRED = SessionExpiredError("INVALID_SESSION_INFORMATION")


@pytest.mark.parametrize(
    ("exc", "can_log_in", "decision"),
    [
        (EXPIRED, False, GIVE_UP),
        (EXPIRED, True, Loss("session expired (INVALID_SESSION_INFORMATION)")),
        (LoginError("INVALID_USERNAME_OR_PASSWORD"), True, GIVE_UP),
        (LoginError("CONNECTION_FAILED"), True, Loss("login failed: CONNECTION_FAILED", "errors")),
        (ssl.SSLCertVerificationError("bad certificate"), True, GIVE_UP),
        (TLSVerificationError("stream-api:443", "self-signed"), True, GIVE_UP),
        (ConfigurationError("no subscription"), False, GIVE_UP),
        (status_error("INVALID_APP_KEY"), True, GIVE_UP),
        (status_error("SUBSCRIPTION_LIMIT_EXCEEDED"), True, GIVE_UP),
        (status_error("TIMEOUT"), False, Loss("BetfairStatusError: TIMEOUT", "errors")),
        (MalformedFrameError("not JSON"), False, Loss("malformed frame: not JSON", "malformed")),
        (SilenceError("silent for 3 intervals"), False, Loss("silent for 3 intervals", "silences")),
        (ConnectionLostError("closed by Betfair"), False, Loss("closed by Betfair")),
        (OSError("reset"), False, Loss("OSError: reset")),
        (TimeoutError("connect"), False, Loss("TimeoutError: connect")),
    ],
    ids=lambda v: v if isinstance(v, bool) else type(v).__name__,
)
def test_betfair_retry_decision(
    exc: BaseException, can_log_in: bool, decision: Loss | None
) -> None:
    assert betfair_feed.retry(exc, can_log_in) == decision


def test_no_retry_rule_reads_an_exception_message() -> None:
    """Each venue's retry decision goes by exception types and codes, never by the words of a
    message: no comparison in it involves a string literal or the text of an exception."""
    for module in (luno_feed, bitmex_feed, betfair_feed):
        tree = ast.parse(textwrap.dedent(inspect.getsource(module.retry)))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            for operand in [node.left, *node.comparators]:
                for part in ast.walk(operand):
                    literal = isinstance(part, ast.Constant) and isinstance(part.value, str)
                    text = isinstance(part, ast.Call) and ast.unparse(part.func) in ("str", "repr")
                    assert not (literal or text), f"{module.__name__}: {ast.unparse(node)}"


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

    def data_to_send(self) -> list[str]:
        return []


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


def test_a_recorded_fatal_end_raises_as_the_live_feed_did() -> None:
    core = Core()
    replay = RecordReplay(core)
    replay.apply(marker(Kind.CONNECTED))
    with pytest.raises(MarketStreamsError, match="the live feed stopped: certificate"):
        replay.apply(marker(Kind.DISCONNECTED, reason="certificate", fatal=True))
    assert core.calls == ["connect", "fatal"]


class BookCore(Core):
    """Every frame changes one book; a loss invalidates it."""

    def __init__(self) -> None:
        super().__init__()
        self.book = OrderBook("toy", "M")

    def on_data(self, data: str | bytes, now: float) -> list[Update]:
        super().on_data(data, now)
        self.book.set_level("bid", float(data), 1.0)
        return [Update(self.book)]

    def on_lost(self, loss: Loss) -> list[Update]:
        super().on_lost(loss)
        self.book.invalidate(loss.reason)
        return [Update(self.book)]


def test_queued_batches_are_handed_on_at_their_recorded_delivery() -> None:
    """A feed with an internal queue (Betfair's) recorded when it handed each batch on: the
    replay holds each batch until then, in order, one batch per delivery."""
    core = BookCore()
    replay = RecordReplay(core, queued=True)
    assert replay.apply(marker(Kind.CONNECTED)) == []
    assert replay.apply(Record(Kind.RECEIVED, 1.0, "10")) == []  # made, not yet handed on
    assert replay.apply(Record(Kind.RECEIVED, 2.0, "11")) == []
    first = replay.apply(marker(Kind.DELIVERED, books=1))
    assert [u.book.market for u in first] == ["M"] and len(first) == 1
    assert replay.apply(marker(Kind.DISCONNECTED, reason="gone")) == []
    assert len(replay.apply(marker(Kind.DELIVERED, books=1))) == 1  # the frame "11"
    [lost] = replay.apply(marker(Kind.DELIVERED, books=1))  # the loss
    assert not lost.book.is_valid
    assert replay.apply(marker(Kind.DELIVERED, books=1)) == []  # nothing left to hand on
    assert core.calls == ["connect", "data 10", "data 11", "lost gone None"]
    # Without a queue, a delivery mark means nothing and updates come at once.
    direct = RecordReplay(BookCore())
    direct.apply(marker(Kind.CONNECTED))
    assert len(direct.apply(Record(Kind.RECEIVED, 1.0, "10"))) == 1
    assert direct.apply(marker(Kind.DELIVERED, books=1)) == []


def test_a_loss_counts_only_in_a_loss_counter() -> None:
    stats = FeedStats()
    for counter in ("gaps", "malformed", "errors", "silences", None, "connects", "__class__"):
        Loss("gone", counter).count(stats)  # a recording's counter is input: checked
    assert stats == FeedStats(gaps=1, malformed=1, errors=1, silences=1)


@pytest.mark.parametrize("login", [False, True])
def test_betfair_replay_retries_an_expired_session_as_its_live_feed_did(login: bool) -> None:
    """The recording says whether the live feed had a login (an expired session was retried)
    or a plain token (it ended the feed): the replay's core decides the same way."""
    header = Header(
        "betfair",
        "tls://127.0.0.1:443",
        [],
        "market0",
        feed={"kind": "market", "subscription": {"op": "marketSubscription"}, "login": login},
    )
    feed = betfair_feed.Feed.from_recording(header)
    feed.replay_record(marker(Kind.CONNECTED))
    feed.replay_record(Record(Kind.RECEIVED_BYTES, 1.0, b'{"op":"connection"}\r\n'))
    expired = (
        b'{"op":"status","id":1,"statusCode":"FAILURE",'
        b'"errorCode":"INVALID_SESSION_INFORMATION","connectionClosed":true}\r\n'
    )
    if not login:
        with pytest.raises(SessionExpiredError):
            feed.replay_record(Record(Kind.RECEIVED_BYTES, 2.0, expired))
        return
    assert feed.replay_record(Record(Kind.RECEIVED_BYTES, 2.0, expired)) == []
    assert not feed.stats.connected
    feed.replay_record(marker(Kind.DISCONNECTED, reason="session expired", counter=None))
    feed.replay_record(marker(Kind.CONNECTED))
    assert feed.stats.connects == 2 and feed.stats.reconnects == 1 and feed.stats.connected

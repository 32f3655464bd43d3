"""The sans-I/O protocol, driven with literal bytes (no sockets)."""

from __future__ import annotations

import orjson
import pytest

from marketstreams.exceptions import (
    AuthenticationError,
    ConfigurationError,
    FrameTooLargeError,
    MalformedFrameError,
    ProtocolError,
    SubscriptionError,
    VenueError,
)
from marketstreams.secret import Secret
from marketstreams.venues.betfair import (
    BetfairAuthenticationError,
    BetfairStatusError,
    ErrorAction,
    LineFramer,
    MarketDataFilter,
    MarketFilter,
    MarketSubscription,
    OrderFilter,
    OrderSubscription,
    SessionExpiredError,
    StreamProtocol,
    SubscriptionState,
    classify_error,
)
from marketstreams.venues.betfair.protocol import (
    Authenticated,
    Change,
    ClockReset,
    Connected,
    StatusFailure,
    Subscribed,
)

APP_KEY = "app-key-123"
SESSION = "session-token-456"


def sent(protocol: StreamProtocol) -> list[dict[str, object]]:
    data = protocol.data_to_send()
    assert data.endswith(b"\r\n") or data == b""
    return [orjson.loads(line) for line in data.split(b"\r\n") if line]


def handshake(state: SubscriptionState | None = None) -> tuple[StreamProtocol, dict[str, object]]:
    state = state or SubscriptionState(MarketSubscription(MarketFilter(market_ids=["1.1"])))
    p = StreamProtocol(APP_KEY, Secret(SESSION), state)
    events = p.receive_data(b'{"op":"connection","connectionId":"c-1"}\r\n')
    assert events == [Connected("c-1")]
    (auth,) = sent(p)
    assert auth == {"op": "authentication", "id": auth["id"], "appKey": APP_KEY, "session": SESSION}
    status = {"op": "status", "id": auth["id"], "statusCode": "SUCCESS", "connectionsAvailable": 9}
    events = p.receive_data(orjson.dumps(status) + b"\r\n")
    assert events == [Authenticated(9)]
    (sub,) = sent(p)
    return p, sub


# -- framing --------------------------------------------------------------------------------


def test_framer_joins_lines_split_anywhere_including_inside_a_utf8_character() -> None:
    payload = '{"op":"mcm","name":"Café Ünïcödé"}\r\n{"op":"x"}\r\n'.encode()
    cut = payload.index("é".encode()) + 1  # between the two bytes of "é"
    framer = LineFramer()
    assert framer.feed(payload[:cut]) == []
    lines = framer.feed(payload[cut:])
    assert [orjson.loads(line) for line in lines] == [
        {"op": "mcm", "name": "Café Ünïcödé"},
        {"op": "x"},
    ]
    assert framer.buffered == 0


def test_framer_handles_megabyte_lines_in_small_reads_and_blank_lines() -> None:
    big = b'{"op":"mcm","pad":"' + b"x" * 1_500_000 + b'"}'
    stream = b"\r\n" + big + b"\r\n\r\n" + b'{"op":"y"}\n'
    framer = LineFramer()
    lines: list[bytes] = []
    for i in range(0, len(stream), 4096):
        lines.extend(framer.feed(stream[i : i + 4096]))
    assert len(lines) == 2
    assert len(orjson.loads(lines[0])["pad"]) == 1_500_000
    assert orjson.loads(lines[1]) == {"op": "y"}


def test_framer_refuses_lines_over_the_limit() -> None:
    framer = LineFramer(max_line=100)
    with pytest.raises(FrameTooLargeError):
        framer.feed(b"x" * 101)
    assert framer.feed(b'{"a":1}\n') == [b'{"a":1}']


# -- handshake, clocks, resubscribe ---------------------------------------------------------


def test_handshake_then_image_then_heartbeat_track_clocks() -> None:
    p, sub = handshake()
    assert sub["op"] == "marketSubscription"
    assert sub["marketFilter"] == {"marketIds": ["1.1"]}
    assert "initialClk" not in sub and "clk" not in sub
    sub_id = sub["id"]
    status = {"op": "status", "id": sub_id, "statusCode": "SUCCESS"}
    assert p.receive_data(orjson.dumps(status) + b"\r\n") == [Subscribed(sub_id, False)]  # type: ignore[arg-type]
    image = {
        "op": "mcm",
        "id": sub_id,
        "initialClk": "I1",
        "clk": "C1",
        "ct": "SUB_IMAGE",
        "heartbeatMs": 500,
        "pt": 1,
        "mc": [{"id": "1.1", "img": True}],
    }
    heartbeat = {"op": "mcm", "id": sub_id, "clk": "C2", "ct": "HEARTBEAT", "pt": 2}
    events = p.receive_data(orjson.dumps(image) + b"\r\n" + orjson.dumps(heartbeat) + b"\r\n")
    assert [type(e) for e in events] == [Change, Change]
    assert isinstance(events[0], Change) and events[0].change_type == "SUB_IMAGE"
    assert events[0].message["mc"] == [{"id": "1.1", "img": True}]
    assert (p.state.initial_clk, p.state.clk, p.state.heartbeat_ms) == ("I1", "C2", 500)


def test_reconnect_resubscribes_with_stored_clocks_and_drops_old_ids() -> None:
    state = SubscriptionState(OrderSubscription(OrderFilter(include_overall_position=False)))
    state.initial_clk, state.clk = "I9", "C9"
    p, sub = handshake(state)
    assert sub["op"] == "orderSubscription"
    assert (sub["initialClk"], sub["clk"]) == ("I9", "C9")
    assert sub["orderFilter"] == {"includeOverallPosition": False}
    old = {"op": "ocm", "id": 1, "clk": "OLD", "oc": [{"id": "1.1"}]}
    assert p.receive_data(orjson.dumps(old) + b"\r\n") == []
    assert state.stale_ids == 1 and state.clk == "C9"
    resub = {"op": "ocm", "id": sub["id"], "ct": "RESUB_DELTA", "clk": "C10", "oc": []}
    (event,) = p.receive_data(orjson.dumps(resub) + b"\r\n")
    assert isinstance(event, Change) and event.change_type == "RESUB_DELTA"
    assert state.clk == "C10" and state.initial_clk == "I9" and state.resubscribes == 1


def test_invalid_clock_forgets_clocks_and_resubscribes_for_an_image() -> None:
    state = SubscriptionState(MarketSubscription())
    state.initial_clk, state.clk = "I", "C"
    p, sub = handshake(state)
    failure = {
        "op": "status",
        "id": sub["id"],
        "statusCode": "FAILURE",
        "errorCode": "INVALID_CLOCK",
        "connectionClosed": False,
    }
    assert p.receive_data(orjson.dumps(failure) + b"\r\n") == [ClockReset()]
    (again,) = sent(p)
    assert again["op"] == "marketSubscription" and "clk" not in again
    assert again["id"] != sub["id"]
    assert state.initial_clk is None and state.clock_resets == 1


def test_segments_are_buffered_and_joined() -> None:
    p, sub = handshake()
    sid = sub["id"]
    parts = [
        {
            "op": "mcm",
            "id": sid,
            "ct": "SUB_IMAGE",
            "segmentType": "SEG_START",
            "initialClk": "I",
            "clk": "A",
            "mc": [{"id": "1.1"}],
        },
        {"op": "mcm", "id": sid, "segmentType": "SEG", "clk": "B", "mc": [{"id": "1.2"}]},
        {
            "op": "mcm",
            "id": sid,
            "segmentType": "SEG_END",
            "clk": "C",
            "pt": 9,
            "mc": [{"id": "1.3"}],
        },
    ]
    assert p.receive_data(orjson.dumps(parts[0]) + b"\r\n") == []
    assert p.state.clk is None  # clocks only move once the whole message is in
    assert p.receive_data(orjson.dumps(parts[1]) + b"\r\n") == []
    (event,) = p.receive_data(orjson.dumps(parts[2]) + b"\r\n")
    assert isinstance(event, Change)
    assert event.change_type == "SUB_IMAGE"
    assert [mc["id"] for mc in event.message["mc"]] == ["1.1", "1.2", "1.3"]
    assert "segmentType" not in event.message and event.message["pt"] == 9
    assert p.state.clk == "C"


def test_seg_without_start_is_a_protocol_error() -> None:
    p, sub = handshake()
    with pytest.raises(ProtocolError):
        p.receive_data(
            orjson.dumps({"op": "mcm", "id": sub["id"], "segmentType": "SEG_END"}) + b"\n"
        )


# -- failures -------------------------------------------------------------------------------


def fail(code: str, closed: bool, phase: str = "auth") -> BaseException:
    state = SubscriptionState(MarketSubscription())
    p = StreamProtocol(APP_KEY, SESSION, state)
    p.receive_data(b'{"op":"connection","connectionId":"c"}\r\n')
    (auth,) = sent(p)
    mid = auth["id"]
    if phase == "sub":
        ok = {"op": "status", "id": mid, "statusCode": "SUCCESS"}
        p.receive_data(orjson.dumps(ok) + b"\r\n")
        mid = sent(p)[0]["id"]
    status = {
        "op": "status",
        "id": mid,
        "statusCode": "FAILURE",
        "errorCode": code,
        "errorMessage": "nope",
        "connectionClosed": closed,
    }
    with pytest.raises(VenueError) as info:
        p.receive_data(orjson.dumps(status) + b"\r\n")
    return info.value


def test_bad_app_key_is_a_fatal_authentication_error() -> None:
    error = fail("INVALID_APP_KEY", True)
    assert isinstance(error, BetfairAuthenticationError) and isinstance(error, AuthenticationError)
    assert error.action is ErrorAction.FATAL and error.code == "INVALID_APP_KEY"


def test_expired_session_asks_for_a_new_login() -> None:
    error = fail("INVALID_SESSION_INFORMATION", True)
    assert isinstance(error, SessionExpiredError) and error.action is ErrorAction.RELOGIN


def test_timeout_and_subscription_failures() -> None:
    error = fail("TIMEOUT", True)
    assert isinstance(error, BetfairStatusError) and error.action is ErrorAction.RETRY
    error = fail("SUBSCRIPTION_LIMIT_EXCEEDED", False, phase="sub")
    assert isinstance(error, SubscriptionError)
    error = fail("TOO_MANY_REQUESTS", False, phase="sub")
    assert isinstance(error, BetfairStatusError)


def test_failure_on_a_heartbeat_leaves_the_connection_open() -> None:
    p, _sub = handshake()
    p.send_heartbeat()
    (hb,) = sent(p)
    assert hb["op"] == "heartbeat"
    status = {
        "op": "status",
        "id": hb["id"],
        "statusCode": "FAILURE",
        "errorCode": "UNEXPECTED_ERROR",
        "connectionClosed": False,
    }
    (event,) = p.receive_data(orjson.dumps(status) + b"\r\n")
    assert isinstance(event, StatusFailure) and isinstance(event.error, BetfairStatusError)


def test_garbage_line_is_a_malformed_frame_with_an_excerpt() -> None:
    p, _ = handshake()
    with pytest.raises(MalformedFrameError) as info:
        p.receive_data(b"\x00garbage{{\r\n")
    assert info.value.frame is not None and "garbage" in info.value.frame


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("NO_APP_KEY", ErrorAction.FATAL),
        ("INVALID_APP_KEY", ErrorAction.FATAL),
        ("NOT_AUTHORIZED", ErrorAction.FATAL),
        ("INVALID_INPUT", ErrorAction.FATAL),
        ("INVALID_REQUEST", ErrorAction.FATAL),
        ("SUBSCRIPTION_LIMIT_EXCEEDED", ErrorAction.FATAL),
        ("NO_SESSION", ErrorAction.RELOGIN),
        ("INVALID_SESSION_INFORMATION", ErrorAction.RELOGIN),
        ("INVALID_CLOCK", ErrorAction.RESET_CLOCK),
        ("UNEXPECTED_ERROR", ErrorAction.RETRY),
        ("TIMEOUT", ErrorAction.RETRY),
        ("CONNECTION_FAILED", ErrorAction.RETRY),
        ("MAX_CONNECTION_LIMIT_EXCEEDED", ErrorAction.RETRY),
        ("TOO_MANY_REQUESTS", ErrorAction.RETRY),
        ("SOMETHING_NEW", ErrorAction.RETRY),
    ],
)
def test_every_error_code_is_classified(code: str, action: ErrorAction) -> None:
    assert classify_error(code) is action


def test_secrets_never_appear_in_reprs_or_errors() -> None:
    p, _ = handshake()
    error = fail("INVALID_SESSION_INFORMATION", True)
    for text in (repr(p), str(p), repr(p.state), str(error), repr(error)):
        assert APP_KEY not in text and SESSION not in text


# -- subscriptions --------------------------------------------------------------------------


def test_market_subscription_carries_every_filter_field() -> None:
    sub = MarketSubscription(
        MarketFilter(
            market_ids=["1.1"],
            event_type_ids=["7"],
            event_ids=["9"],
            country_codes=["GB"],
            market_types=["WIN"],
            venues=["Ascot"],
            betting_types=["ODDS"],
            race_types=["Flat"],
            bsp_market=True,
            turn_in_play_enabled=False,
        ),
        MarketDataFilter(fields=["EX_BEST_OFFERS", "EX_MARKET_DEF"], ladder_levels=3),
        conflate_ms=100,
        heartbeat_ms=500,
        segmentation_enabled=False,
    )
    msg = sub.to_message(5, "I", "C")
    assert msg["marketFilter"] == {
        "marketIds": ["1.1"],
        "eventTypeIds": ["7"],
        "eventIds": ["9"],
        "countryCodes": ["GB"],
        "marketTypes": ["WIN"],
        "venues": ["Ascot"],
        "bettingTypes": ["ODDS"],
        "raceTypes": ["Flat"],
        "bspMarket": True,
        "turnInPlayEnabled": False,
    }
    assert msg["marketDataFilter"] == {
        "fields": ["EX_BEST_OFFERS", "EX_MARKET_DEF"],
        "ladderLevels": 3,
    }
    assert (msg["id"], msg["initialClk"], msg["clk"]) == (5, "I", "C")
    assert (msg["conflateMs"], msg["heartbeatMs"], msg["segmentationEnabled"]) == (100, 500, False)
    order = OrderSubscription(
        OrderFilter(True, ["s1"], True), conflate_ms=0, heartbeat_ms=5000
    ).to_message(6)
    assert order["orderFilter"] == {
        "includeOverallPosition": True,
        "customerStrategyRefs": ["s1"],
        "partitionMatchedByStrategyRef": True,
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: MarketDataFilter(fields=["EX_NOPE"]),
        lambda: MarketDataFilter(ladder_levels=11),
        lambda: MarketSubscription(heartbeat_ms=100),
        lambda: MarketSubscription(conflate_ms=200_000),
        lambda: OrderSubscription(heartbeat_ms=6000),
        lambda: MarketFilter(betting_types=["BINGO"]),
    ],
)
def test_out_of_range_subscriptions_are_refused(make: object) -> None:
    with pytest.raises(ConfigurationError):
        make()  # type: ignore[operator]

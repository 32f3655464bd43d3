"""Pure functions: topics, commands, signatures, timestamps, trade rows."""

from __future__ import annotations

import orjson
import pytest

from marketstreams.exceptions import MalformedFrameError
from marketstreams.venues.bitmex.parse import (
    auth_args,
    command,
    decode,
    make_topic,
    signature,
    split_topic,
    timestamp_ms,
    trade_from_row,
)

# BitMEX's published API-key example (apiKeysUsage page).
DOC_SECRET = "chNOOS4KvNXR_Xq4k4c9qsfoKWvnDecLATCRlcBwyKDYnWgO"


def test_topics_round_trip() -> None:
    assert make_topic("orderBookL2", "XBTUSD") == "orderBookL2:XBTUSD"
    assert make_topic("instrument") == "instrument"
    assert split_topic("orderBookL2:XBTUSD") == ("orderBookL2", "XBTUSD")
    assert split_topic("trade") == ("trade", None)
    with pytest.raises(ValueError):
        split_topic(":XBTUSD")


def test_signature_matches_bitmex_documented_examples() -> None:
    assert (
        signature(DOC_SECRET, "GET", "/api/v1/instrument", 1518064236)
        == "c7682d435d0cfe87c16098df34ef2eb5a549d4c5a3c2b1f0f77b8af73423bf00"
    )
    body = '{"symbol":"XBTM15","price":219.0,"clOrdID":"mm_bitmex_1a/oemUeQ4CAJZgP3fjHsA","orderQty":98}'
    assert (
        signature(DOC_SECRET, "POST", "/api/v1/order", 1518064238, body)
        == "1749cd2ccae4aa49048ae09f0b95110cee706e0944e6a14ad0b3a8cb45bd336b"
    )


def test_auth_args_sign_get_realtime() -> None:
    key, expires, sig = auth_args("KEY", DOC_SECRET, 1700000000)
    assert (key, expires) == ("KEY", 1700000000)
    assert sig == signature(DOC_SECRET, "GET", "/realtime", 1700000000)


def test_command_is_compact_json() -> None:
    assert orjson.loads(command("subscribe", ["trade:XBTUSD"])) == {
        "op": "subscribe",
        "args": ["trade:XBTUSD"],
    }
    assert orjson.loads(command("help")) == {"op": "help"}


def test_decode_rejects_non_json_with_excerpt() -> None:
    with pytest.raises(MalformedFrameError) as info:
        decode("{not json" + "x" * 500)
    assert info.value.frame is not None
    assert info.value.frame.startswith("{not json")
    assert len(info.value.frame) < 300


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-11-24T08:26:22.356Z", 1732436782356),
        ("2021-07-22T22:36:07.865Z", 1626993367865),
        ("2020-10-12T16:46:00.000Z", 1602521160000),
        ("2020-10-12T16:46:00Z", 1602521160000),
        (None, None),
        ("garbage", None),
    ],
)
def test_timestamp_ms(text: str | None, expected: int | None) -> None:
    assert timestamp_ms(text) == expected


def test_trade_from_2024_row(nautilus_row: object) -> None:
    row = nautilus_row("nautilus_ws_trade_row_2024.json")  # type: ignore[operator]
    trade = trade_from_row(row)
    assert trade.venue == "bitmex"
    assert trade.market == "XBTUSD"
    assert trade.type == "sell"
    assert trade.price == 98570.9
    assert trade.base == 100
    assert trade.counter == 100.0
    assert trade.id == "00000000-006d-1000-0000-000e8737d536"
    assert trade.timestamp == 1732436138704
    assert trade["price"] == 98570.9

"""The BitMEX mock's trade rows carry the values the real venue sends (issue 15)."""

from __future__ import annotations

import asyncio
import re

import orjson
from websockets.asyncio.client import connect

from mock_servers.bitmex import MockBitmexServer, trade_values
from tests.conftest import shared_data

GUARD = 20.0
SATOSHIS = 100_000_000


def test_real_xbtusd_trades_are_in_satoshis() -> None:
    # The relation the mock must follow, checked on real rows first.
    text = shared_data("bitmex", "cryptofeed_BITMEX.ws.1.0").read_text()
    rows = [
        row
        for match in re.finditer(r'\{"table":"trade","action":"insert","data":\[.*?\]\}', text)
        for row in orjson.loads(match.group(0))["data"]
        if row["symbol"] == "XBTUSD"
    ]
    rows.append(orjson.loads(shared_data("bitmex", "nautilus_ws_trade_row_2024.json").read_bytes()))
    assert len(rows) >= 5
    for row in rows:
        assert row["grossValue"] == round(row["homeNotional"] * SATOSHIS)
        assert row["foreignNotional"] == row["size"]
        # size / price XBT, in satoshis (BitMEX rounds per fill: a few satoshis either way)
        assert (
            abs(row["grossValue"] - row["size"] * SATOSHIS / row["price"])
            <= 0.001 * row["grossValue"] + 2
        )
    # The 2024 row, exactly as the mock computes it.
    real = rows[-1]
    assert trade_values("XBTUSD", real["size"], real["price"]) == {
        key: real[key] for key in ("grossValue", "homeNotional", "foreignNotional")
    }


async def test_mock_xbtusd_trades_gross_value_in_satoshis() -> None:
    async with (
        MockBitmexServer(["XBTUSD", "ETHUSD"], interval=None, seed=3) as server,
        # max_queue=None: unread messages never pause reading, so the close handshake is quick
        connect(server.url, max_queue=None) as ws,
    ):
        await ws.send(orjson.dumps({"op": "subscribe", "args": ["trade"]}).decode())
        trades: list[dict[str, object]] = []
        async with asyncio.timeout(GUARD):
            while len(trades) < 40:
                message = orjson.loads(await ws.recv())
                if message.get("table") == "trade" and message.get("action") == "insert":
                    trades.extend(message["data"])
                elif message.get("subscribe") == "trade":
                    server.step(400)  # subscribed: trades from now on reach us
    xbt = [t for t in trades if t["symbol"] == "XBTUSD"]
    eth = [t for t in trades if t["symbol"] == "ETHUSD"]
    assert xbt and eth
    for t in xbt:
        size, price, gross = t["size"], t["price"], t["grossValue"]
        assert isinstance(size, int) and isinstance(price, float) and isinstance(gross, int)
        assert gross == round(size * SATOSHIS / price)
        assert gross == round(t["homeNotional"] * SATOSHIS)  # type: ignore[operator]
        assert t["foreignNotional"] == size
    for t in eth:  # quanto: size x price x 100 satoshis
        assert t["grossValue"] == round(t["size"] * t["price"] * 100)  # type: ignore[operator]

"""``marketstreams proxy``: markets and config files, credentials that never show, and the command
itself against a mock venue with a token."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest

from marketstreams import ConfigurationError, Secret
from marketstreams.proxy.config import build_feeds, load_config, parse_markets
from mock_servers.luno import LunoMockServer

from .conftest import GUARD


def test_markets_from_the_command_line_group_by_venue() -> None:
    specs = parse_markets(["luno:XBTZAR", "LUNO:ETHZAR", "bitmex:XBTUSD,ETHUSD", "luno:XBTZAR"])
    assert [(s.venue, s.markets) for s in specs] == [
        ("luno", ["XBTZAR", "ETHZAR"]),
        ("bitmex", ["XBTUSD", "ETHUSD"]),
    ]
    for bad in ("XBTZAR", "luno:", "nasdaq:AAPL"):
        with pytest.raises(ConfigurationError):
            parse_markets([bad])


def test_config_file_reads_secrets_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(
        """
port = 9001
depth = 5
app = true
token_env = "MY_PROXY_TOKEN"

[limits]
max_pending_seconds = 3.5

[venues.luno]
markets = ["XBTZAR"]
api_key_env = "MY_LUNO_KEY"
api_secret_env = "MY_LUNO_SECRET"
url = "ws://127.0.0.1:1"
"""
    )
    env = {"MY_PROXY_TOKEN": "t-123", "MY_LUNO_KEY": "key-1", "MY_LUNO_SECRET": "hunter2"}
    config = load_config(path, env)
    assert (config.port, config.depth, config.app) == (9001, 5, True)
    assert config.limits.max_pending_seconds == 3.5
    assert config.token == Secret("t-123")
    spec = config.venues[0]
    assert isinstance(spec.options["api_secret"], Secret)
    assert "hunter2" not in repr(spec) and "key-1" not in repr(spec)
    (feed,) = build_feeds(config.venues, env)
    assert feed.venue == "luno" and "hunter2" not in repr(feed)

    with pytest.raises(ConfigurationError, match="MY_LUNO_SECRET") as info:
        load_config(path, {"MY_PROXY_TOKEN": "t-123", "MY_LUNO_KEY": "key-1"})
    assert "key-1" not in str(info.value)


def test_bad_config_files_are_configuration_errors(tmp_path: Path) -> None:
    cases = {
        "not toml": "port = = 1",
        "unknown setting": "colour = 'blue'",
        "unknown venue": "[venues.nasdaq]\nmarkets = ['AAPL']",
        "bad limits": "[limits]\nmax_bananas = 1",
        "bad markets": "[venues.luno]\nmarkets = 3",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        with pytest.raises(ConfigurationError):
            load_config(path, {})
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "missing.toml", {})


def test_feeds_for_every_venue() -> None:
    env = {"BETFAIR_APP_KEY": "app", "BETFAIR_SESSION_TOKEN": "sess"}
    specs = parse_markets(["bitmex:XBTUSD,ETHUSD", "betfair:1.23,1.24"])
    bitmex, betfair = build_feeds(specs, env)
    assert bitmex.venue == "bitmex" and betfair.venue == "betfair"
    assert set(bitmex.topics) == {  # type: ignore[attr-defined]
        "orderBookL2_25:XBTUSD",
        "orderBookL2_25:ETHUSD",
        "trade:XBTUSD",
        "trade:ETHUSD",
    }
    subscription = betfair.subscriptions[0]  # type: ignore[attr-defined]
    assert list(subscription.market_filter.market_ids) == ["1.23", "1.24"]
    assert "sess" not in repr(betfair) and "app" not in repr(betfair).replace("app_", "")
    with pytest.raises(ConfigurationError, match="app key"):
        build_feeds(parse_markets(["betfair:1.23"]), {})
    with pytest.raises(ConfigurationError, match="session token"):
        build_feeds(parse_markets(["betfair:1.23"]), {"BETFAIR_APP_KEY": "app"})


async def test_the_proxy_command_serves_a_venue_and_wants_its_token(tmp_path: Path) -> None:
    token = "cli-token-8c1d"
    async with LunoMockServer(pairs=("XBTZAR",), rate=50.0) as venue:
        config = tmp_path / "proxy.toml"
        config.write_text(
            f'depth = 4\ntoken_env = "T_ENV"\n[venues.luno]\nmarkets = ["XBTZAR"]\nurl = "{venue.url}"\n'
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "marketstreams.cli",
            "-v",
            "proxy",
            "--config",
            str(config),
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "T_ENV": token},
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), GUARD)).decode()
            match = re.search(r"ws://127\.0\.0\.1:\d+/ws", line)
            assert match, line
            url = match.group(0)
            async with aiohttp.ClientSession() as session:
                with pytest.raises(aiohttp.WSServerHandshakeError):
                    await session.ws_connect(url)
                async with session.ws_connect(
                    url, headers={"Authorization": f"Bearer {token}"}
                ) as ws:
                    snapshot = None
                    async with asyncio.timeout(GUARD):
                        while snapshot is None:  # the book is listed once its feed has it
                            for m in orjson.loads((await ws.receive()).data):
                                if m["type"] == "books" and "luno:XBTZAR" in [
                                    b["book"] for b in m["books"]
                                ]:
                                    await ws.send_str(
                                        '{"op": "subscribe", "books": ["luno:XBTZAR"]}'
                                    )
                                elif m["type"] == "snapshot":
                                    snapshot = m
            assert snapshot["valid"] and len(snapshot["bids"]) == 4
        finally:
            proc.terminate()
            out, err = await proc.communicate()
    assert token not in (line + out.decode() + err.decode())

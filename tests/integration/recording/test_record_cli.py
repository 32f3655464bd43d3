"""``marketstreams record`` and ``marketstreams replay`` as a user runs them: real processes."""

from __future__ import annotations

import asyncio
import gzip
import signal
import sys
from pathlib import Path

import orjson

from marketstreams.recording import find_recordings, read_records
from marketstreams.sources import discover
from mock_servers.betfair import BetfairMockServer
from mock_servers.bitmex import BitmexMockServer
from mock_servers.luno import LunoMockServer

from ..clirun import acli as cli
from .conftest import HANG_GUARD, recording_bytes


def only_recording(folder: Path) -> bytes:
    [path] = list(folder.rglob("*.msrec.gz"))
    return gzip.decompress(path.read_bytes())


def historical_files(folder: Path) -> list[Path]:
    return list((folder / "betfair-historical").rglob("*.mcm.gz"))


async def test_record_luno_then_replay_at_ten_times_the_pace(tmp_path: Path) -> None:
    env = {"LUNO_API_KEY": "cli-key-id-77", "LUNO_API_SECRET": "cli-secret-77"}
    async with LunoMockServer(
        pairs=("XBTZAR", "ETHZAR"),
        orders=200,
        rate=100.0,
        credentials={"cli-key-id-77": "cli-secret-77"},
    ) as server:
        code, out, err = await cli(
            "record", "luno", "XBTZAR", "ETHZAR", "--url", server.url,
            "--out", str(tmp_path), "--duration", "1.5", env=env,
        )  # fmt: skip
    assert code == 0, err
    assert "record: frames=" in out
    groups, _ = find_recordings(discover(tmp_path))
    assert sorted(g[0].header.subscriptions[0] for g in groups) == ["ETHZAR", "XBTZAR"]
    raw = recording_bytes(tmp_path)
    assert b"cli-key-id-77" not in raw and b"cli-secret-77" not in raw

    code, out, err = await cli("replay", str(tmp_path), "--speed", "10", "--json")
    assert code == 0, err
    summary = orjson.loads(out.splitlines()[0])
    assert summary["files"] == 2 and summary["errors"] == [] and summary["updates"] > 10
    assert summary["markets"] == 2


async def test_sigterm_finishes_the_files(tmp_path: Path) -> None:
    async with BitmexMockServer(["XBTUSD"], interval=0.01) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "marketstreams.cli", "record", "bitmex", "XBTUSD",
            "--url", server.url, "--out", str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(HANG_GUARD):
            await server.wait_for_command(lambda c: c.get("args") == ["trade:XBTUSD"])
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(HANG_GUARD):
            _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    data = only_recording(tmp_path)  # a whole gzip stream: the file was finished
    assert data.startswith(b"MSREC 2 ")
    [group] = find_recordings(discover(tmp_path))[0]
    sent = [r.data for r in read_records(group[0].source) if r.kind == "S"]
    assert '{"op":"subscribe","args":["orderBookL2:XBTUSD"]}' in sent


async def test_record_betfair_markets_and_orders(tmp_path: Path) -> None:
    async with BetfairMockServer(rate=500.0, seed=3) as server:
        ep = server.endpoint()
        code, _, err = await cli(
            "record", "betfair", "--event-type-ids", "7", "--orders",
            "--url", f"{ep.host}:{ep.port}", "--ca-file", ep.ca_path,
            "--out", str(tmp_path), "--duration", "1.5",
            env={"BETFAIR_APP_KEY": ep.app_key, "BETFAIR_SESSION_TOKEN": ep.session},
        )  # fmt: skip
    assert code == 0, err
    groups, _ = find_recordings(discover(tmp_path))
    assert sorted(g[0].header.feed["kind"] for g in groups) == ["market", "order"]
    assert historical_files(tmp_path)
    raw = recording_bytes(tmp_path)
    assert ep.app_key.encode() not in raw and ep.session.encode() not in raw


async def test_record_betfair_with_a_certificate_login(tmp_path: Path) -> None:
    async with BetfairMockServer(rate=500.0, seed=4) as server:
        ep = server.endpoint()
        code, out, err = await cli(
            "record", "betfair", "--event-type-ids", "7",
            "--url", f"{ep.host}:{ep.port}", "--ca-file", ep.ca_path,
            "--identity-url", ep.login_url, "--out", str(tmp_path), "--duration", "1.5",
            env={
                "BETFAIR_APP_KEY": ep.app_key,
                "BETFAIR_USERNAME": "mock-user",
                "BETFAIR_PASSWORD": "mock-password",
            },
        )  # fmt: skip
        assert server.login_attempts == 1  # the feed logged in by itself, once
        tokens = set(server.sessions)
    assert code == 0, err
    groups, _ = find_recordings(discover(tmp_path))
    assert [g[0].header.feed["kind"] for g in groups] == ["market"]
    raw = recording_bytes(tmp_path)
    assert b"mock-password" not in raw and ep.app_key.encode() not in raw
    assert tokens and not any(t.encode() in raw for t in tokens)
    assert "mock-password" not in out + err


async def test_record_refuses_a_betfair_run_without_credentials(tmp_path: Path) -> None:
    env = {"BETFAIR_APP_KEY": "", "BETFAIR_SESSION_TOKEN": ""}
    code, _, err = await cli("record", "betfair", "1.23", "--out", str(tmp_path), env=env)
    assert code == 2 and "BETFAIR_APP_KEY" in err
    env = {"BETFAIR_APP_KEY": "k", "BETFAIR_USERNAME": "someone"}  # no token, no password
    code, _, err = await cli("record", "betfair", "1.23", "--out", str(tmp_path), env=env)
    assert code == 2 and "BETFAIR_SESSION_TOKEN" in err and "BETFAIR_PASSWORD" in err
    env = {"BETFAIR_APP_KEY": "k", "BETFAIR_USERNAME": "u", "BETFAIR_PASSWORD": "pw-9931"}
    missing = str(tmp_path / "nope.crt")
    code, _, err = await cli(
        "record", "betfair", "1.23", "--cert-file", missing, "--out", str(tmp_path), env=env
    )  # fmt: skip
    assert code == 2 and "nope.crt" in err and "Traceback" not in err and "pw-9931" not in err

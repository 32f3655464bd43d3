"""The command line as a user runs it: real processes, real ports."""

from __future__ import annotations

import asyncio
import re
import socket
import sys

import aiohttp
import pytest

from .clirun import run_cli


def test_demo_exits_zero_with_counts() -> None:
    result = run_cli("demo", "--duration", "4")
    assert result.returncode == 0, result.stderr[-2000:]
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"demo: ((?:\w+=\d+ ?)+)", last)
    assert match, last
    counts = dict(part.split("=") for part in match.group(1).split())
    assert int(counts["luno"]) > 0
    assert int(counts["paper_orders"]) > 0  # one paper strategy per venue placed orders


async def test_mock_luno_runs_alone_and_serves() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "marketstreams.cli",
        "mock",
        "luno",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = re.search(r"ws://127\.0\.0\.1:\d+", line)
        assert url, line
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{url.group(0)}/api/1/stream/XBTZAR") as ws,
        ):
            await ws.send_str("{}")
            snapshot = await ws.receive_json(timeout=30)
            assert "bids" in snapshot and "asks" in snapshot and "sequence" in snapshot
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.parametrize("venue", ["luno", "bitmex", "betfair"])
def test_mock_on_a_taken_port_says_so_in_one_line(venue: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("mock", venue, "--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{venue} mock: ") and str(port) in lines[0]
    assert "in use" in lines[0]

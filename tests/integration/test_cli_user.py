"""The command line as a new user meets it (issue 14): every case runs the real command.

Each case asserts the exit code, that stderr holds no traceback, and the one-line message; a
``--json`` output is parsed whole. Nothing here asserts on time except through what the command
itself reports (replay's ``seconds``), and every wait has a generous hang guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from marketstreams import replay
from marketstreams.demo import run_demo
from marketstreams.recording import find_recordings, read_records
from marketstreams.sources import discover
from mock_servers.betfair import BetfairMockServer
from mock_servers.luno import LunoMockServer
from tests.conftest import read_pty, shared_data

from .clirun import HANG_GUARD, acli, run_cli

LUNO_ENV = {"LUNO_API_KEY": "user-key-id", "LUNO_API_SECRET": "user-secret"}
CREDENTIALS = {"user-key-id": "user-secret"}
COMMANDS = ("demo", "proxy", "mock", "record", "replay")


def one_line(err: str) -> str:
    """The whole of stderr, which must be one line without a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# -- --help --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("demo", ["--duration", "--port", "--open", "--no-viewer"]),
        ("proxy", ["--config", "--url", "--ca-file", "--host", "--port", "--app", "--token"]),
        ("mock", ["luno", "bitmex", "betfair"]),
        ("record", ["--out", "--url", "--duration", "--rotate-mb", "--ca-file", "--orders"]),
        ("replay", ["--workers", "--json", "--strict", "--speed", "--market-ids", "--inplay"]),
    ],
)
def test_help_lists_every_option_with_a_line(command: str, options: list[str]) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0 and result.stderr == ""
    text = result.stdout
    assert "exit status:" in text
    for option in options:
        # each option starts a line of the option list, with its help on that line or the next
        assert re.search(rf"^\s+{re.escape(option)}\b", text, re.M), (option, text)
    if command == "record":
        assert "{luno,bitmex,betfair}" in text
    if command == "replay":
        assert "Replay Betfair historical files" in text and "``" not in text  # not a docstring


@pytest.mark.parametrize(("venue", "option"), [("luno", "--pairs"), ("betfair", "--app-key")])
def test_mock_venue_help_is_the_mock_servers_own(venue: str, option: str) -> None:
    result = run_cli("mock", venue, "--help")
    assert result.returncode == 0, result.stderr
    assert f"marketstreams mock {venue}" in result.stdout and option in result.stdout


def test_top_level_help_names_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", result.stdout, re.M), command
    assert re.search(r"record\s+record luno, bitmex, betfair", result.stdout)


# -- bad input: one line, a documented exit code ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["replay", "/nonexistent/data"], 2, "no such replay source"),
        (["replay", ".", "--speed", "0"], 2, "--speed must be positive"),
        (["replay", ".", "--workers", "0"], 2, "--workers must be at least 1"),
        (["replay", ".", "--speed", "1e-300"], 2, "--speed must be at least 0.001"),
        (["record", "betfair", "1.2", "--url", "h:abc", "--out", "x"], 2, "HOST:PORT, not 'h:abc'"),
        (["replay", ".", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["record", "kraken", "X", "--out", "x"], 2, "invalid choice: 'kraken'"),
        (["record", "luno", "--out", "x"], 2, "name at least one luno market"),
        (["proxy"], 2, "give markets"),
        (["proxy", "luno"], 2, "a market is 'venue:market'"),
        (["proxy", "luno:XBTZAR", "--url", "luno"], 2, "--url takes VENUE=VALUE"),
        (["proxy", "luno:XBTZAR", "--url", "bitmex=ws://x"], 2, "which has no markets"),
        (["proxy", "--config", "/nonexistent.toml"], 2, "cannot read /nonexistent.toml"),
        (["mock"], 2, "required: VENUE"),
        (["mock", "luno", "--port", "99999"], 1, "port must be 0-65535"),
        (["proxy", "luno:XBTZAR", "--port", "99999"], 2, "a port is 0-65535, not 99999"),
        (["demo", "--port", "-1"], 2, "a port is 0-65535, not -1"),
        (["proxy", "luno:XBTZAR", "--depth", "0"], 2, "--depth: must be at least 1, not 0"),
        (["proxy", "betfair:1.2", "--ca-file", "betfair=/nonexistent"], 2, "CA file /nonexist"),
        (["record", "betfair", "1.2", "--ca-file", "/nonexistent", "--out", "x"], 2, "CA file"),
    ],
)
def test_bad_input_is_one_line(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    betfair = {"BETFAIR_APP_KEY": "k", "BETFAIR_SESSION_TOKEN": "s"}
    args = [str(tmp_path / "x") if a == "x" else a for a in args]
    result = run_cli(*args, env=betfair)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1], result.stderr


def test_a_file_without_one_valid_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\nnot json either\n{broken\n")
    result = run_cli("replay", str(tmp_path / "notes.txt"), "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    [error] = [line for line in lines if "none of its" in line]  # said once, not logged again
    assert re.fullmatch(
        r"marketstreams replay: error: .*notes\.txt: none of its 3 lines is valid", error
    ), result.stderr
    assert lines[-1].startswith("replay: files=1 markets=0")
    summary = orjson.loads(result.stdout)
    assert summary["markets"] == 0 and len(summary["errors"]) == 1


def test_replay_json_is_one_document_on_stdout() -> None:
    result = run_cli("replay", str(shared_data("betfair", "historic", "1.200806927")), "--json")
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)  # the whole of stdout
    assert summary["files"] == 1 and summary["updates"] > 0
    assert re.fullmatch(r"replay: files=1 markets=\d+ updates=\d+ seconds=[\d.]+\n", result.stderr)


# -- TLS verification: one line naming the host, the cause and --ca-file -----------------------

BETFAIR_TLS = re.compile(
    r"cannot verify the TLS certificate of 127\.0\.0\.1:(\d+): .*local issuer.*; "
    r"trust its CA with --ca-file"
)


async def test_record_betfair_without_its_ca_is_one_line_and_leaves_no_files(
    tmp_path: Path,
) -> None:
    async with BetfairMockServer(rate=50.0) as server:
        ep = server.endpoint()
        code, out, err = await acli(
            "record", "betfair", "--event-type-ids", "7", "--url", f"{ep.host}:{ep.port}",
            "--out", str(tmp_path), "--duration", "30",
            env={"BETFAIR_APP_KEY": ep.app_key, "BETFAIR_SESSION_TOKEN": ep.session},
        )  # fmt: skip
    assert code == 1
    match = BETFAIR_TLS.search(one_line(err))
    assert match and int(match.group(1)) == ep.port, err
    assert "record: frames=" in out and "files=0" in out
    assert list(discover(tmp_path)) == []  # the empty files removed


@pytest.mark.parametrize("how", ["command line", "config file"])
async def test_proxy_betfair_without_its_ca_is_one_line(how: str, tmp_path: Path) -> None:
    async with BetfairMockServer(rate=50.0) as server:
        ep = server.endpoint()
        if how == "config file":
            config = tmp_path / "proxy.toml"
            config.write_text(
                f'port = 0\n[venues.betfair]\nmarkets = ["1.900000001"]\n'
                f'url = "{ep.host}:{ep.port}"\n'
            )
            args = ["--config", str(config)]
        else:
            args = ["betfair:1.900000001", "--url", f"betfair={ep.host}:{ep.port}", "--port", "0"]
        code, _, err = await acli(
            "proxy",
            *args,
            env={"BETFAIR_APP_KEY": ep.app_key, "BETFAIR_SESSION_TOKEN": ep.session},
        )
    assert code == 1
    line = one_line(err)
    assert BETFAIR_TLS.search(line.replace("--ca-file VENUE=FILE", "--ca-file")), line


def test_proxy_on_a_taken_port_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("proxy", "luno:XBTZAR", "--port", str(port), env=LUNO_ENV)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in one_line(result.stderr)


# -- proxy --url: the proxy against a built-in mock ----------------------------------------------


async def test_proxy_takes_a_venue_url_on_the_command_line() -> None:
    async with LunoMockServer(pairs=("XBTZAR",), rate=50.0, credentials=CREDENTIALS) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "marketstreams.cli", "proxy", "luno:XBTZAR",
            "--url", f"luno={server.url}", "--port", "0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **LUNO_ENV},
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(HANG_GUARD):
                line = (await proc.stdout.readline()).decode()
            url = re.search(r"ws://127\.0\.0\.1:\d+/ws", line)
            assert url, line
            async with aiohttp.ClientSession() as session, session.ws_connect(url.group(0)) as ws:
                book: dict[str, Any] = {}
                async with asyncio.timeout(HANG_GUARD):
                    while not book:
                        for message in await ws.receive_json():  # a frame: a list of messages
                            if message["type"] == "books" and any(
                                b["book"] == "luno:XBTZAR" for b in message["books"]
                            ):  # the book exists: subscribe to it
                                await ws.send_json({"op": "subscribe", "books": ["luno:XBTZAR"]})
                            elif message["type"] in ("snapshot", "update"):
                                book = message
            assert book["venue"] == "luno" and book["market"] == "XBTZAR"
            assert book["bids"] and book["asks"]
        finally:
            proc.send_signal(signal.SIGINT)
            async with asyncio.timeout(HANG_GUARD):
                _, err = await proc.communicate()
    assert "Traceback" not in err.decode()


# -- side-by-side recordings, replayed at the recorded pace ------------------------------------


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """Two Luno pairs recorded together for 3 s by ``marketstreams record``; the folder and the
    recorded span (first to last record of either channel, seconds)."""
    folder = tmp_path_factory.mktemp("side-by-side")

    async def record() -> tuple[int, str]:
        async with LunoMockServer(
            pairs=("XBTZAR", "ETHZAR"), rate=40.0, credentials=CREDENTIALS
        ) as server:
            code, _, err = await acli(
                "record", "luno", "XBTZAR", "ETHZAR", "--url", server.url,
                "--out", str(folder), "--duration", "3", env=LUNO_ENV,
            )  # fmt: skip
        return code, err

    code, err = asyncio.run(record())
    assert code == 0, err
    groups, _ = find_recordings(discover(folder))
    assert len(groups) == 2
    times = [r.time for g in groups for f in g for r in read_records(f.source)]
    return folder, max(times) - min(times)


def test_side_by_side_recordings_replay_together_at_speed_one(
    side_by_side: tuple[Path, float],
) -> None:
    folder, span = side_by_side
    assert span > 2.0  # (what was recorded: 3 s of both channels)
    result = run_cli("replay", str(folder), "--speed", "1", "--json")
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["files"] == 2 and summary["markets"] == 2 and summary["errors"] == []
    # one after the other would take at least twice the span (each channel's own span ~ span)
    assert summary["seconds"] < 2 * span, (summary, span)


def test_side_by_side_hook_calls_come_in_receive_time_order(
    side_by_side: tuple[Path, float],
) -> None:
    folder, _ = side_by_side
    calls: list[tuple[str, float]] = []

    def hook(book: Any, trades: list[Any]) -> None:
        calls.append((book.market, book.received))

    result = replay(folder, hooks=[hook], speed=50)
    assert not result.errors
    times = [t for _, t in calls]
    assert times == sorted(times)  # receive-time order across both channels
    markets = [m for m, _ in calls]
    assert set(markets) == {"XBTZAR", "ETHZAR"}
    switches = sum(1 for a, b in itertools.pairwise(markets) if a != b)
    assert switches > 10  # interleaved, as live, not one channel after the other


class CountingHook:
    def __init__(self) -> None:
        self.markets: set[str] = set()
        self.calls = 0

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.markets.add(book.market)
        self.calls += 1

    def result(self) -> dict[str, int]:
        return {"calls": self.calls, "markets": len(self.markets)}


def test_side_by_side_one_hook_object_sees_every_channel(
    side_by_side: tuple[Path, float],
) -> None:
    folder, _ = side_by_side
    paced = replay(folder, hooks=[CountingHook()], speed=50)
    assert not paced.errors
    assert paced.results[0] == {"calls": paced.updates, "markets": 2}  # one copy, as live
    full = replay(folder, hooks=[CountingHook()])  # speed=None: a copy per channel
    assert full.updates == paced.updates
    assert full.results[0]["markets"] == 1  # (dicts merged: each copy saw one market)


def test_replay_at_speed_one_moves_its_bar_record_by_record(
    side_by_side: tuple[Path, float],
) -> None:
    folder, _ = side_by_side
    [group, _] = find_recordings(discover(folder))[0]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketstreams.cli", "replay", str(group[0].source.path),
         "--speed", "1"],
        stdout=subprocess.PIPE, stderr=slave, text=True,
    )  # fmt: skip
    os.close(slave)
    seen = ""
    try:
        for chunk in read_pty(master):
            seen += chunk
    finally:
        os.close(master)
        out, _ = proc.communicate(timeout=HANG_GUARD)
    assert proc.returncode == 0
    counts = [int(n.replace(",", "")) for n in re.findall(r"files 0/1 +records ([\d,]+)", seen)]
    assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] > counts[0], seen
    assert "Traceback" not in seen and out.startswith("replay: files=1")


def test_record_shows_a_live_line_on_a_terminal_and_none_in_a_pipe(tmp_path: Path) -> None:
    async def record(stderr: int) -> int:
        async with LunoMockServer(pairs=("XBTZAR",), rate=40.0, credentials=CREDENTIALS) as s:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "marketstreams.cli", "record", "luno", "XBTZAR",
                "--url", s.url, "--out", str(tmp_path), "--duration", "3",
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
                env={**os.environ, **LUNO_ENV},
            )  # fmt: skip
            async with asyncio.timeout(HANG_GUARD):
                return await proc.wait()

    master, slave = pty.openpty()
    code = asyncio.run(record(slave))
    os.close(slave)
    seen = "".join(read_pty(master))
    os.close(master)
    assert code == 0
    assert re.search(r"\rrecord: [\d,]+ records +[\d.]+ MB +[\d,]+ records/s +reconnects 0", seen)
    piped = run_cli(
        "record", "luno", "XBTZAR", "--url", "ws://127.0.0.1:9", "--out", str(tmp_path),
        "--duration", "1.5", env=LUNO_ENV,
    )  # fmt: skip
    assert piped.returncode == 0 and "\r" not in piped.stderr and "records/s" not in piped.stderr


# -- interrupting a replay -----------------------------------------------------------------------


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.add(int(entry.name))
    return found


def test_sigint_to_the_replay_parent_alone_stops_its_workers() -> None:
    """At --speed 1 each worker would play its file for hours: only stopping them ends it."""
    files = [
        str(shared_data("betfair", "historic", name)) for name in ("1.200806927", "1.197931750")
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketstreams.cli", "replay", *files, "--workers", "2",
         "--speed", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    workers: set[int] = set()
    try:
        guard = time.monotonic() + HANG_GUARD
        while len(workers) < 2 and time.monotonic() < guard:
            assert proc.poll() is None, proc.communicate()
            workers = children(proc.pid)  # the pool's worker processes, once started
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
        assert len(workers) >= 2
        proc.send_signal(signal.SIGINT)  # the parent only, not its process group
        _, err = proc.communicate(timeout=HANG_GUARD)
    finally:  # a failed test leaves no replay behind (while the parent lives, so do its pids)
        if proc.poll() is None:
            for pid in [*workers, proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    assert "Traceback" not in err, err
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)


# -- the demo ----------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_demo_summary_shows_quotes_rates_and_trades_per_market() -> None:
    out = Terminal()
    assert await run_demo(2.5, out, viewer=False) == 0
    drawn = out.getvalue().split("\x1b[J")[-1]  # the last drawing of the summary
    rows = {tuple(line.split()[:2]): line for line in drawn.splitlines() if line.startswith("  ")}
    luno = rows[("luno", "XBTZAR")]
    assert re.search(r"ok +[\d.]+ upd/s +bid .+ @ [\d.]+ +ask .+ @ [\d.]+ +trades +\d+", luno)
    bitmex = rows[("bitmex", "XBTUSD")]
    assert "seq" not in bitmex and re.search(r"upd/s +bid .+ ask .+ trades +\d+", bitmex)
    betfair = [line for (venue, _), line in rows.items() if venue == "betfair"]
    assert betfair and any(  # (a market may have no prices yet on a loaded machine)
        re.search(r"upd/s +\w+ +fav .+ back .+ @ [\d.]+ +lay .+ @ [\d.]+ +matched [\d,]+", row)
        for row in betfair
    ), betfair
    assert all("fav" in row or "no prices yet" in row for row in betfair), betfair
    assert out.getvalue().rstrip().splitlines()[-1].startswith("demo: luno=")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_demo_prints_its_final_line_on_sigterm_and_ctrl_c(sig: signal.Signals) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "marketstreams.cli", "demo", "--no-viewer",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(HANG_GUARD):
        while b"delivered" not in await proc.stdout.readline():  # its first summary
            pass
    proc.send_signal(sig)
    async with asyncio.timeout(HANG_GUARD):
        out, err = await proc.communicate()
    assert proc.returncode == (0 if sig == signal.SIGTERM else 130)
    assert "Traceback" not in err.decode()
    assert re.fullmatch(
        r"demo: luno=\d+ bitmex=\d+ betfair=\d+ paper_orders=\d+",
        out.decode().strip().splitlines()[-1],
    )

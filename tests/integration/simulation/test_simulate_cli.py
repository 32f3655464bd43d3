"""`marketstreams simulate` as a user runs it: exit code, last line, --json, --csv, --report."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from marketstreams.simulation import CSV_COLUMNS
from tests.conftest import read_pty, shared_data
from tests.integration.simulation.test_simulate import write_market

STRATEGIES = Path(__file__).with_name("strategies.py")
LAST = re.compile(
    r"simulate: files=(\d+) markets=(\d+) orders=(\d+) matched=([\d.]+) profit=(-?[\d.]+)"
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketstreams.cli", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_last_line_csv_and_report(tmp_path: Path) -> None:
    folder = shared_data("betfair", "historic")
    out = tmp_path / "orders.csv"
    report = tmp_path / "report.html"
    result = run(
        str(folder),
        "--strategy",
        f"{STRATEGIES}:BackFavourite",
        "--strategy",
        f"{STRATEGIES}:LayFavourite30",
        "--market-type",
        "WIN",
        "--commission",
        "0.07",
        "--workers",
        "2",
        "--csv",
        str(out),
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    last = LAST.fullmatch(result.stdout.strip().splitlines()[-1])
    assert last, result.stdout
    files, markets, orders = (int(last.group(i)) for i in (1, 2, 3))
    assert files >= 10 and markets >= 4 and orders >= 8
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == orders
    assert {r["strategy_name"] for r in rows} == {"BackFavourite", "LayFavourite30"}
    assert round(sum(float(r["size_matched"]) for r in rows), 2) == float(last.group(4))
    assert report.read_text().startswith("<!doctype html>")
    assert "\r" not in result.stderr  # no progress bar in a pipe


def test_json_is_one_document_and_the_last_line_goes_to_stderr(tmp_path: Path) -> None:
    source = write_market(tmp_path / "1.555")
    result = run(str(source), "--strategy", f"{STRATEGIES}:BackFirstRunner", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout
    assert summary["orders"] == 1 and summary["violations"] == 1
    assert summary["per_market"][0]["market_id"] == "1.555"
    last = LAST.fullmatch(result.stderr.strip().splitlines()[-1])
    assert last and float(last.group(5)) == summary["net_profit"]


def test_errors_exit_codes(tmp_path: Path) -> None:
    source = write_market(tmp_path / "1.555")
    missing = run(str(source), "--strategy", "no_such_module:Nothing")
    assert missing.returncode == 2 and "cannot import no_such_module" in missing.stderr
    not_there = run("/nonexistent/data", "--strategy", f"{STRATEGIES}:BackFavourite")
    assert not_there.returncode == 2
    (tmp_path / "1.666").write_text('{"op": "mcm", "pt": 1\n')
    failed = run(str(tmp_path), "--strategy", f"{STRATEGIES}:BackFirstRunner", "--strict")
    assert failed.returncode == 1
    assert re.search(r"error: .*1\.666:1: ", failed.stderr), failed.stderr
    assert LAST.fullmatch(failed.stdout.strip().splitlines()[-1])
    usage = run("--strategy")
    assert usage.returncode == 2 and "usage: marketstreams simulate" in usage.stderr


def test_a_terminal_gets_the_replay_progress_bar(tmp_path: Path) -> None:
    """On a terminal, simulate draws replay's bar (files, lines, markets, lines/s, ETA)."""
    import os
    import pty

    sources = [str(write_market(tmp_path / f"1.{i}", f"1.{i}")) for i in range(3)]
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "marketstreams.cli", "simulate", *sources,
         "--strategy", f"{STRATEGIES}:BackFirstRunner"],
        stdout=subprocess.PIPE, stderr=slave, text=True,
    )  # fmt: skip
    os.close(slave)
    try:
        seen = "".join(read_pty(master))
    finally:
        os.close(master)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, seen
    assert re.search(r"\r\[#{24}\] files 3/3 +lines [\d,]+ +markets 3 +[\d,]+ lines/s +ETA", seen)
    assert LAST.fullmatch(out.strip().splitlines()[-1]), out

"""`marketstreams replay` as a user runs it: summary line, JSON, quiet in pipes, errors named."""

from __future__ import annotations

import bz2
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import shared_data


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketstreams.cli", "replay", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_summary_line_json_and_quiet_pipe() -> None:
    folder = shared_data("betfair", "historic")
    result = run(str(folder), "--json", "--workers", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)  # stdout is the JSON document, whole
    last = re.search(
        r"^replay: files=(\d+) markets=(\d+) updates=(\d+) seconds=[\d.]+$", result.stderr, re.M
    )
    assert last, result.stderr
    assert summary["files"] == int(last.group(1)) >= 10
    assert summary["markets"] == int(last.group(2)) > 0
    assert summary["updates"] == int(last.group(3)) > 1000
    assert summary["errors"] == []
    assert "\r" not in result.stderr and "ETA" not in result.stderr  # no progress bar in a pipe


def test_filters_and_errors_on_the_command_line(tmp_path: Path) -> None:
    source = shared_data("betfair", "historic", "1.200806927").read_bytes()
    (tmp_path / "1.200806927").write_bytes(source)
    (tmp_path / "bad.bz2").write_bytes(bz2.compress(source)[:500])
    result = run(str(tmp_path), "--inplay", "--json")
    assert result.returncode == 1  # a source failed
    assert re.search(r"bad\.bz2:\d+: .*truncated", result.stderr), result.stderr
    summary = json.loads(result.stdout)
    assert summary["updates"] > 0 and len(summary["errors"]) == 1
    everything = json.loads(run(str(tmp_path / "1.200806927"), "--json").stdout)
    assert everything["updates"] > summary["updates"]  # in-play only is a subset


def test_missing_path_is_a_clear_error() -> None:
    result = run("/nonexistent/data")
    assert result.returncode == 2 and "no such replay source" in result.stderr

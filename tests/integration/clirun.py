"""Running ``marketstreams`` as a user does: a real process, its exit code and its output."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

HANG_GUARD = 120.0  # turns a hang into a failure; nothing asserts on it


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = HANG_GUARD
) -> subprocess.CompletedProcess[str]:
    """``marketstreams ARGS...`` to its end (``env`` added to this environment)."""
    return subprocess.run(
        [sys.executable, "-m", "marketstreams.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


async def acli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``marketstreams ARGS...`` from a test's event loop: exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "marketstreams.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    async with asyncio.timeout(HANG_GUARD):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()

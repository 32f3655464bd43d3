"""A real redis-server for the sink tests: started on a free loopback port in a temporary folder,
no persistence, and killed, restarted, paused and resumed on demand."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import RedisError

REDIS = shutil.which("redis-server")
HANG_GUARD = 30.0  # turns a hang into a failure; nothing here asserts on time

pytestmark = pytest.mark.redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def spawn(self) -> None:
        assert REDIS is not None
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.folder), "--protected-mode", "no"]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def start(self) -> None:
        self.spawn()
        await self.ready()

    async def ready(self) -> None:
        """Poll PING until the server answers (a hang guard bounds it)."""
        async with asyncio.timeout(HANG_GUARD):
            while True:
                assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
                client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
                try:
                    if await client.ping():
                        return
                except (RedisError, OSError):
                    await asyncio.sleep(0.01)
                finally:
                    await client.aclose()

    def kill(self) -> None:
        """kill -9: everything it held is gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if REDIS is None:
        pytest.skip("redis-server is not installed (./dev setup installs it)")
    server = RedisServer(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


class Counter:
    """A hook counting its calls and waking ``until()`` on each."""

    def __init__(self) -> None:
        self.calls = 0
        self.trades = 0
        self.changed = asyncio.Event()

    def __call__(self, book: Any, trades: list[Any]) -> None:
        self.calls += 1
        self.trades += len(trades)
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(HANG_GUARD):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

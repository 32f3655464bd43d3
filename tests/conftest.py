"""Shared test helpers: where ../shared/data is, and a skip when it is absent."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


def read_pty(fd: int) -> Iterator[str]:
    """What a child writes to its terminal, chunk by chunk, until it closes it."""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        yield chunk.decode(errors="replace")


def shared_data(*parts: str) -> Path:
    """Path of a file under ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder sits beside a full checkout only)")
    return path


@contextlib.asynccontextmanager
async def unanswering_server(attempts: int) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP server on 127.0.0.1 that accepts and never answers (no websocket upgrade); yields
    its port and an event set once ``attempts`` connections were accepted."""
    writers: list[asyncio.StreamWriter] = []
    enough = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        if len(writers) >= attempts:
            enough.set()

    tcp = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield tcp.sockets[0].getsockname()[1], enough
    finally:
        tcp.close()
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await tcp.wait_closed()

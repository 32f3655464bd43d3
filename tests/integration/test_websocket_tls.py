"""A websocket venue whose certificate does not verify: one TLSVerificationError naming the
host, at once, never a retry loop (Luno and BitMEX; Betfair's is tested with its feed), and the
command line says it in one line with the fix."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from marketstreams import ConfigurationError, Updater
from marketstreams.exceptions import TLSVerificationError
from marketstreams.venues import bitmex, luno

GUARD = 30.0  # a hang guard only


@pytest.fixture
async def tls_port() -> AsyncIterator[int]:
    """A TLS server on 127.0.0.1 with a certificate from a CA nobody trusts."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("venue", ["luno", "bitmex"])
async def test_untrusted_certificate_is_one_fatal_error(venue: str, tls_port: int) -> None:
    port = tls_port
    if venue == "luno":
        feed: luno.Feed | bitmex.Feed = luno.Feed(
            "XBTZAR", "key-id", "secret-value", url=f"wss://127.0.0.1:{port}/api/1/stream"
        )
    else:
        feed = bitmex.Feed("orderBookL2:XBTUSD", url=f"wss://127.0.0.1:{port}/realtime")
    async with asyncio.timeout(GUARD):
        with pytest.raises(TLSVerificationError) as info:
            await Updater(feed).run()
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert error.host == f"127.0.0.1:{port}"
    assert "certificate" in str(error) and "secret-value" not in str(error)
    assert feed.stats.reconnects == 0


async def test_record_luno_untrusted_certificate_is_one_line(tls_port: int, tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "marketstreams.cli",
        "record",
        "luno",
        "XBTZAR",
        "--url",
        f"wss://127.0.0.1:{tls_port}/api/1/stream",
        "--out",
        str(tmp_path / "rec"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(GUARD):
        _, err = await proc.communicate()
    stderr = err.decode()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert f"127.0.0.1:{tls_port}" in lines[0] and "certificate" in lines[0]
    assert lines[0].endswith("check --url")  # the fix: Luno has no CA option to give

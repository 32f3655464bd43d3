"""A client that stops reading: it never delays the feed or the other clients, its queue stays
bounded (conflated), and it is cut off at the documented limit.

The stuck client is a raw socket with a tiny receive buffer that completes the websocket
handshake, subscribes, and then never reads again, so its connection fills up quickly.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Any

import orjson
import pytest

from marketstreams.proxy import Client, ClientLimits

from .conftest import GUARD, Harness

BOOKS = [f"bitmex:SYM{i}" for i in range(4)]
LIMIT = 5.0


@pytest.fixture
def limits(request: pytest.FixtureRequest) -> ClientLimits:
    return ClientLimits(max_pending_seconds=getattr(request, "param", LIMIT), max_trades=20)


@pytest.fixture
def proxy_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    # Big books, so that a stuck socket fills fast. By default the ticker stays out of the way
    # and the test calls hub.tick() itself.
    return {"depth": 200, "tick": getattr(request, "param", 3600.0)}


def masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    header = b"\x81" + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class StuckClient:
    """Handshakes, subscribes, then reads nothing until :meth:`drain_to_end`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.setblocking(False)

    async def open(self, port: int, books: list[str]) -> None:
        loop = asyncio.get_running_loop()
        await loop.sock_connect(self.sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await loop.sock_sendall(self.sock, request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = await loop.sock_recv(self.sock, 1)
            assert chunk, "the proxy closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101")
        payload = orjson.dumps({"op": "subscribe", "books": books})
        await loop.sock_sendall(self.sock, masked_text_frame(payload))

    async def drain_to_end(self) -> int:
        """Read until the proxy's side is gone; returns the bytes read."""
        loop = asyncio.get_running_loop()
        total = 0
        try:
            while chunk := await loop.sock_recv(self.sock, 65536):
                total += len(chunk)
        except ConnectionResetError:
            pass
        return total

    def close(self) -> None:
        self.sock.close()


async def fast_round(harness: Harness, fast: list[Any]) -> int:
    """Advance every book by one update (with a trade) and wait until every fast client has
    it. Returns the new sequence."""
    seq = 0
    for name in BOOKS:
        seq = harness.publisher.step(name, trades=1).sequence or 0
    await asyncio.gather(
        *(c.until(lambda c=c: all(c.latest[b]["seq"] == seq for b in BOOKS)) for c in fast)
    )
    return seq


async def start(harness: Harness) -> tuple[StuckClient, Client, list[Any]]:
    for name in BOOKS:
        harness.publisher.book(*name.split(":"), levels=400)
    fast = [await harness.connect() for _ in range(5)]
    for c in fast:
        await harness.subscribed(c, BOOKS)
    stuck = StuckClient()
    await stuck.open(harness.proxy.port, BOOKS)
    hub = harness.proxy.hub
    fast_ids = {c.by_type["hello"][0]["client"] for c in fast}
    # Its subscription goes in while the feed goes on.
    async with asyncio.timeout(GUARD):
        while True:
            await fast_round(harness, fast)
            other = [c for c in hub.clients.values() if c.id not in fast_ids]
            if other and other[0].subscriptions == set(BOOKS):
                return stuck, other[0], fast


async def test_stuck_client_does_not_delay_others_and_is_cut_at_the_limit(
    harness: Harness,
) -> None:
    hub = harness.proxy.hub
    stuck, stuck_state, fast = await start(harness)
    try:
        async with asyncio.timeout(GUARD):
            # Run until the stuck client's writer is blocked on its full socket.
            while stuck_state.inflight_since is None:
                await fast_round(harness, fast)
            blocked_at = await fast_round(harness, fast)
            # 200 more updates of every book while it stays blocked.
            for _ in range(200):
                last = await fast_round(harness, fast)
                assert stuck_state.inflight_since is not None  # still blocked, never waited on
                assert len(stuck_state.pending) <= len(BOOKS)  # one pending delivery per book
                assert all(len(t) <= 20 for t in stuck_state.trades.values())  # capped
        # Every fast client got every single update, in order, while the other was stuck.
        for c in fast:
            for name in BOOKS:
                seqs = c.seqs(name)
                assert seqs[-201:] == list(range(blocked_at, last + 1))
        assert stuck_state.stats.conflated >= 200 * len(BOOKS) - len(BOOKS)
        assert stuck_state.stats.dropped_trades > 0
        since = stuck_state.waiting_since()
        assert since is not None
        hub.tick(since + LIMIT - 0.01)  # just under the limit: kept
        assert not stuck_state.closed
        hub.tick(since + LIMIT + 0.01)  # just over: cut
        assert stuck_state.closed and stuck_state.close_reason == "slow"
        read = await asyncio.wait_for(stuck.drain_to_end(), GUARD)
        assert read > 0
        await fast_round(harness, fast)  # the others go on
    finally:
        stuck.close()
    assert stuck_state.id not in hub.clients
    assert hub.disconnected["slow"] == 1 and len(hub.clients) == 5
    totals = hub.metrics()["clients"]["totals"]
    assert totals["conflated"] >= stuck_state.stats.conflated


@pytest.mark.parametrize("limits", [0.3], indirect=True)
@pytest.mark.parametrize("proxy_options", [0.05], indirect=True)
async def test_the_ticker_cuts_a_stuck_client_by_itself(harness: Harness) -> None:
    hub = harness.proxy.hub
    stuck, stuck_state, fast = await start(harness)
    try:
        async with asyncio.timeout(GUARD):
            while not stuck_state.closed:
                await fast_round(harness, fast)
        await asyncio.wait_for(stuck.drain_to_end(), GUARD)
        await fast_round(harness, fast)
    finally:
        stuck.close()
    assert stuck_state.close_reason == "slow" and hub.disconnected["slow"] == 1
    assert len(hub.clients) == 5

"""The Luno mock's fault switches (the common names of mock_servers.base.FAULTS, and error)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import orjson

from .clients import ERROR_CLOSE_CODE, Client, CloseRequest

if TYPE_CHECKING:
    from .markets import Market


class LunoFaults:
    """The fault switches of :class:`~mock_servers.luno.LunoMockServer`."""

    _markets: dict[str, Market]

    def _targets(self, pair: str | None) -> Iterable[Client]:
        raise NotImplementedError  # the server's

    def gap(self, pair: str | None = None) -> None:
        """Each current connection never receives its next update: one sequence goes missing."""
        for client in self._targets(pair):
            client.skip_next = True

    async def drop(self, pair: str | None = None) -> None:
        """Abort the current TCP connections (no close frame) and wait until they are gone."""
        clients = list(self._targets(pair))
        for client in clients:
            client.ws.transport.abort()
        await asyncio.gather(*(client.done.wait() for client in clients))

    def silence(self, seconds: float, pair: str | None = None) -> None:
        """Send nothing at all to the current connections for ``seconds``, and read nothing.

        Updates generated meanwhile are lost to them: the next one they see is a gap.
        """
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        clients = list(self._targets(pair))
        for client in clients:
            client.silent_until = max(client.silent_until, until)
            # Unread pings get no pong, like a stalled network path.
            client.ws.transport.pause_reading()

        def end() -> None:
            now = loop.time()
            for client in clients:
                if client.silent_until - now <= 0.01:  # else a later silence() extended it
                    client.ws.transport.resume_reading()
                    client.wake.set()

        loop.call_later(seconds, end)  # after stop() it finds closed transports: harmless

    def malformed(self, pair: str | None = None) -> None:
        """The next frame each current connection receives is not JSON."""
        for client in self._targets(pair):
            junk = b'{"sequence": "%d", broken' % (self._markets[client.pair].sequence + 1)
            client.push(junk, front=True)

    def error(self, code: str, message: str, pair: str | None = None, close: bool = True) -> None:
        """A Luno-style ``{"error_code", "error"}`` frame to each current connection, then close."""
        frame = orjson.dumps({"error_code": code, "error": message})
        for client in self._targets(pair):
            client.push(frame)
            if close:
                client.push(CloseRequest(ERROR_CLOSE_CODE, code))

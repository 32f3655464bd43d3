"""The Betfair mock's fault switches (the common names of mock_servers.base.FAULTS, and more)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .wire import status_line

logger = logging.getLogger("marketstreams.mock.betfair")


if TYPE_CHECKING:
    from .server import Connection, Entry


class BetfairFaults:
    """The fault switches of :class:`~mock_servers.betfair.BetfairMockServer`."""

    clients: dict[Connection, None]
    sessions: set[str]
    _corrupt: set[str]
    _log: list[Entry]
    _log_start: int
    _seq: int
    _reject_resubscribe: bool

    async def _close(self, conn: Connection) -> None:
        raise NotImplementedError  # the server's

    def _write_now(self, conn: Connection, data: bytes) -> None:
        raise NotImplementedError  # the server's

    async def drop(self) -> None:
        """Close every open connection now."""
        for conn in list(self.clients):
            await self._close(conn)

    def expire_sessions(self) -> None:
        """Invalidate every session: open connections get INVALID_SESSION_INFORMATION and are
        closed, new authentications with the old tokens are refused."""
        self.sessions.clear()
        for conn in list(self.clients):
            self._write_now(
                conn,
                status_line(
                    None, "FAILURE", "INVALID_SESSION_INFORMATION", "session expired", True
                ),
            )
            conn.closing = True
            conn.wake.set()

    def malformed(self) -> None:
        """Write a line that is not JSON to every open connection."""
        for conn in list(self.clients):
            self._write_now(conn, b"\x00this is not json {{\r\n")

    def silence(self) -> None:
        """Stop writing anything (heartbeats included) to the connections open now."""
        for conn in self.clients:
            conn.silenced = True

    def gap(self, op: str = "mcm") -> None:
        """The clients' books go out of sync: the next ``op`` (``mcm`` / ``ocm``) delta message
        sent carries, ahead of its real change, an entry no client can apply: a runner change
        with ``"spn": "abc"``, or a matched ladder entry without a size. The message's ``clk`` is
        the real one, so a client that skips the message loses the real change for good; the
        server's truth never sees the bad entry."""
        if op not in ("mcm", "ocm"):
            raise ValueError(f"unknown change op {op!r}")
        self._corrupt.add(op)

    def invalidate_clocks(self) -> None:
        """Forget the change log: resubscriptions with older clocks get INVALID_CLOCK."""
        self._log_start = self._seq + 1
        self._log.clear()
        self._reject_resubscribe = True

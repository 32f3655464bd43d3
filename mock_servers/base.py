"""The common base of the mock venue servers: listening, start and stop, connections, faults.

Every mock binds ``host`` (127.0.0.1 by default) on ``port`` (0: a free one, see ``port`` once
started), runs as ``async with Mock(...) as server:`` (or ``await start()`` / ``await stop()``),
tracks its open connections (``clients``, ``accepted``, ``wait_accepted(n)``) and has the fault
switches of :data:`FAULTS` under the same names; docs/mock_servers.md describes each venue's.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import Any, ClassVar, Final, Generic, Self, TypeVar

__all__ = ["FAULTS", "MockServer", "run_until_interrupted"]

logger = logging.getLogger("marketstreams.mock")

#: The fault switches every mock server has: ``drop()`` (abort the open connections),
#: ``silence(...)`` (send nothing, pings and keepalives included, to the open connections),
#: ``gap(...)`` (the clients' books go out of sync: a lost sequence, an unknown row, a change no
#: client can apply) and ``malformed(...)`` (a frame that is not JSON). Venues add their own.
FAULTS: Final = ("drop", "silence", "gap", "malformed")

C = TypeVar("C")


class MockServer(abc.ABC, Generic[C]):
    """A mock venue server; ``C`` is its connection type. Subclasses bind in :meth:`_listen`
    and close everything in :meth:`_shutdown`, and call :meth:`_connected` and
    :meth:`_disconnected` as connections come and go."""

    venue: ClassVar[str]

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requested_port = port
        self.clients: dict[C, None] = {}  # the open connections, oldest first
        self.accepted = 0  # connections accepted since the start
        self._port: int | None = None
        self._changed = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._port is not None

    @property
    def port(self) -> int:
        """The port listened on (the one picked when ``port`` was 0)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    async def start(self) -> Self:
        """Listen; returns the server itself."""
        if self._port is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._port = await self._listen()
        logger.info("%s mock listening on %s:%d", self.venue, self.host, self._port)
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening (nothing happens when not started)."""
        if self._port is None:
            return
        try:
            await self._shutdown()
        finally:
            self._port = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @abc.abstractmethod
    async def _listen(self) -> int:
        """Bind and start serving; return the bound port."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Stop serving and close the open connections."""

    # -- connections ----------------------------------------------------------------------------

    @property
    def connections_open(self) -> int:
        return len(self.clients)

    def _connected(self, client: C) -> None:
        self.clients[client] = None
        self.accepted += 1
        self._signal()

    def _disconnected(self, client: C) -> None:
        self.clients.pop(client, None)
        self._signal()

    def _signal(self) -> None:
        """Wake :meth:`wait_for` (a connection came or went, or something else a test awaits)."""
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; re-checked whenever the server signals a change."""
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    async def wait_accepted(self, n: int) -> None:
        """Return once ``n`` connections in total have been accepted."""
        await self.wait_for(lambda: self.accepted >= n)


def run_until_interrupted(
    venue: str,
    make: Callable[[], MockServer[Any]],
    announce: Callable[[Any], str],
    errors: tuple[type[Exception], ...] = (OSError,),
) -> int:
    """A mock's command line: build the server, serve until Ctrl-C (exit 0); a taken port or
    another of ``errors`` is one line on stderr and exit 1, not a traceback."""

    async def run() -> None:
        async with make() as server:
            print(announce(server), flush=True)
            await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        return 0
    except errors as exc:
        print(f"{venue} mock: {exc}", file=sys.stderr)
        return 1
    return 0

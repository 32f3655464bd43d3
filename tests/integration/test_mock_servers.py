"""What every mock server shares (mock_servers.base), and the library without the mocks' extra."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from mock_servers.base import FAULTS, MockServer
from mock_servers.betfair import BetfairMockServer
from mock_servers.bitmex import BitmexMockServer
from mock_servers.luno import LunoMockServer

MOCKS: list[tuple[type[MockServer[Any]], dict[str, Any]]] = [
    (LunoMockServer, {"pairs": ["XBTZAR"], "orders": 10, "rate": 0}),
    (BitmexMockServer, {"symbols": ["XBTUSD"], "interval": None}),
    (BetfairMockServer, {"markets": 1, "rate": None, "limit": 0}),
]


@pytest.mark.parametrize(("cls", "kwargs"), MOCKS, ids=lambda v: getattr(v, "venue", ""))
async def test_every_mock_has_the_common_lifecycle_and_fault_names(
    cls: type[MockServer[Any]], kwargs: dict[str, Any]
) -> None:
    for name in FAULTS:
        assert callable(getattr(cls, name, None)), f"{cls.__name__}.{name}"
    server = cls(**kwargs)
    with pytest.raises(RuntimeError, match="not started"):
        server.port  # noqa: B018 - the property raises
    async with server as running:
        assert running is server and server.started and server.host == "127.0.0.1"
        assert server.port > 0 and server.accepted == 0 and server.connections_open == 0
        # something really listens there
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        await writer.wait_closed()
        with pytest.raises(RuntimeError, match="already started"):
            await server.start()
    assert not server.started
    await server.stop()  # stopping twice is harmless


async def test_connections_are_tracked_and_awaitable() -> None:
    from websockets.asyncio.client import connect

    async with BitmexMockServer(["XBTUSD"], interval=None) as server:
        async with connect(server.url) as ws:
            await server.wait_accepted(1)
            assert server.connections_open == 1
            await ws.recv()  # the welcome
        await server.wait_for(lambda: server.connections_open == 0)
        assert server.accepted == 1


def test_the_library_imports_and_runs_without_websockets() -> None:
    # A finder that refuses websockets, as on an install without the "mock" extra.
    code = textwrap.dedent(
        """
        import sys

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name == "websockets" or name.startswith("websockets."):
                    raise ImportError("no websockets here")
                return None

        sys.meta_path.insert(0, Refuse())
        sys.modules.pop("websockets", None)
        import marketstreams
        from marketstreams import Updater, replay
        from marketstreams.venues import registry
        from marketstreams.venues.luno import Feed as LunoFeed
        from marketstreams.venues.bitmex import Feed as BitmexFeed
        from marketstreams.venues.betfair import Feed as BetfairFeed
        import marketstreams.proxy, marketstreams.cli, marketstreams.demo
        assert not any(m == "websockets" or m.startswith("websockets.") for m in sys.modules)
        print(registry.get("luno").demo_available, registry.get("bitmex").demo_available)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]  # their demos need the mocks' extra

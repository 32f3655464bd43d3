"""Consume the proxy's websocket protocol from Python: list the books, subscribe, print updates.

    python examples/proxy_client.py [WS_URL] [--token TOKEN]

With a URL (``ws://127.0.0.1:8765/ws`` from ``marketstreams proxy ...`` or ``marketstreams
demo``) it connects there; without one it starts a mock Luno venue and a proxy in-process first.
Exact Luno amounts: ``orjson`` reads floats; use ``json.loads(frame, parse_float=Decimal)`` to keep
every digit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import orjson

from marketstreams import Updater
from marketstreams.proxy import Proxy
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer


async def consume(url: str, token: str | None, updates: int = 10) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        seen = 0
        async for frame in ws:
            for message in orjson.loads(frame.data):  # every frame is a list of messages
                kind = message["type"]
                if kind == "books":
                    names = [b["book"] for b in message["books"]]
                    print("books:", ", ".join(names) or "(none yet)")
                    if names and seen == 0:
                        await ws.send_str(
                            orjson.dumps({"op": "subscribe", "books": names[:2]}).decode()
                        )
                        seen = -1  # subscribed; wait for data
                elif kind in ("snapshot", "update"):
                    best_bid = message["bids"][0] if message.get("bids") else None
                    best_ask = message["asks"][0] if message.get("asks") else None
                    state = "valid" if message["valid"] else f"INVALID ({message['reason']})"
                    print(f"{kind:8} {message['book']:14} bid {best_bid} ask {best_ask} {state}")
                    seen = max(seen, 0) + 1
                elif kind == "trades":
                    for t in message["trades"]:
                        print(
                            f"trade    {message['book']:14} {t['side']} {t['size']} @ {t['price']}"
                        )
                elif kind == "error":
                    print("error:", message["code"], message["message"])
            if seen >= updates:
                return


@contextlib.asynccontextmanager
async def local_proxy() -> AsyncIterator[str]:
    async with LunoMockServer(pairs=("XBTZAR", "ETHZAR"), rate=20.0) as venue:
        updater = Updater(luno.Feed("XBTZAR", url=venue.url), luno.Feed("ETHZAR", url=venue.url))
        async with Proxy(updater, port=0, depth=5) as proxy:
            runner = asyncio.create_task(updater.run())
            try:
                yield proxy.ws_url
            finally:
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--token")
    args = parser.parse_args()
    if args.url:
        await consume(args.url, args.token)
    else:
        async with local_proxy() as url:
            print("proxy at", url)
            await asyncio.wait_for(consume(url, None), 60)


if __name__ == "__main__":
    asyncio.run(main())

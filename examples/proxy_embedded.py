"""Run the proxy and the viewer inside your own program, next to your own hooks.

    python examples/proxy_embedded.py [SECONDS]

Starts a mock Luno venue, one Updater with your hook, and the proxy with the viewer on a free
port (open the printed URL in a browser while it runs). After SECONDS (default 5) it prints the
proxy's health and a few of its metrics and exits.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp

from marketstreams import Updater
from marketstreams.proxy import ClientLimits, Proxy
from marketstreams.venues import luno
from mock_servers.luno import LunoMockServer

updates = 0


def my_hook(book, trades):
    global updates
    updates += 1


async def main(seconds: float) -> None:
    async with LunoMockServer(pairs=("XBTZAR",), rate=30.0) as venue:
        updater = Updater(luno.Feed("XBTZAR", url=venue.url), hooks=[my_hook])
        proxy = Proxy(
            updater,
            port=0,  # 8765 by default; 0 picks a free port
            app=True,  # serve the viewer at /
            depth=15,
            limits=ClientLimits(max_pending_seconds=5.0),
        )
        async with proxy:
            print("viewer at", proxy.url, "- websocket at", proxy.ws_url, flush=True)
            try:
                await asyncio.wait_for(updater.run(), seconds)
            except TimeoutError:
                pass
            async with aiohttp.ClientSession() as http:
                async with http.get(proxy.url + "health") as resp:
                    print("health:", await resp.json())
                async with http.get(proxy.url + "metrics.json") as resp:
                    metrics = await resp.json()
    lag = metrics["venues"]["luno"]["lag"]
    print(
        f"my hook saw {updates} updates; the proxy counted {metrics['venues']['luno']['updates']}"
    )
    print(f"venue -> receipt lag: p50 {lag['p50']}, p99 {lag['p99']} seconds")


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0))

"""Betfair live: log in, subscribe to markets and your orders, print best prices from a hook.

    python examples/betfair_live_hooks.py

Without arguments it starts the built-in mock Betfair server (real TLS with a throwaway CA) and
logs in to the mock's certificate-login endpoint. Against Betfair set BETFAIR_USERNAME,
BETFAIR_PASSWORD, BETFAIR_APP_KEY, BETFAIR_CERT and BETFAIR_KEY (client certificate files) and
pass --live.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from marketstreams import Updater
from marketstreams.venues import betfair
from mock_servers.betfair import demo_server


def print_best(book: Any, trades: list[Any]) -> None:
    if isinstance(book, betfair.OrderMarket):
        for order in book.orders:
            print(f"order {order.bet_id} {order.side} {order.size}@{order.price} {order.status}")
        return
    runner = book.runners[0]
    print(
        f"{book.market_id} {book.status} valid={book.is_valid} matched={book.total_matched:.2f} "
        f"{runner.selection_id}: back {runner.best_back(3)} lay {runner.best_lay(3)}"
    )


async def run(feed: betfair.Feed, seconds: float) -> None:
    updater = Updater(feed, hooks=[print_best])
    try:
        async with asyncio.timeout(seconds):
            await updater.run()
    except TimeoutError:
        pass
    print(f"done: {feed.stats.updates} updates, {feed.stats.reconnects} reconnects")


def subscriptions() -> list[betfair.MarketSubscription | betfair.OrderSubscription]:
    racing = betfair.MarketFilter(event_type_ids=["7"], market_types=["WIN"], country_codes=["GB"])
    fields = ["EX_ALL_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF"]
    return [
        betfair.MarketSubscription(racing, betfair.MarketDataFilter(fields=fields)),
        betfair.OrderSubscription(),
    ]


async def main(live: bool, seconds: float = 3.0) -> None:
    if live:
        env = os.environ
        session = await betfair.login(
            env["BETFAIR_USERNAME"],
            env["BETFAIR_PASSWORD"],
            env["BETFAIR_APP_KEY"],
            cert_file=env["BETFAIR_CERT"],
            key_file=env["BETFAIR_KEY"],
        )
        await run(betfair.Feed(session.app_key, session, subscriptions()), seconds)
        return
    async with demo_server(rate=20.0) as mock:
        session = await betfair.login(
            "mock-user",
            "mock-password",
            mock.app_key,
            url=mock.login_url,
            ssl_context=mock.ssl_context,
        )
        feed = betfair.Feed(
            mock.app_key,
            session,
            subscriptions(),
            host=mock.host,
            port=mock.port,
            ssl_context=mock.ssl_context,  # trusts the mock's throwaway CA
        )
        await run(feed, seconds)


if __name__ == "__main__":
    asyncio.run(main("--live" in sys.argv[1:]))

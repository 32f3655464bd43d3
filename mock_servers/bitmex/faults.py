"""The BitMEX mock's fault switches (the common names of mock_servers.base.FAULTS, and more)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .markets import Level, Market, dumps, now_iso

if TYPE_CHECKING:
    from .server import Client


class BitmexFaults:
    """The fault switches of :class:`~mock_servers.bitmex.BitmexMockServer`."""

    clients: dict[Client, None]
    markets: dict[str, Market]
    legacy_ids: bool

    def _publish_l2(
        self,
        market: Market,
        action: str,
        levels: Sequence[Level],
        extra: Sequence[dict[str, Any]] = (),
        middle: Sequence[dict[str, Any]] = (),
    ) -> None:
        raise NotImplementedError  # the server's

    def _publish_derived(self, market: Market) -> None:
        raise NotImplementedError  # the server's

    def _partial(self, table: str, symbol: str | None) -> str:
        raise NotImplementedError  # the server's

    async def drop(self) -> int:
        """Abort every open connection (no close frame). Returns how many were dropped."""
        clients = list(self.clients)
        for client in clients:
            transport = client.ws.transport
            if transport is not None:
                transport.abort()
        return len(clients)

    def silence(self, on: bool = True) -> None:
        """Stop (or restart) sending anything, pongs included, on the connections open now.
        The market goes on; new connections are served normally."""
        for client in self.clients:
            client.silent = on

    def repeat_partial(self, symbol: str | None = None) -> None:
        """Send a fresh orderBookL2 partial (the true book) to its subscribers, unasked."""
        for client in self.clients:
            for market in self.markets.values():
                if (symbol is None or market.symbol == symbol) and client.wants(
                    "orderBookL2", market.symbol
                ):
                    client.queue.put_nowait(self._partial("orderBookL2", market.symbol))

    def gap(self, symbol: str) -> int:
        """Change two levels of ``symbol`` and send them in one orderBookL2 update with a row
        for an id that never existed between them. Returns the unknown id."""
        market = self.markets[symbol]
        bids = market.side_levels("Buy")
        asks = market.side_levels("Sell")
        changed = [bids[len(bids) // 2], asks[len(asks) // 2]]
        for level in changed:
            level.size = market._size()
        unknown_id = 7_777_777_777
        ghost: dict[str, Any] = {"symbol": symbol, "id": unknown_id, "side": "Buy", "size": 4200}
        if not self.legacy_ids:
            ghost["price"] = market.price(bids[0].ticks)
            ghost["timestamp"] = now_iso()
        self._publish_l2(market, "update", changed, middle=[ghost])
        self._publish_derived(market)
        return unknown_id

    def malformed(self, text: str = '{"table":"orderBookL2","action":"upd') -> None:
        """Send a frame that is not JSON to every client."""
        for client in self.clients:
            client.queue.put_nowait(text)

    def error(self, status: int = 503, error: str = "Service temporarily unavailable") -> None:
        """Send an error frame tied to no request to every client."""
        text = dumps({"status": status, "error": error, "meta": {}})
        for client in self.clients:
            client.queue.put_nowait(text)

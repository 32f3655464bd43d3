"""The hub and its per-client queues without sockets: what a frame holds, what is capped, what is
cut, what is evicted."""

from __future__ import annotations

from typing import Any

import orjson

from marketstreams import Trade
from marketstreams.proxy import ClientLimits, Hub

from .conftest import make_book, trade


class Closed:
    """A minimal non-orderbook book (the "book" kind) that can close, like a Betfair market."""

    def __init__(self, market: str) -> None:
        self.venue, self.market, self.is_valid, self.status = "betfair", market, True, "OPEN"


def frame_of(client: Any) -> list[dict[str, Any]]:
    data = client.take(0.0)
    assert data is not None
    messages = orjson.loads(data)
    assert isinstance(messages, list)
    return messages


def test_a_frame_holds_replies_then_trades_then_states_and_conflates() -> None:
    hub = Hub(depth=2, limits=ClientLimits(max_trades=3))
    book = make_book("luno", "XBTZAR")
    hub.on_update(book, [])
    client = hub.connect("test")
    assert [m["type"] for m in frame_of(client)] == ["hello", "books", "venue"]
    hub.receive(client, b'{"op": "subscribe", "books": ["luno:XBTZAR"], "id": 1}')
    assert [m["type"] for m in frame_of(client)] == ["subscribed", "snapshot"]
    assert client.take(0.0) is None  # nothing pending, nothing sent
    trades: list[Trade] = []
    for i in range(5):  # the client is busy: five updates merge into one delivery
        book.sequence = 10 + i
        made = [trade(book, base=str(i))]
        trades += made
        hub.on_update(book, made)
    messages = frame_of(client)
    assert [m["type"] for m in messages] == ["trades", "update"]
    assert [t["size"] for t in messages[0]["trades"]] == [2, 3, 4]  # the newest, capped
    assert messages[0]["dropped"] == 2 and client.stats.dropped_trades == 2
    assert messages[1]["seq"] == 14 and messages[1]["conflated"] == 4
    assert len(messages[1]["bids"]) == 2 and client.stats.conflated == 4


def test_a_client_flooding_requests_without_reading_is_cut() -> None:
    hub = Hub(limits=ClientLimits(max_replies=10))
    aborted: list[bool] = []
    client = hub.connect("flood", abort=lambda: aborted.append(True))
    for _ in range(20):
        hub.receive(client, b'{"op": "ping"}')
    assert client.closed and client.close_reason == "slow" and aborted == [True]
    hub.disconnect(client)
    assert hub.disconnected["slow"] == 1 and not hub.clients


def test_a_client_over_the_byte_limit_is_cut_at_the_next_tick() -> None:
    hub = Hub(limits=ClientLimits(max_buffer_bytes=1000))
    backed_up = hub.connect("a", buffered=lambda: 5000)
    fine = hub.connect("b", buffered=lambda: 10)
    hub.tick()
    assert backed_up.closed and backed_up.close_reason == "slow"
    assert not fine.closed


def test_closed_markets_leave_after_the_grace_period() -> None:
    hub = Hub(evict_closed_after=600.0)
    market = Closed("1.5")
    hub.on_update(market, [])
    client = hub.connect("c")
    hub.receive(client, b'{"op": "subscribe", "books": ["betfair:1.5"]}')
    frame_of(client)
    market.status = "CLOSED"
    hub.on_update(market, [])
    last = hub.books["betfair:1.5"].last_update
    hub.tick(last + 599.0)
    assert "betfair:1.5" in hub.books  # closed, but within the grace period
    hub.tick(last + 601.0)
    assert "betfair:1.5" not in hub.books and client.subscriptions == set()
    books = [m for m in frame_of(client) if m["type"] == "books"]
    assert books and books[-1]["books"] == []
    hub.on_update(market, [])  # a late message brings it back rather than failing
    assert hub.books["betfair:1.5"].kind == "book"

"""The proxy's websocket protocol through real sockets: lists, subscriptions, snapshots, updates,
trades, errors, tokens, health and metrics."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

import aiohttp
import orjson
import pytest

from marketstreams import Updater
from marketstreams.proxy import Proxy

from .conftest import GUARD, Harness


async def test_hello_list_subscribe_snapshot_update_trades(harness: Harness) -> None:
    pub = harness.publisher
    pub.book("luno", "XBTZAR")
    pub.book("bitmex", "XBTUSD")
    client = await harness.connect()
    hello = client.by_type["hello"][0]
    assert hello["protocol"] == 1 and hello["depth"] == 3
    assert hello["limits"]["max_pending_seconds"] > 0

    await client.send({"op": "list", "id": "l1"})
    await client.until(lambda: any(m.get("id") == "l1" for m in client.by_type["books"]))
    listing = next(m for m in client.by_type["books"] if m.get("id") == "l1")
    assert [b["book"] for b in listing["books"]] == ["bitmex:XBTUSD", "luno:XBTZAR"]
    assert {b["kind"] for b in listing["books"]} == {"orderbook"}

    await client.send({"op": "subscribe", "books": ["luno:XBTZAR"], "id": 5})
    sub = await client.next_of("subscribed")
    assert sub == {"type": "subscribed", "id": 5, "books": ["luno:XBTZAR"], "total": 1}
    snap = await client.next_of("snapshot")
    assert snap["book"] == "luno:XBTZAR" and snap["venue"] == "luno" and snap["valid"] is True
    # top `depth` levels, best first, exact decimals written digit for digit
    assert snap["bids"] == [[100, 1.5], [99, 2.5], [98, 3.5]]
    assert snap["asks"] == [[101, 2.25], [102, 3.25], [103, 4.25]]

    pub.step("luno:XBTZAR", trades=2)
    pub.step("bitmex:XBTUSD")  # not subscribed: never sent
    update = await client.next_of("update")
    assert update["seq"] == 2 and update["bids"][0] == [100, 2]
    trades = client.by_type["trades"][0]
    assert trades["book"] == "luno:XBTZAR" and [t["size"] for t in trades["trades"]] == [1, 2]
    assert trades["trades"][0]["side"] == "buy" and trades["dropped"] == 0
    assert all(m.get("book") != "bitmex:XBTUSD" for m in client.messages)


async def test_exact_decimals_survive(harness: Harness) -> None:
    book = harness.publisher.book("luno", "ETHZAR")
    book.set_level("ask", Decimal("100.50"), Decimal("0.000001"))
    harness.publisher.step("luno:ETHZAR")
    client = await harness.connect()
    await client.send({"op": "subscribe", "books": ["luno:ETHZAR"]})
    await client.next_of("snapshot")
    raw = next(f for f in client.raw_frames if '"snapshot"' in f)
    assert '"asks":[[100.50,0.000001],' in raw
    parsed = next(
        m for m in orjson.loads(raw) if m["type"] == "snapshot"
    )  # JSON numbers a float parser reads too
    assert parsed["asks"][0] == [100.5, 1e-06]
    assert '"id"' not in raw  # no id asked, none echoed


async def test_many_clients_each_get_every_book_they_subscribed(harness: Harness) -> None:
    pub = harness.publisher
    names = [f"luno:PAIR{i}" for i in range(10)]
    for name in names:
        pub.book(*name.split(":"))
    clients = await asyncio.gather(*(harness.connect() for _ in range(40)))
    wanted = {c: names[i % 10 : i % 10 + 4] or names[:4] for i, c in enumerate(clients)}
    await asyncio.gather(*(harness.subscribed(c, books) for c, books in wanted.items()))
    for rounds in range(1, 21):
        for name in names:
            pub.step(name)
        final = 1 + rounds
        await asyncio.gather(
            *(
                c.until(lambda c=c, b=books, f=final: all(c.latest[x]["seq"] == f for x in b))
                for c, books in wanted.items()
            )
        )
    for c, books in wanted.items():
        seen = {m["book"] for m in c.messages if m["type"] in ("snapshot", "update")}
        assert seen == set(books)  # every subscribed book, nothing else
        for name in books:
            seqs = c.seqs(name)
            assert seqs == sorted(seqs) and seqs[-1] == 21  # in order, up to the last one
    assert harness.proxy.hub.metrics()["clients"]["connected"] == 40


async def test_unsubscribe_stops_the_updates(harness: Harness) -> None:
    pub = harness.publisher
    pub.book("luno", "A")
    pub.book("luno", "B")
    client = await harness.connect()
    await harness.subscribed(client, ["luno:A", "luno:B"])
    await client.send({"op": "unsubscribe", "books": ["luno:A", "luno:nope"]})
    reply = await client.next_of("unsubscribed")
    assert reply["books"] == ["luno:A"] and reply["total"] == 1
    before = len(client.seqs("luno:A"))
    pub.step("luno:A")
    pub.step("luno:B")
    await client.until(lambda: client.latest["luno:B"]["seq"] == 2)
    assert len(client.seqs("luno:A")) == before


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2]", "bad_request"),
        ('{"books": ["luno:A"]}', "bad_request"),
        ('{"op": "explode"}', "unknown_op"),
        ('{"op": "subscribe"}', "bad_request"),
        ('{"op": "subscribe", "books": [1, 2]}', "bad_request"),
        ('{"op": "subscribe", "books": []}', "bad_request"),
        ('{"op": "subscribe", "books": ["luno:NOPE"], "id": 9}', "unknown_book"),
        ('{"op": "list", "id": {"x": 1}}', "bad_request"),
    ],
)
async def test_bad_message_gets_an_error_frame_not_a_crash(
    harness: Harness, frame: str, code: str
) -> None:
    harness.publisher.book("luno", "A")
    client = await harness.connect()
    await client.send(frame)
    error = await client.next_of("error")
    assert error["code"] == code and error["message"]
    if code == "unknown_book":
        assert error["books"] == ["luno:NOPE"] and error["id"] == 9
    # the connection is still served
    await client.send({"op": "ping", "id": "after"})
    pong = await client.next_of("pong")
    assert pong["id"] == "after"
    await harness.subscribed(client, ["luno:A"])
    assert harness.proxy.hub.totals().bad_requests == 1


async def test_oversized_request_closes_only_that_client(harness: Harness) -> None:
    harness.publisher.book("luno", "A")
    big = await harness.connect()
    other = await harness.connect()
    await big.send('{"op":"list","pad":"' + "x" * 100_000 + '"}')
    async with asyncio.timeout(GUARD):
        await big.closed.wait()
    await harness.subscribed(other, ["luno:A"])
    assert big.ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG


async def test_token_is_required_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    token = "tok-3f9a-secret"
    proxy = Proxy(Updater(), port=0, token=token)
    caplog.set_level(logging.DEBUG)
    async with proxy, aiohttp.ClientSession() as session:
        for kw in ({}, {"headers": {"Authorization": "Bearer wrong"}}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await session.ws_connect(proxy.ws_url, **kw)
            assert info.value.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(proxy.ws_url + "?token=tok-3f9a")  # a prefix is not enough
        async with session.get(proxy.url + "metrics") as resp:
            assert resp.status == 401
        ok = [
            await session.ws_connect(proxy.ws_url, headers={"Authorization": f"Bearer {token}"}),
            await session.ws_connect(f"{proxy.ws_url}?token={token}"),
        ]
        for ws in ok:
            hello = orjson.loads((await ws.receive(timeout=GUARD)).data)[0]
            assert hello["type"] == "hello"
            await ws.close()
        async with session.get(
            proxy.url + "metrics", headers={"Authorization": f"Bearer {token}"}
        ) as resp:
            assert resp.status == 200
        assert proxy.hub.refused["token"] == 4
    assert token not in caplog.text and token not in repr(proxy)


async def test_health_and_metrics(harness: Harness) -> None:
    pub = harness.publisher
    pub.book("luno", "A")
    pub.book("bitmex", "XBTUSD").invalidate("gap")
    pub.step("bitmex:XBTUSD")
    client = await harness.connect()
    await harness.subscribed(client, ["luno:A"])
    for _ in range(5):
        pub.step("luno:A", trades=1)
    await client.until(lambda: client.latest["luno:A"]["seq"] == 6)
    session, url = harness.session, harness.proxy.url
    async with session.get(url + "health") as resp:
        health = await resp.json()
        assert resp.status == 200
    assert health["status"] == "degraded" and "bitmex:XBTUSD" in health["problems"][0]
    async with session.get(url + "health?strict=1") as resp:
        assert resp.status == 503
    async with session.get(url + "metrics.json") as resp:
        metrics = await resp.json()
    assert metrics["venues"]["luno"]["updates"] == 6
    assert metrics["venues"]["luno"]["lag"]["count"] == 6
    assert 0.001 <= metrics["venues"]["luno"]["lag"]["p50"] <= 0.003  # received - ts = 2 ms
    assert metrics["clients"]["connected"] == 1
    assert metrics["clients"]["totals"]["trades"] == 5
    async with session.get(url + "metrics") as resp:
        text = await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
    assert 'marketstreams_proxy_updates_total{venue="luno"} 6' in text
    assert "marketstreams_proxy_clients 1" in text
    assert 'marketstreams_proxy_venue_lag_seconds_bucket{venue="luno",le="0.0025"} 6' in text
    assert "# TYPE marketstreams_proxy_conflated_total counter" in text
    # Per-book metrics (marketstreams.metrics) ride along on the same endpoints.
    assert 'marketstreams_book_updates_total{venue="luno",book="A"} 6' in text
    assert "luno:A" in metrics["books"]["books"]


async def test_invalid_book_is_announced_then_resnapshotted(harness: Harness) -> None:
    pub = harness.publisher
    book = pub.book("luno", "A")
    client = await harness.connect()
    await harness.subscribed(client, ["luno:A"])
    pushes = len(client.by_type["books"])
    book.invalidate("sequence gap")
    pub.step("luno:A")
    await client.until(lambda: client.latest["luno:A"]["valid"] is False)
    assert client.latest["luno:A"]["reason"] == "sequence gap"
    await client.until(lambda: len(client.by_type["books"]) > pushes)
    assert client.by_type["books"][-1]["books"][0]["valid"] is False
    book.mark_valid()
    pub.step("luno:A")
    await client.until(lambda: client.latest["luno:A"]["valid"] is True)
    assert client.latest["luno:A"]["type"] == "snapshot"  # replace the view, not patch it

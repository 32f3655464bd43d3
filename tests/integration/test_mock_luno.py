"""The Luno mock server, driven over real sockets by a plain websockets client.

The generator is paused and driven with ``step()`` wherever the order of events matters; a tiny
dict-based book in this file is the reference the server's truth is checked against.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from mock_servers.luno import LunoMockServer, book_digest

PAIR = "XBTZAR"
TIMEOUT = 10.0
KEEPALIVE = '""'  # Luno's keepalive: the two characters, a JSON empty string


class ReferenceBook:
    """Applies Luno frames by the documented rules, refusing anything out of order."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.sequence = int(snapshot["sequence"])
        self.status = snapshot["status"]
        self.orders: dict[str, list[Any]] = {}  # id -> [side, price, volume]
        for side, key in (("BID", "bids"), ("ASK", "asks")):
            for entry in snapshot[key]:
                assert entry["id"] not in self.orders
                self.orders[entry["id"]] = [side, Decimal(entry["price"]), Decimal(entry["volume"])]

    def best(self, side: str) -> Decimal | None:
        prices: list[Decimal] = [price for s, price, _ in self.orders.values() if s == side]
        if not prices:
            return None
        return max(prices) if side == "BID" else min(prices)

    def apply(self, update: dict[str, Any]) -> None:
        sequence = int(update["sequence"])
        assert sequence == self.sequence + 1, (self.sequence, sequence)
        for trade in update["trade_updates"] or ():
            maker = self.orders[trade["maker_order_id"]]
            base = Decimal(trade["base"])
            assert trade["order_id"] == trade["maker_order_id"]
            assert 0 < base <= maker[2]
            assert Decimal(trade["counter"]) == base * maker[1]
            maker[2] -= base
            if maker[2] == 0:
                del self.orders[trade["maker_order_id"]]
        create = update["create_update"]
        if create is not None:
            assert create["order_id"] not in self.orders
            price, volume = Decimal(create["price"]), Decimal(create["volume"])
            assert volume > 0
            opposite = self.best("ASK" if create["type"] == "BID" else "BID")
            if opposite is not None:
                assert price < opposite if create["type"] == "BID" else price > opposite
            self.orders[create["order_id"]] = [create["type"], price, volume]
        delete = update["delete_update"]
        if delete is not None:
            del self.orders[delete["order_id"]]
        if update["status_update"] is not None:
            self.status = update["status_update"]["status"]
        self.sequence = sequence

    def depth(self) -> dict[str, list[list[Decimal]]]:
        levels: dict[str, dict[Decimal, Decimal]] = {"BID": {}, "ASK": {}}
        for side, price, volume in self.orders.values():
            levels[side][price] = levels[side].get(price, Decimal(0)) + volume
        return {
            "bids": [[p, v] for p, v in sorted(levels["BID"].items(), reverse=True)],
            "asks": [[p, v] for p, v in sorted(levels["ASK"].items())],
        }


@pytest.fixture
async def server() -> AsyncIterator[LunoMockServer]:
    mock = LunoMockServer(seed=7, orders=500)
    mock.pause()
    async with mock:
        yield mock


async def recv(ws: ClientConnection) -> str | bytes:
    async with asyncio.timeout(TIMEOUT):
        return await ws.recv()


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    frame = await recv(ws)
    while frame == KEEPALIVE:
        frame = await recv(ws)
    decoded = orjson.loads(frame)
    assert isinstance(decoded, dict)
    return decoded


def stream_url(server: LunoMockServer, pair: str = PAIR) -> str:
    return f"{server.url}/api/1/stream/{pair}"


async def subscribe(
    server: LunoMockServer, pair: str = PAIR, **kwargs: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(stream_url(server, pair), **kwargs)
    await ws.send(orjson.dumps({"api_key_id": "id", "api_key_secret": "secret"}).decode())
    return ws, await recv_json(ws)


async def assert_closed(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as info:
        await recv(ws)
    return info.value


# --- handshake and errors -----------------------------------------------------------------------


async def test_snapshot_is_the_true_book_one_entry_per_order(server: LunoMockServer) -> None:
    ws, snapshot = await subscribe(server)
    async with ws:
        assert list(snapshot) == ["sequence", "asks", "bids", "status", "timestamp"]
        assert isinstance(snapshot["sequence"], str)
        assert int(snapshot["sequence"]) == server.sequence(PAIR)
        assert snapshot["status"] == "ACTIVE"
        assert isinstance(snapshot["timestamp"], int)
        entries = snapshot["asks"] + snapshot["bids"]
        assert len(entries) == 500
        assert len({e["id"] for e in entries}) == 500
        for entry in entries:
            assert set(entry) == {"id", "price", "volume"}
            assert all(isinstance(value, str) for value in entry.values())
            assert Decimal(entry["volume"]) > 0
        asks = [Decimal(e["price"]) for e in snapshot["asks"]]
        bids = [Decimal(e["price"]) for e in snapshot["bids"]]
        assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
        assert bids[0] < asks[0]
        depth = ReferenceBook(snapshot).depth()
        assert depth == server.true_depth(PAIR)
        assert book_digest(depth) == server.digest(PAIR, int(snapshot["sequence"]))
        assert server.connections(PAIR) == 1 and server.connections("ETHZAR") == 0


async def test_wrong_credentials_get_invalid_credentials_then_close() -> None:
    async with LunoMockServer(credentials={"key": "secret"}, orders=50, rate=0) as mock:
        async with connect(stream_url(mock)) as ws:
            await ws.send('{"api_key_id": "key", "api_key_secret": "wrong"}')
            assert await recv_json(ws) == {
                "error_code": "invalid_credentials",
                "error": "you provided an invalid credentials message",
            }
            await assert_closed(ws)
        async with connect(stream_url(mock)) as ws:
            await ws.send("not json")
            assert (await recv_json(ws))["error_code"] == "invalid_credentials"
        async with connect(stream_url(mock)) as ws:
            await ws.send('{"api_key_id": "key", "api_key_secret": "secret"}')
            assert "asks" in await recv_json(ws)


async def test_no_credentials_configured_accepts_an_empty_object(server: LunoMockServer) -> None:
    async with connect(stream_url(server)) as ws:
        # keepalives before the credentials are not the credentials: Luno's, and an empty frame
        await ws.send(KEEPALIVE)
        await ws.send("")
        await ws.send("{}")
        assert int((await recv_json(ws))["sequence"]) == server.sequence(PAIR)


async def test_unknown_pair_gets_invalid_market(server: LunoMockServer) -> None:
    async with connect(stream_url(server, "NOPEUSDT")) as ws:
        assert await recv_json(ws) == {"error_code": "invalid_market", "error": "NOPEUSDT"}
        await assert_closed(ws)


async def test_other_paths_are_404(server: LunoMockServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        await connect(f"{server.url}/api/1/userstream")
    assert info.value.response.status_code == 404


async def test_silent_client_gets_auth_timeout() -> None:
    async with LunoMockServer(orders=10, rate=0, auth_timeout=0.2) as mock:
        async with connect(stream_url(mock)) as ws:
            assert await recv_json(ws) == {
                "error_code": "auth_timeout",
                "error": "you took too long to provide credentials",
            }
            await assert_closed(ws)


# --- the update stream --------------------------------------------------------------------------


async def test_updates_replayed_naively_reach_the_truth(server: LunoMockServer) -> None:
    ws, snapshot = await subscribe(server)
    book = ReferenceBook(snapshot)
    first = book.sequence
    seen = {"multi_maker": 0, "partial": 0, "taker_rests": 0, "empty": 0, "status": 0}
    async with ws:
        await server.step(3000, PAIR)
        while book.sequence < server.sequence(PAIR):
            update = await recv_json(ws)
            assert list(update) == [
                "sequence",
                "trade_updates",
                "create_update",
                "delete_update",
                "status_update",
                "timestamp",
            ]
            trades = update["trade_updates"]
            volumes = {t["maker_order_id"]: book.orders[t["maker_order_id"]][2] for t in trades}
            book.apply(update)
            seen["multi_maker"] += len({t["maker_order_id"] for t in trades}) > 1
            seen["partial"] += any(m in book.orders for m in volumes)
            if trades:
                assert update["delete_update"] is None  # filled makers just disappear
                assert len({t["taker_order_id"] for t in trades}) == 1
                taker = trades[0]["taker_order_id"]
                create = update["create_update"]
                seen["taker_rests"] += create is not None and create["order_id"] == taker
                sequences = [t["sequence"] for t in trades]
                assert all(isinstance(s, int) for s in sequences)
                assert sequences == list(range(sequences[0], sequences[0] + len(trades)))
            seen["empty"] += not any(update[k] for k in list(update)[1:5])
            seen["status"] += update["status_update"] is not None
            if book.sequence % 250 == 0:
                assert book_digest(book.depth()) == server.digest(PAIR, book.sequence)
        assert book.sequence == first + 3000
        assert book.depth() == server.true_depth(PAIR)
        assert book_digest(book.depth()) == server.digest(PAIR, book.sequence)
    assert all(count > 0 for count in seen.values()), seen
    assert server.updates_generated == 3000


async def test_background_generator_streams_consecutive_sequences() -> None:
    async with LunoMockServer(pairs=["ETHZAR"], orders=300, rate=500, seed=3) as mock:
        ws, snapshot = await subscribe(mock, "ETHZAR")
        book = ReferenceBook(snapshot)
        async with ws:
            for _ in range(100):
                book.apply(await recv_json(ws))
            mock.pause()
            while book.sequence < mock.sequence("ETHZAR"):
                book.apply(await recv_json(ws))
            assert book.depth() == mock.true_depth("ETHZAR")


async def test_every_client_gets_the_same_updates_and_a_late_snapshot_is_exact(
    server: LunoMockServer,
) -> None:
    first, snapshot_a = await subscribe(server)
    await server.step(40, PAIR)
    second, snapshot_b = await subscribe(server)
    assert int(snapshot_b["sequence"]) == int(snapshot_a["sequence"]) + 40
    late = ReferenceBook(snapshot_b)
    assert book_digest(late.depth()) == server.digest(PAIR, late.sequence)
    await server.step(20, PAIR)
    async with first, second:
        stream_a = [await recv_json(first) for _ in range(60)]
        stream_b = [await recv_json(second) for _ in range(20)]
    assert stream_b == stream_a[40:]
    for update in stream_b:
        late.apply(update)
    assert late.depth() == server.true_depth(PAIR)


async def test_digest_is_kept_for_past_sequences_only(server: LunoMockServer) -> None:
    before = server.sequence(PAIR)
    digest_before = server.digest(PAIR, before)
    await server.step(10, PAIR)
    assert server.digest(PAIR, before) == digest_before
    assert server.digest(PAIR, before + 10) == book_digest(server.true_depth(PAIR))
    assert server.digest(PAIR, before + 11) is None
    assert server.digest(PAIR, before - 1) is None  # before the first recorded update


async def test_client_keepalives_are_ignored_and_quiet_pairs_get_keepalives() -> None:
    async with LunoMockServer(pairs=[PAIR], orders=20, keepalive_interval=0.05) as mock:
        mock.pause()
        ws, snapshot = await subscribe(mock)
        async with ws:
            assert await recv(ws) == KEEPALIVE  # the two characters, as Luno sends them
            await ws.send(KEEPALIVE)
            await ws.send("")
            await mock.step(1)
            assert int((await recv_json(ws))["sequence"]) == int(snapshot["sequence"]) + 1


def test_book_digest_normalises_decimals() -> None:
    a = {"bids": [[Decimal("1.20"), Decimal("0.10")]], "asks": [[Decimal("2"), Decimal("1")]]}
    b = {"bids": [[Decimal("1.2"), Decimal("0.1")]], "asks": [[Decimal("2.00"), Decimal("1.0")]]}
    c = {"bids": [[Decimal("1.2"), Decimal("0.1")]], "asks": [[Decimal("2.00"), Decimal("1.1")]]}
    assert book_digest(a) == book_digest(b) != book_digest(c)


async def test_same_seed_same_market() -> None:
    one, two, other = (LunoMockServer(seed=s, orders=200) for s in (5, 5, 6))
    for mock in (one, two, other):
        await mock.step(300)
    for pair in ("XBTZAR", "ETHZAR"):
        assert one.sequence(pair) == two.sequence(pair)
        assert one.true_depth(pair) == two.true_depth(pair)
        assert one.true_depth(pair) != other.true_depth(pair)


# --- fault switches -----------------------------------------------------------------------------


async def test_inject_gap_skips_exactly_one_sequence(server: LunoMockServer) -> None:
    ws, snapshot = await subscribe(server)
    start = int(snapshot["sequence"])
    async with ws:
        server.inject_gap(PAIR)
        await server.step(3, PAIR)
        received = [int((await recv_json(ws))["sequence"]) for _ in range(2)]
    assert received == [start + 2, start + 3]


async def test_drop_aborts_without_a_close_frame(server: LunoMockServer) -> None:
    ws, _ = await subscribe(server)
    other, _ = await subscribe(server, "ETHZAR")
    async with ws, other:
        await server.drop(PAIR)
        closed = await assert_closed(ws)
        assert isinstance(closed, ConnectionClosedError)
        assert closed.rcvd is None
        assert server.connections(PAIR) == 0
        assert server.connections("ETHZAR") == 1


async def test_send_malformed_sends_one_non_json_frame(server: LunoMockServer) -> None:
    ws, snapshot = await subscribe(server)
    async with ws:
        server.send_malformed(PAIR)
        await server.step(1, PAIR)
        junk = await recv(ws)
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(junk)
        assert int((await recv_json(ws))["sequence"]) == int(snapshot["sequence"]) + 1


async def test_send_error_sends_the_frame_then_closes(server: LunoMockServer) -> None:
    ws, _ = await subscribe(server)
    async with ws:
        server.send_error("internal", "something broke")
        assert await recv_json(ws) == {"error_code": "internal", "error": "something broke"}
        await assert_closed(ws)


async def test_silence_sends_nothing_and_the_missed_updates_are_lost() -> None:
    async with LunoMockServer(pairs=[PAIR], orders=50, keepalive_interval=0.2) as mock:
        mock.pause()
        ws, snapshot = await subscribe(mock)
        start = int(snapshot["sequence"])
        loop = asyncio.get_running_loop()
        async with ws:
            began = loop.time()
            mock.silence(0.3)
            sent = mock.frames_sent
            await mock.step(3)
            # The first frame after the silence is a keepalive: the three updates are gone.
            while True:
                frame = await recv(ws)
                assert frame == KEEPALIVE
                if loop.time() - began >= 0.3:
                    break
            assert mock.frames_sent == sent + 1  # nothing at all went out meanwhile
            await mock.step(1)
            assert int((await recv_json(ws))["sequence"]) == start + 4


async def test_snapshot_padding_makes_a_frame_over_two_mebibytes() -> None:
    padding = 2 * 1024 * 1024 + 1
    async with LunoMockServer(pairs=[PAIR], rate=0, snapshot_padding_bytes=padding) as mock:
        async with connect(stream_url(mock), max_size=4 * 1024 * 1024) as ws:
            await ws.send("{}")
            frame = await recv(ws)
        assert len(frame) > padding
        snapshot = orjson.loads(frame)
        book = ReferenceBook(snapshot)
        assert book_digest(book.depth()) == mock.digest(PAIR, book.sequence)


# --- the command line ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT delivery")
async def test_command_line_announces_its_url_and_exits_zero_on_ctrl_c() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mock_servers.luno",
        "--port",
        "0",
        "--orders",
        "100",
        "--pairs",
        PAIR,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT):
            line = (await process.stdout.readline()).decode()
        assert line.startswith("luno mock listening on ws://127.0.0.1:")
        async with connect(line.split()[-1] + f"/api/1/stream/{PAIR}") as ws:
            await ws.send("{}")
            assert "bids" in await recv_json(ws)
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(TIMEOUT):
            assert await process.wait() == 0

"""The Cython twins of the crypto paper matcher: built and used (CI builds them), never used
when built from another source, and giving the pure-Python reference's results."""

from __future__ import annotations

import importlib
import logging
import os
import pickle
import subprocess
import sys
from decimal import Decimal as D
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketstreams import _twins
from marketstreams.book import LevelWatch, OrderBook
from marketstreams.models import Trade
from marketstreams.simulation import _pycrypto, _pycryptomarket, crypto, cryptomarket
from marketstreams.venues.luno.protocol import LunoBook

try:
    from marketstreams.simulation import _ccrypto
except ImportError:
    _ccrypto = None  # type: ignore[assignment]

needs_twin = pytest.mark.skipif(
    _ccrypto is None, reason="the Cython twins are not built (pip install -e . with Cython)"
)


def test_crypto_twins_are_built_and_used() -> None:
    if _twins.pure_python_forced():
        assert crypto.COMPILED is False and crypto.CryptoMatcher is _pycrypto.CryptoMatcher
        assert cryptomarket.COMPILED is False
        assert cryptomarket.CryptoPaper is _pycryptomarket.CryptoPaper
        return
    # CI and `./dev` build them; falling back silently would hide the slowdown
    assert crypto.COMPILED, "the crypto matcher's Cython twin is not built: pip install -e ."
    assert cryptomarket.COMPILED
    assert crypto.CryptoMatcher.__module__ == "marketstreams.simulation._ccrypto"
    assert cryptomarket.CryptoPaper.__module__ == "marketstreams.simulation._ccryptomarket"
    # the compiled market code makes compiled matchers
    book = OrderBook("bitmex", "XBTUSD")
    handler = cryptomarket.CryptoPaper([]).market(book)
    assert type(handler.matcher) is crypto.CryptoMatcher
    assert crypto.__all__ == [*_pycrypto.__all__, "COMPILED"]


def fake_package(tmp_path: Path, name: str, digest_of: str | None) -> Any:
    """A package with a pure module and a stand-in twin (plain Python) carrying the digest of
    ``digest_of`` (the pure source when None)."""
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    pure = pkg / "_pyfoo.py"
    pure.write_text("VALUE = 'pure'\n")
    digest = _twins.source_digest(pure) if digest_of is None else digest_of
    (pkg / "_cfoo.py").write_text(f"VALUE = 'twin'\nSOURCE_DIGEST = {digest!r}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(f"{name}._pyfoo")
    finally:
        sys.path.remove(str(tmp_path))


def test_a_twin_of_this_source_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETSTREAMS_PURE_PYTHON", raising=False)
    pure = fake_package(tmp_path, "twinpkg_same", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    module, compiled = _twins.twin(pure, "_cfoo")
    assert compiled and module.VALUE == "twin"


def test_a_twin_built_from_another_source_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An edit of the pure source after the build: the stale twin is refused, with a warning
    that says how to rebuild it."""
    monkeypatch.delenv("MARKETSTREAMS_PURE_PYTHON", raising=False)
    pure = fake_package(tmp_path, "twinpkg_stale", "0" * 64)
    monkeypatch.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="marketstreams"):
        module, compiled = _twins.twin(pure, "_cfoo")
    assert not compiled and module is pure and module.VALUE == "pure"
    assert "built from another version of _pyfoo.py" in caplog.text
    assert "reinstall" in caplog.text


def test_no_twin_or_pure_python_forced_gives_the_pure_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pure = fake_package(tmp_path, "twinpkg_forced", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("MARKETSTREAMS_PURE_PYTHON", "1")
    assert _twins.twin(pure, "_cfoo") == (pure, False)
    monkeypatch.setenv("MARKETSTREAMS_PURE_PYTHON", "0")  # "0" is not forcing it
    assert _twins.twin(pure, "_cfoo")[1] is True
    assert _twins.twin(pure, "_missing") == (pure, False)


# -- the twin gives the reference's results ----------------------------------------------------

PRICES = [98.0, 99.0, 100.0, 101.0, 102.0]
events = st.lists(
    st.tuples(
        st.sampled_from(["level", "level", "trade", "trade", "place", "market", "cancel", "copy"]),
        st.sampled_from(["bid", "ask"]),
        st.sampled_from(PRICES),
        st.integers(0, 30),
    ),
    max_size=100,
)


def state(matcher: Any) -> list[Any]:
    out: list[Any] = [
        (
            o.order_id,
            o.status,
            o.reason,
            o.filled,
            o.average_price,
            o.fees,
            o.queue_ahead,
            [(f.price, f.size, f.fee, f.liquidity, f.at) for f in o.fills],
        )
        for o in matcher.orders
    ]
    out.append(sorted((k, p.quantity, p.realised, p.fees) for k, p in matcher.positions.items()))
    return out


@needs_twin
@settings(max_examples=200, deadline=None)
@given(events, st.booleans())
def test_bitmex_twin_matches_the_pure_matcher(
    steps: list[tuple[str, str, float, int]], reports: bool
) -> None:
    """Random level changes, trades, limit and market orders, cancels and copied books on a
    level book (with and without a LevelWatch): the compiled matcher's orders, fills, fees,
    queues and positions are the pure one's after every step."""
    book = OrderBook("bitmex", "XBTUSD")
    book.bids.update({100.0: 10.0, 99.0: 20.0})
    book.asks.update({101.0: 10.0, 102.0: 20.0})
    book.mark_valid()
    book.timestamp = 1000
    if reports:
        book.level_watch = LevelWatch()
    twin = _ccrypto.CryptoMatcher("bitmex", "XBTUSD")  # first: it owns the watch
    pure = _pycrypto.CryptoMatcher("bitmex", "XBTUSD")
    for kind, side, price, n in steps:
        trades: list[Trade] = []
        if kind == "level":
            book.set_level(side, price, float(n))  # type: ignore[arg-type]
        elif kind == "trade":
            taker = "sell" if side == "bid" else "buy"
            trades = [Trade("bitmex", "XBTUSD", taker, price, float(n + 1), timestamp=2000)]
        elif kind in ("place", "market"):
            order_side = "buy" if side == "bid" else "sell"
            order_type = "limit" if kind == "place" else "market"
            for m in (twin, pure):
                m.place("s", book, order_side, n + 1, price, order_type)
        elif kind == "cancel":
            for m in (twin, pure):
                if m.open:
                    m.cancel(m.open[n % len(m.open)])
        else:
            book = book.copy()
        if kind not in ("place", "market", "cancel"):
            assert [o.order_id for o in twin.update(book, trades)] == [
                o.order_id for o in pure.update(book, trades)
            ]
        assert state(pure) == state(twin)
    twin.update(book, [])
    pure.update(book, [])
    assert state(pure) == state(twin)
    if twin.open and book.level_watch is not None:
        assert twin._level_watch is book.level_watch  # the twin's fast path was the one run


@needs_twin
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "add", "trade", "trade", "place", "cancel"]),
            st.sampled_from(["bid", "ask"]),
            st.integers(98, 102),
            st.integers(1, 9),
        ),
        max_size=80,
    )
)
def test_luno_twin_matches_the_pure_matcher(steps: list[tuple[str, str, int, int]]) -> None:
    """Random orders joining and trading on an order-level book, paper orders placed and
    cancelled: the compiled matcher's exact queues give the pure one's fills."""
    book = LunoBook("luno", "XBTZAR")
    book.mark_valid()
    book.timestamp = 1000
    pure = _pycrypto.CryptoMatcher("luno", "XBTZAR")
    twin = _ccrypto.CryptoMatcher("luno", "XBTZAR")
    n_ids = 0
    for kind, side, tick, n in steps:
        price = D(tick)
        trades: list[Trade] = []
        if kind == "add":
            n_ids += 1
            book.orders[f"o{n_ids}"] = [side, price, D(n)]
            book.add_volume(side, price, D(n))  # type: ignore[arg-type]
        elif kind == "trade":
            makers = [oid for oid, o in book.orders.items() if o[0] == side and o[1] == price]
            if not makers:
                continue
            maker = makers[0]
            volume = book.orders[maker][2]
            base = min(volume, D(n))
            book.add_volume(side, price, -base)  # type: ignore[arg-type]
            if base == volume:
                del book.orders[maker]
            else:
                book.orders[maker][2] = volume - base
            taker = "buy" if side == "ask" else "sell"
            trades = [
                Trade("luno", "XBTZAR", taker, price, base, maker_order_id=maker, timestamp=2000)
            ]
        elif kind == "place":
            for m in (pure, twin):
                m.place("s", book, "buy" if side == "bid" else "sell", D(n) / 10, price)
            continue
        else:
            for m in (pure, twin):
                if m.open:
                    m.cancel(m.open[n % len(m.open)])
            continue
        assert [o.order_id for o in pure.update(book, trades)] == [
            o.order_id for o in twin.update(book, trades)
        ]
        assert state(pure) == state(twin)
        for a, b in zip(pure.open, twin.open, strict=True):
            assert pure.queue(a, book) == twin.queue(b, book)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@needs_twin
def test_twin_takes_the_arguments_the_pure_module_takes() -> None:
    """The annotations are for mypy: the twin does not enforce them. A str subclass as a side
    (an enum, numpy's str), a tuple of strategies and a truthy int flag work in both."""
    import numpy as np

    for module in (_pycrypto, _ccrypto):
        book = OrderBook("bitmex", "XBTUSD")
        book.bids.update({100.0: 10.0})
        book.asks.update({101.0: 10.0})
        book.mark_valid()
        m = module.CryptoMatcher("bitmex", "XBTUSD", exact=0)
        a = m.place("s", book, Side.BUY, 1, 99.0)
        b = m.place("s", book, np.str_("sell"), 1, 102.0, np.str_("limit"))
        assert (a.status, b.status) == ("open", "open"), module.__name__
        assert m.position("s").quantity == 0
    for market in (_pycryptomarket, cryptomarket):
        assert market.CryptoPaper(()).strategies == ()


def test_pickles_load_as_the_loading_process_class() -> None:
    """Orders, fills, fees and positions pickle by the selector module: a pickle made with the
    compiled matcher loads in a process on the pure one (and the other way round) as that
    process's classes, equal field by field (results cross processes in parallel runs)."""
    book = OrderBook("bitmex", "XBTUSD")
    book.bids.update({100.0: 10.0})
    book.asks.update({101.0: 10.0})
    book.mark_valid()
    m = crypto.CryptoMatcher("bitmex", "XBTUSD")
    taken = m.place("s", book, "buy", 5, 101.0)  # filled at once: a fill and a position
    resting = m.place("s", book, "sell", 2, 103.0)
    data = pickle.dumps([taken, resting, crypto.Fees(0.1, 0.2), m.position("s")])
    assert b"_ccrypto" not in data and b"_pycrypto" not in data
    other = dict(os.environ)
    if _twins.pure_python_forced():
        other.pop("MARKETSTREAMS_PURE_PYTHON")
    else:
        other["MARKETSTREAMS_PURE_PYTHON"] = "1"
    script = (
        "import pickle, sys\n"
        "from marketstreams.simulation import crypto\n"
        "taken, resting, fees, pos = pickle.loads(sys.stdin.buffer.read())\n"
        "assert isinstance(taken, crypto.CryptoOrder) and isinstance(resting, crypto.CryptoOrder)\n"
        "assert type(fees) is crypto.Fees and type(pos) is crypto.Position\n"
        "print(crypto.COMPILED, taken.status, taken.filled, taken.fills[0].price, resting.status,"
        " resting.queue_ahead, fees.taker, pos.quantity)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], input=data, env=other, capture_output=True, check=True
    )
    compiled, *fields = out.stdout.decode().split()
    assert compiled == str(not crypto.COMPILED) or _ccrypto is None
    assert fields == ["filled", "5.0", "101.0", "open", "0.0", "0.2", "5.0"]
    # and in this process, the round trip gives this process's classes, equal
    back = pickle.loads(data)
    assert type(back[0]) is crypto.CryptoOrder and back[0].fills == taken.fills
    assert (back[1].price, back[1].size, back[1].status) == (103.0, 2.0, "open")

"""``simulate()``: strategies' simulated orders through :func:`marketstreams.replay`.

One hook object per file (replay copies it for each file, strategies included) holds a
:class:`~.core.MarketSimulator` per market, calls the strategies inside the filter's window and
hands back the file's orders and settled markets from ``result()``. Matching, lapsing and
settlement see every book of a market: the replay is given the filter's market selection only,
and the window (``inplay`` / ``seconds_to_start``) is applied here, to strategy calls.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..replay import FileResult, ReplayFilter, merge_results, replay
from .core import MATCHING_MODES, BetIds, MarketSimulator
from .order import SimulatedOrder
from .result import MarketResult, SimulationResult
from .strategy import SimulatedMarket, Strategy

if TYPE_CHECKING:
    from .crypto import Fees
    from .cryptomarket import CryptoPaper

__all__ = ["simulate"]

logger = logging.getLogger("marketstreams.simulation")


_UNREAD = object()


class _Market:
    """One market in one file: the simulator, each strategy's view of it and bound calls."""

    __slots__ = (
        "calls",
        "closed",
        "crypto",
        "crypto_update",
        "definition",
        "inplay_ok",
        "opens",
        "preplay_ok",
        "sim",
        "views",
    )

    def __init__(
        self, sim: MarketSimulator, views: list[SimulatedMarket], calls: list[Any]
    ) -> None:
        self.sim = sim
        self.views = views
        self.calls = calls  # (strategy, view, strategy.on_market_book)
        self.closed = False
        self.crypto: Any = None  # a Luno / BitMEX market's handler (cryptomarket.py)
        self.crypto_update: Any = None  # its per-update call (a bound method: the fast path)
        self.definition: Any = _UNREAD  # the definition `opens` was read from
        self.opens: float | None = None  # publish time (ms) the seconds_to_start window opens
        self.inplay_ok = self.preplay_ok = True  # the window lets in-play / pre-play books in


class _SimulationHook:
    """The replay hook of one simulation (copied by replay for each file)."""

    def __init__(
        self,
        strategies: list[Strategy],
        window: ReplayFilter | None,
        commission: float | None,
        matching: str,
        fees: Mapping[str, Fees] | None = None,
    ) -> None:
        self.strategies = strategies
        self.fees = fees
        self.crypto: CryptoPaper | None = None  # made at the first crypto book
        self._invalid = 0  # invalid books seen outside crypto markets (not matched)
        self.window = window
        self.commission = commission
        self.matching = matching
        self.markets: dict[str, _Market] = {}
        self.results: list[MarketResult] = []
        self.errors = 0
        self.started = False
        self.ids = BetIds()  # bet ids within the file (renumbered across files)
        # Markets past the window for good (in play, the window pre-play only) with no order
        # that prices can still change: replay reads their lines without decoding them, except
        # definitions (removals, settlement). Only when no strategy reads books after the
        # window (on_market_closed / on_order_update overridden): those would see old prices.
        self.quiet_markets: set[str] = set()
        # Before its window, a market with no order needs no book until the window opens or a
        # definition comes: market id -> that publish time (ms), for replay (see _Market).
        self.idle_until: dict[str, float] = {}
        self._may_quiet = (
            window is not None
            and window.inplay is False
            and not any(_overrides(s, "on_market_closed", "on_order_update") for s in strategies)
        )
        self.__qualname__ = "simulate"  # the name replay logs for this hook

    def _fail(self, strategy: Strategy, what: str, market_id: str) -> None:
        self.errors += 1
        n = self.errors
        if n == 1:
            logger.exception("strategy %s raised in %s on %s", strategy.name, what, market_id)
        elif n & (n - 1) == 0:
            logger.error("strategies have raised %d times (first traceback logged above)", n)

    def _start(self) -> None:
        self.started = True
        for s in self.strategies:
            try:
                s.on_start()
            except Exception:
                self._fail(s, "on_start", "-")

    def _new_market(self, book: Any) -> _Market:
        if not self.started:
            self._start()
        sim = MarketSimulator(book.market, matching=self.matching, ids=self.ids)
        views = [SimulatedMarket(sim, s, book) for s in self.strategies]
        calls = [(s, v, s.on_market_book) for s, v in zip(self.strategies, views, strict=True)]
        market = self.markets[book.market] = _Market(sim, views, calls)
        if getattr(book, "venue", None) != "betfair":
            # a Luno / BitMEX recording: its books go to the crypto core (cryptomarket.py)
            market.closed = True
            if self.crypto is None:
                from .cryptomarket import CryptoPaper

                self.crypto = CryptoPaper(self.strategies, self.fees)
            market.crypto = self.crypto.market(book)
            market.crypto_update = market.crypto.update
        return market

    @property
    def invalid(self) -> int:
        """Invalid books seen (none was matched or shown to a strategy)."""
        crypto = self.crypto
        return self._invalid + (crypto.invalid if crypto is not None else 0)

    def _read_window(self, market: _Market, md: dict[str, Any] | None) -> None:
        """The window for this market's definition: ReplayFilter.in_window's rules, reduced to
        two flags and the publish time the seconds_to_start window opens."""
        window = self.window
        assert window is not None
        market.definition = md
        secs = window.seconds_to_start
        market.inplay_ok = window.inplay is not False and secs is None
        market.preplay_ok = window.inplay is not True
        market.opens = None
        if secs is not None:
            start = _start_ms(md)
            if start is None:
                market.preplay_ok = False
            else:
                market.opens = start - secs * 1000.0

    def __call__(self, book: Any, trades: Any) -> None:
        market = self.markets.get(book.market)
        if market is not None:
            crypto_update = market.crypto_update
            if crypto_update is not None:
                # a Luno / BitMEX market: its handler does all (an invalid book included)
                crypto_update(book, trades)
                return
            # before the publish time idle_until holds, with the same definition object and
            # no order, a book needs nothing (no strategy call before the window, no match)
            until = self.idle_until.get(book.market)
            if (
                until is not None
                and book.market_definition is market.definition
                and book.is_valid
                and book.publish_time is not None
                and book.publish_time < until
            ):
                return  # the fast way out for most books before the window
        if not book.is_valid:
            # a recorded or live feed resynchronising: nothing is matched against that book,
            # no strategy sees it; orders wait for the next valid book
            self._invalid += 1
            return
        if market is None:
            market = self._new_market(book)
            if market.crypto_update is not None:
                market.crypto_update(book, trades)
                return
        self.idle_until.pop(book.market, None)  # (set again below while it still holds)
        if market.closed:
            return
        sim = market.sim
        # a market without orders needs nothing of the simulator until it closes
        active = sim.orders
        go = True
        if active or book.status == "CLOSED":
            sim.update(book)
            if sim.changed:
                self._order_updates(market, book)
            if sim.closed:
                market.closed = True
                self._closed(market, book)
                return
        if self.window is not None:
            if book.market_definition is not market.definition:
                self._read_window(market, book.market_definition)
                if not book.inplay:  # (back out of play: a definition is always read)
                    self.quiet_markets.discard(book.market)
            if book.inplay:
                if not market.inplay_ok:
                    go = False
                    if self._may_quiet and sim.idle:
                        self.quiet_markets.add(book.market)
            elif not market.preplay_ok:
                go = False
            else:
                opens = market.opens
                pt = book.publish_time
                if opens is not None and (pt is None or pt < opens):
                    go = False
                    if not sim.orders and book.status != "CLOSED":
                        self.idle_until[book.market] = opens
        if go:
            for strategy, view, call in market.calls:
                view.book = book
                try:
                    call(view, book)
                except Exception:
                    self._fail(strategy, "on_market_book", book.market_id)
        if sim.orders:
            sim.commit(book)

    def _order_updates(self, market: _Market, book: Any) -> None:
        seen: set[int] = set()
        for order in market.sim.changed:
            if id(order) in seen:
                continue
            seen.add(id(order))
            for strategy, view in zip(self.strategies, market.views, strict=True):
                if order.strategy == strategy.name:
                    view.book = book
                    try:
                        strategy.on_order_update(view, order)
                    except Exception:
                        self._fail(strategy, "on_order_update", order.market_id)

    def _closed(self, market: _Market, book: Any) -> None:
        md = book.market_definition or {}
        rate = self.commission
        if rate is None:
            base = md.get("marketBaseRate")
            rate = float(base) / 100.0 if isinstance(base, int | float) else 0.0
        for strategy, view in zip(self.strategies, market.views, strict=True):
            view.book = book
            if view.orders:
                self.results.append(
                    MarketResult.of(strategy.name, book, view.orders, rate, book.publish_time)
                )
            try:
                strategy.on_market_closed(view, book)
            except Exception:
                self._fail(strategy, "on_market_closed", book.market_id)

    def result(self) -> dict[str, Any]:
        """The file's orders (placement order), settled markets and strategies' results."""
        orders: list[SimulatedOrder] = []
        for market in self.markets.values():
            if not market.closed:  # the file ended before the market closed
                market.sim.finish()
            orders.extend(market.sim.orders)
        own: dict[str, Any] = {}
        for s in self.strategies:
            try:
                own[s.name] = s.result()
            except Exception:
                self._fail(s, "result", "-")
                own[s.name] = None
        crypto = self.crypto
        return {
            "orders": orders,
            "markets": self.results,
            "results": own,
            "errors": self.errors + (crypto.errors if crypto else 0),
            "crypto_orders": crypto.orders() if crypto else [],
            "positions": crypto.positions() if crypto else [],
        }


def _overrides(strategy: Strategy, *names: str) -> bool:
    """Whether the strategy's class overrides any of these Strategy methods."""
    cls = type(strategy)
    return any(getattr(cls, n, None) is not getattr(Strategy, n) for n in names)


def _start_ms(md: dict[str, Any] | None) -> int | None:
    value = md.get("marketTime") if md else None
    if not value:
        return None
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def _strategy_list(strategies: Strategy | Iterable[Strategy]) -> list[Strategy]:
    items = [strategies] if isinstance(strategies, Strategy) else list(strategies)
    if not items:
        raise ConfigurationError("simulate needs at least one strategy")
    names: set[str] = set()
    for s in items:
        if not callable(getattr(s, "on_market_book", None)):
            raise ConfigurationError(f"{s!r} is not a Strategy (no on_market_book)")
        name = getattr(s, "name", None) or type(s).__name__
        if name in names:
            raise ConfigurationError(
                f"two strategies are named {name!r}: give each its own name (Strategy(name=...))"
            )
        names.add(name)
    return items


def simulate(
    sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    strategies: Strategy | Iterable[Strategy],
    *,
    market_filter: ReplayFilter | dict[str, Any] | None = None,
    workers: int = 1,
    executor: cf.Executor | None = None,
    commission: float | None = None,
    progress: Callable[[FileResult, int, int], None] | None = None,
    matching: str = "flumine",
    strict: bool = False,
    fees: Mapping[str, Fees] | None = None,
) -> SimulationResult:
    """Backtest ``strategies`` on Betfair historical files: their orders matched against the
    replayed markets, settled, with commission.

    ``sources``, ``market_filter``, ``workers``, ``executor``, ``progress`` and ``strict`` work
    as in :func:`marketstreams.replay` (several strategies share one pass over the data). The
    filter's window (``inplay`` / ``seconds_to_start``) limits the strategies' calls only:
    matching, lapsing and settlement see the whole market. ``commission``: None charges each
    market's ``marketBaseRate``, a number that rate (0.05 = 5 %), on each strategy's net
    winnings per market. ``matching``: "flumine" (flumine 3.3's rules) or "queue" (see
    :mod:`marketstreams.simulation.core`). Recordings of Luno and BitMEX feeds are matched by
    the crypto core (:class:`~marketstreams.simulation.crypto.CryptoMatcher`, ``fees`` per venue):
    their orders and positions are in ``crypto_orders`` and ``positions``.
    """
    started = time.perf_counter()
    if matching not in MATCHING_MODES:
        raise ConfigurationError(f"matching must be one of {MATCHING_MODES}, not {matching!r}")
    if commission is not None and not 0.0 <= commission < 1.0:
        raise ConfigurationError("commission is a rate between 0 and 1 (0.05 = 5 %)")
    items = _strategy_list(strategies)
    flt = ReplayFilter.make(**market_filter) if isinstance(market_filter, dict) else market_filter
    window = flt if flt is not None and flt.has_window else None
    select: ReplayFilter | None = None
    if flt is not None:
        select = dataclasses.replace(flt, inplay=None, seconds_to_start=None)
        if select == ReplayFilter():
            select = None
    hook = _SimulationHook(items, window, commission, matching, fees)
    rr = replay(
        sources,
        [hook],
        market_filter=select,
        workers=workers,
        executor=executor,
        progress=progress,
        strict=strict,
        reducer=lambda values: None,  # per-file results are merged below, in file order
    )
    orders: list[SimulatedOrder] = []
    markets: list[MarketResult] = []
    crypto_orders: list[Any] = []
    positions: list[dict[str, Any]] = []
    per_strategy: dict[str, list[Any]] = {s.name: [] for s in items}
    errors = 0
    for fr in rr.files:
        payload = fr.results[0] if fr.results else None
        if not isinstance(payload, dict):
            continue
        _renumber(payload["orders"], len(orders))
        orders.extend(payload["orders"])
        markets.extend(payload["markets"])
        crypto_orders.extend(payload.get("crypto_orders", ()))
        positions.extend(payload.get("positions", ()))
        errors += int(payload["errors"])
        for name, value in payload["results"].items():
            per_strategy.setdefault(name, []).append(value)
    return SimulationResult(
        orders=orders,
        markets=markets,
        files=rr.files,
        errors=rr.errors,
        results={name: merge_results(values) for name, values in per_strategy.items()},
        strategy_errors=errors,
        lines=rr.lines,
        seconds=time.perf_counter() - started,
        strategies=[s.name for s in items],
        crypto_orders=crypto_orders,
        positions=positions,
    )


def _renumber(orders: list[SimulatedOrder], offset: int) -> None:
    """Bet ids numbered across the whole run (1, 2, ... in placement order, files in source
    order), so they do not depend on how files were spread over workers."""
    ids: dict[str, str] = {}
    for i, order in enumerate(orders, offset + 1):
        ids[order.bet_id] = str(i)
    for order in orders:
        order.bet_id = ids[order.bet_id]
        order.trade_id = ids.get(order.trade_id, order.trade_id)

"""Betfair books: :class:`MarketBook` / :class:`RunnerBook` (market stream) and
:class:`OrderMarket` / :class:`OrderRunner` / :class:`Order` (order stream).

These objects *are* the cache's state: :class:`~marketstreams.venues.betfair.cache.MarketCache`
mutates them in place and hands the same objects back after every message, so reading a book is
cheap and nothing is copied per message. Ladders are plain dicts keyed by price (or by level for
the level-based ``batb``/``batl``/``bdatb``/``bdatl``); the sorted ``(price, size)`` lists are
built only when read and cached until the ladder next changes. Call :meth:`MarketBook.snapshot`
for an independent plain-data copy to keep across messages.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from ...models import BookKind
from .core import BATB, BATL, BDATB, BDATL, SPB, SPL, TRD, RunnerCore

__all__ = [
    "MarketBook",
    "Order",
    "OrderMarket",
    "OrderRunner",
    "PriceSize",
    "RunnerBook",
    "StartingPrice",
]

PriceSize = tuple[float, float]

_NO_PRIORITY = 1 << 30


def _desc(ladder: dict[float, float]) -> list[PriceSize]:
    return [(p, s) for p in sorted(ladder, reverse=True) if (s := ladder[p])]


def _asc(ladder: dict[float, float]) -> list[PriceSize]:
    return [(p, s) for p in sorted(ladder) if (s := ladder[p])]


class StartingPrice:
    """Betfair starting price data of one runner (``sp`` on :class:`RunnerBook`)."""

    __slots__ = ("_runner",)

    def __init__(self, runner: RunnerBook) -> None:
        self._runner = runner

    @property
    def near(self) -> float | None:
        """Projected SP from back and lay offers on both exchanges (``spn``); may be NaN/inf."""
        return self._runner.sp_near  # type: ignore[no-any-return]

    @property
    def far(self) -> float | None:
        """Projected SP from SP bets only (``spf``); may be NaN or infinity."""
        return self._runner.sp_far  # type: ignore[no-any-return]

    @property
    def actual(self) -> float | None:
        """The reconciled starting price (``bsp`` of the runner definition)."""
        return self._runner.bsp

    @property
    def back(self) -> list[PriceSize]:
        """SP back bets (``spb``: lay liability taken), highest price first."""
        return self._runner._ladder(SPB)

    @property
    def lay(self) -> list[PriceSize]:
        """SP lay bets (``spl``: back stake taken), lowest price first."""
        return self._runner._ladder(SPL)

    def __repr__(self) -> str:
        return f"<StartingPrice near={self.near} far={self.far} actual={self.actual}>"


class RunnerBook(RunnerCore):
    """One runner (selection) of a :class:`MarketBook`, keyed by ``(selection_id, handicap)``.

    ``available_to_back`` / ``available_to_lay`` come from the full-depth ladders (``atb``/``atl``,
    EX_ALL_OFFERS) once the stream carried them for this runner, otherwise from the level-based
    best offers (``batb``/``batl``), otherwise from the virtual display ladders. Backs are sorted
    highest price first, lays lowest first; ``traded_volume`` lowest price first.
    ``best_back(n)`` / ``best_lay(n)`` read only the levels they return. Prices and values live
    in the runner core (compiled when built, see :mod:`marketstreams.venues.betfair.core`):
    ``last_price_traded``, ``tv``, ``sp_near``, ``sp_far``, ``full_depth`` and the ladders.
    """

    __slots__ = (
        "adjustment_factor",
        "bsp",
        "definition",
        "handicap",
        "removal_date",
        "selection_id",
        "sort_priority",
        "status",
    )

    def __init__(self, selection_id: int, handicap: float = 0.0) -> None:
        self.selection_id = selection_id
        self.handicap = handicap
        self.status: str | None = None
        self.sort_priority = _NO_PRIORITY
        self.adjustment_factor: float | None = None
        self.removal_date: str | None = None
        self.bsp: float | None = None
        self.definition: dict[str, Any] | None = None

    def _reset(self) -> None:
        self._clear()

    # -- ladders ------------------------------------------------------------------------------

    @property
    def best_available_to_back(self) -> list[PriceSize]:
        """Level-based best offers to back (``batb``, EX_BEST_OFFERS), level 0 first."""
        return self._ladder(BATB)

    @property
    def best_available_to_lay(self) -> list[PriceSize]:
        """Level-based best offers to lay (``batl``, EX_BEST_OFFERS), level 0 first."""
        return self._ladder(BATL)

    @property
    def best_display_available_to_back(self) -> list[PriceSize]:
        """Virtual (display) best offers to back (``bdatb``, EX_BEST_OFFERS_DISP)."""
        return self._ladder(BDATB)

    @property
    def best_display_available_to_lay(self) -> list[PriceSize]:
        """Virtual (display) best offers to lay (``bdatl``, EX_BEST_OFFERS_DISP)."""
        return self._ladder(BDATL)

    @property
    def traded_volume(self) -> list[PriceSize]:
        """Traded volume per price (``trd``), lowest price first."""
        return self._ladder(TRD)

    @property
    def total_matched(self) -> float:
        """Amount matched on this runner.

        The sum of the accumulated traded ladder when the stream carries ``trd`` (right for both
        Betfair's PRO files, whose runner ``tv`` covers one message only, and live streams);
        otherwise the last runner ``tv`` sent; 0.0 before either.
        """
        traded = self._traded()
        if traded is not None:
            return round(traded, 2)
        tv = self.tv
        return 0.0 if tv is None else tv

    @property
    def sp(self) -> StartingPrice:
        """Starting price data (near, far, actual, back and lay ladders)."""
        return StartingPrice(self)

    # -- copies -------------------------------------------------------------------------------

    def copy(self) -> RunnerBook:
        """An independent copy of this runner (same class, same reads)."""
        twin = RunnerBook.__new__(RunnerBook)
        twin.__setstate__(self.__getstate__())
        return twin

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in RunnerBook.__slots__}
        state["_core"] = self._core_state()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in RunnerBook.__slots__:
            setattr(self, name, state[name])
        self._set_core_state(state["_core"])

    def snapshot(self) -> dict[str, Any]:
        """An independent plain-data copy of this runner."""
        return {
            "selection_id": self.selection_id,
            "handicap": self.handicap,
            "status": self.status,
            "last_price_traded": self.last_price_traded,
            "total_matched": self.total_matched,
            "available_to_back": list(self.available_to_back),
            "available_to_lay": list(self.available_to_lay),
            "traded_volume": self.traded_volume,
            "best_available_to_back": self.best_available_to_back,
            "best_available_to_lay": self.best_available_to_lay,
            "best_display_available_to_back": self.best_display_available_to_back,
            "best_display_available_to_lay": self.best_display_available_to_lay,
            "sp": {
                "near": self.sp_near,
                "far": self.sp_far,
                "actual": self.bsp,
                "back": self._ladder(SPB),
                "lay": self._ladder(SPL),
            },
        }

    def __repr__(self) -> str:
        return (
            f"<RunnerBook {self.selection_id} hc={self.handicap} {self.status} "
            f"ltp={self.last_price_traded} back={self.best_back(1)} lay={self.best_lay(1)}>"
        )


class MarketBook:
    """The live state of one Betfair market, as the cache keeps it.

    Satisfies :class:`marketstreams.models.Book`: ``venue`` is ``"betfair"``, ``market`` the
    market id. ``is_valid`` is True from the market's image (or first sight in a file) until the
    connection carrying it drops, and again once the stream has resumed. ``stale`` is True while
    Betfair reports ``status: 503`` (its feed is lagging); ``conflated`` reflects ``con`` on the
    last change. ``runners`` are in sort-priority order.
    """

    venue: str = "betfair"
    kind: ClassVar[BookKind] = "betfair_market"
    received: ClassVar[float | None] = None  # the stream's own time is ``timestamp``

    __slots__ = (
        "_market_tv",
        "_runner_list",
        "_runners",
        "changed_runners",
        "closed_at",
        "conflated",
        "inplay",
        "invalid_reason",
        "is_valid",
        "market",
        "market_definition",
        "market_id",
        "publish_time",
        "stale",
        "status",
        "traded_seen",
        "tv",
    )

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        self.market = market_id
        # The runners the last applied message changed (each once, in the order first met):
        # hooks that only care about what moved read these instead of every runner.
        self.changed_runners: list[RunnerBook] = []
        self.status: str | None = None
        self.inplay: bool | None = None
        self.publish_time: int | None = None
        self.market_definition: dict[str, Any] | None = None
        self.stale = False
        self.conflated = False
        self.is_valid = True
        self.invalid_reason: str | None = None
        self.closed_at: int | None = None  # publish time the market was first seen CLOSED
        self.tv: float | None = None  # the last market ``tv`` the stream sent
        self.traded_seen = False
        self._market_tv: float | None = None
        self._runners: dict[Any, RunnerBook] = {}
        self._runner_list: list[RunnerBook] | None = None

    # -- reads --------------------------------------------------------------------------------

    @property
    def runners(self) -> list[RunnerBook]:
        """Runners in sort-priority order (definition order; first-seen order breaks ties)."""
        cached = self._runner_list
        if cached is None:
            cached = self._runner_list = sorted(
                self._runners.values(), key=lambda r: r.sort_priority
            )
        return cached

    def runner(self, selection_id: int, handicap: float = 0.0) -> RunnerBook:
        """The runner ``(selection_id, handicap)``; KeyError when the market has none such."""
        return self._runners[selection_id if not handicap else (selection_id, handicap)]

    @property
    def total_matched(self) -> float:
        """Amount matched on the market: the sum of the runners' traded ladders when the stream
        carries ``trd``, otherwise the last market ``tv`` sent, else 0.0."""
        if self.traded_seen:
            total = self._market_tv
            if total is None:
                total = self._market_tv = round(
                    sum(r._traded() or 0.0 for r in self._runners.values()), 2
                )
            return total
        return 0.0 if self.tv is None else self.tv

    @property
    def closed(self) -> bool:
        return self.status == "CLOSED"

    @property
    def version(self) -> int | None:
        """The market definition's ``version``."""
        md = self.market_definition
        return None if md is None else md.get("version")

    def _levels(self, back: str, lay: str, levels: int, dtype: Any) -> np.ndarray:
        runners = self.runners
        out = np.full((len(runners), 2, levels, 2), np.nan, dtype=dtype)
        for i, r in enumerate(runners):
            for side, ladder in ((0, getattr(r, back)), (1, getattr(r, lay))):
                for j, (p, s) in enumerate(ladder[:levels]):
                    out[i, side, j, 0] = p
                    out[i, side, j, 1] = s
        return out

    def best_offers_array(self, levels: int = 3, dtype: Any = np.float64) -> np.ndarray:
        """``available_to_back``/``available_to_lay`` of every runner as an array shaped
        ``[runner (sort priority), side (back, lay), level, (price, size)]``, NaN where empty."""
        return self._levels("available_to_back", "available_to_lay", levels, dtype)

    def best_display_array(self, levels: int = 3, dtype: Any = np.float64) -> np.ndarray:
        """The virtual (display) ladders ``bdatb``/``bdatl``, shaped like
        :meth:`best_offers_array`."""
        return self._levels(
            "best_display_available_to_back", "best_display_available_to_lay", levels, dtype
        )

    @property
    def best_offers(self) -> np.ndarray:
        """:meth:`best_offers_array` with 3 levels, as betfairstreamer users know it."""
        return self.best_offers_array(3)

    @property
    def best_display(self) -> np.ndarray:
        """:meth:`best_display_array` with 3 levels, as betfairstreamer users know it."""
        return self.best_display_array(3)

    @property
    def timestamp(self) -> int | None:
        """The publish time ``pt`` of the last change (epoch milliseconds)."""
        return self.publish_time

    def copy(self) -> MarketBook:
        """An independent copy of the market (same class, same reads, runners copied): what
        ``policy="queue"`` and ``thread=True`` hooks are handed."""
        twin = MarketBook.__new__(MarketBook)
        for name in MarketBook.__slots__:
            setattr(twin, name, getattr(self, name))
        twin._runners = {key: r.copy() for key, r in self._runners.items()}
        twin._runner_list = None
        by_id = {id(r): twin._runners[key] for key, r in self._runners.items()}
        twin.changed_runners = [by_id[id(r)] for r in self.changed_runners if id(r) in by_id]
        return twin

    def snapshot(self) -> dict[str, Any]:
        """An independent plain-data copy of the market (for keeping across messages)."""
        return {
            "market_id": self.market_id,
            "status": self.status,
            "inplay": self.inplay,
            "publish_time": self.publish_time,
            "total_matched": self.total_matched,
            "stale": self.stale,
            "conflated": self.conflated,
            "is_valid": self.is_valid,
            "version": self.version,
            "runners": [r.snapshot() for r in self.runners],
        }

    # -- changes (used by the cache and the feed) -------------------------------------------

    def invalidate(self, reason: str) -> None:
        """Mark the market out of sync (its connection dropped) until the stream resumes."""
        self.is_valid = False
        self.invalid_reason = reason

    def mark_valid(self) -> None:
        self.is_valid = True
        self.invalid_reason = None

    def _add_runner(self, selection_id: int, handicap: float) -> RunnerBook:
        runner = RunnerBook(selection_id, handicap)
        self._runners[selection_id if not handicap else (selection_id, handicap)] = runner
        self._runner_list = None
        return runner

    def _apply_definition(self, md: dict[str, Any]) -> None:
        self.market_definition = md
        self.status = md.get("status")
        self.inplay = md.get("inPlay")
        runners = self._runners
        changed_order = False
        for i, rd in enumerate(md.get("runners") or ()):
            sid = rd["id"]
            hc = rd.get("hc") or 0.0
            runner = runners.get(sid if not hc else (sid, hc))
            if runner is None:
                runner = self._add_runner(sid, hc)
            runner.definition = rd
            runner.status = rd.get("status")
            priority = rd.get("sortPriority")
            priority = i if priority is None else priority
            if runner.sort_priority != priority:
                runner.sort_priority = priority
                changed_order = True
            runner.adjustment_factor = rd.get("adjustmentFactor")
            runner.removal_date = rd.get("removalDate")
            runner.bsp = rd.get("bsp")
        if changed_order:
            self._runner_list = None

    def _reset(self, md: dict[str, Any] | None) -> None:
        """An image replaces the market's data: clear every runner (dropping runners the new
        definition no longer lists). The image brings the market back in sync."""
        self.is_valid = True
        self.invalid_reason = None
        self.tv = None
        self.traded_seen = False
        self._market_tv = None
        if md is not None and md.get("runners") is not None:
            keep = {
                (rd["id"] if not rd.get("hc") else (rd["id"], rd["hc"])) for rd in md["runners"]
            }
            for key in [k for k in self._runners if k not in keep]:
                del self._runners[key]
            self._runner_list = None
        for runner in self._runners.values():
            runner._reset()

    def __repr__(self) -> str:
        state = "valid" if self.is_valid else f"invalid ({self.invalid_reason})"
        return (
            f"<MarketBook betfair:{self.market_id} {self.status} inplay={self.inplay} "
            f"pt={self.publish_time} runners={len(self._runners)} {state}>"
        )


# -- order stream ---------------------------------------------------------------------------

_ORDER_FIELDS = {
    "p": "price",
    "s": "size",
    "side": "side",
    "status": "status",
    "pt": "persistence_type",
    "ot": "order_type",
    "pd": "placed_date",
    "md": "matched_date",
    "cd": "cancelled_date",
    "ld": "lapsed_date",
    "avp": "average_price_matched",
    "sm": "size_matched",
    "sr": "size_remaining",
    "sl": "size_lapsed",
    "sc": "size_cancelled",
    "sv": "size_voided",
    "rac": "regulator_auth_code",
    "rc": "regulator_code",
    "rfo": "customer_order_ref",
    "rfs": "customer_strategy_ref",
    "bsp": "bsp_liability",
    "lsrc": "lapse_status_reason_code",
}


class Order:
    """One of your orders as the order stream reports it (fields in Betfair's REST names).

    ``side`` is ``"B"`` or ``"L"``, ``status`` ``"E"`` (executable) or ``"EC"`` (execution
    complete); dates are epoch milliseconds. ``updated`` is the publish time of the last change.
    """

    __slots__ = ("bet_id", "updated", *_ORDER_FIELDS.values())

    def __init__(self, bet_id: str) -> None:
        self.bet_id = bet_id
        self.updated: int | None = None
        for name in _ORDER_FIELDS.values():
            setattr(self, name, None)

    def _apply(self, uo: dict[str, Any], pt: int | None) -> None:
        for key, value in uo.items():
            name = _ORDER_FIELDS.get(key)
            if name is not None:
                setattr(self, name, value)
        self.updated = pt

    @property
    def execution_complete(self) -> bool:
        return getattr(self, "status", None) == "EC"

    def snapshot(self) -> dict[str, Any]:
        out = {"bet_id": self.bet_id, "updated": self.updated}
        for name in _ORDER_FIELDS.values():
            out[name] = getattr(self, name)
        return out

    def __repr__(self) -> str:
        g = self.snapshot()
        return (
            f"<Order {self.bet_id} {g['side']} {g['size']}@{g['price']} {g['status']} "
            f"matched={g['size_matched']}>"
        )


class OrderRunner:
    """Your orders and matched position on one runner: ``orders`` by bet id, ``matched_backs`` /
    ``matched_lays`` ladders (price -> matched size) and per-strategy ``strategy_matches``."""

    __slots__ = (
        "handicap",
        "matched_backs",
        "matched_lays",
        "orders",
        "selection_id",
        "strategy_matches",
    )

    def __init__(self, selection_id: int, handicap: float = 0.0) -> None:
        self.selection_id = selection_id
        self.handicap = handicap
        self.orders: dict[str, Order] = {}
        self.matched_backs: dict[float, float] = {}
        self.matched_lays: dict[float, float] = {}
        self.strategy_matches: dict[str, dict[str, dict[float, float]]] = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "selection_id": self.selection_id,
            "handicap": self.handicap,
            "orders": {k: o.snapshot() for k, o in sorted(self.orders.items())},
            "matched_backs": _desc(self.matched_backs),
            "matched_lays": _asc(self.matched_lays),
            "strategy_matches": {
                ref: {"mb": _desc(m["mb"]), "ml": _asc(m["ml"])}
                for ref, m in sorted(self.strategy_matches.items())
            },
        }

    def __repr__(self) -> str:
        return f"<OrderRunner {self.selection_id} hc={self.handicap} orders={len(self.orders)}>"


class OrderMarket:
    """Your orders on one market: ``venue`` is ``"betfair"``, ``market`` is
    ``"<market id>:orders"`` (so an Updater keeps it apart from the market's MarketBook)."""

    venue: str = "betfair"
    kind: ClassVar[BookKind] = "book"
    received: ClassVar[float | None] = None
    status: ClassVar[str | None] = None
    conflated: ClassVar[bool] = False

    __slots__ = (
        "account_id",
        "closed",
        "closed_at",
        "invalid_reason",
        "is_valid",
        "market",
        "market_id",
        "publish_time",
        "runners",
        "stale",
    )

    def __init__(self, market_id: str) -> None:
        self.market_id = market_id
        # distinct from the market book's key, so an Updater keeps both
        self.market = f"{market_id}:orders"
        self.account_id: int | None = None
        self.closed = False
        self.closed_at: int | None = None
        self.publish_time: int | None = None
        self.stale = False
        self.is_valid = True
        self.invalid_reason: str | None = None
        self.runners: dict[tuple[int, float], OrderRunner] = {}

    @property
    def timestamp(self) -> int | None:
        """The publish time ``pt`` of the last change (epoch milliseconds)."""
        return self.publish_time

    def copy(self) -> OrderMarket:
        """An independent copy (its runners and orders copied too)."""
        return copy.deepcopy(self)

    @property
    def orders(self) -> list[Order]:
        """Every order on the market, all runners."""
        return [o for r in self.runners.values() for o in r.orders.values()]

    def invalidate(self, reason: str) -> None:
        self.is_valid = False
        self.invalid_reason = reason

    def mark_valid(self) -> None:
        self.is_valid = True
        self.invalid_reason = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "market_id": self.market_id,
            "closed": self.closed,
            "runners": [r.snapshot() for _, r in sorted(self.runners.items())],
        }

    def __repr__(self) -> str:
        return f"<OrderMarket betfair:{self.market_id} runners={len(self.runners)}>"

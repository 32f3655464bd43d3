"""Market and order caches for the Betfair Exchange Stream API, for live streams and files alike.

More in docs/modules.md (``marketstreams.venues.betfair.cache``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import orjson

from ...exceptions import MalformedFrameError
from .core import apply_changes, apply_deltas, apply_line, apply_lines
from .models import MarketBook, Order, OrderMarket, OrderRunner

__all__ = ["MarketCache", "OrderCache"]

logger = logging.getLogger("marketstreams.betfair.cache")

_SWEEP_EVERY_MS = 10_000


def _decode(message: bytes | bytearray | memoryview | str | dict[str, Any]) -> dict[str, Any]:
    if message.__class__ is dict:
        return message
    try:
        decoded = orjson.loads(message)  # type: ignore[arg-type]
    except orjson.JSONDecodeError as exc:
        raise MalformedFrameError(f"not JSON ({exc})", message) from None
    if not isinstance(decoded, dict):
        raise MalformedFrameError("not a JSON object", message)
    return decoded


class MarketCache:
    """Applies market change messages (``mcm``) and keeps one :class:`MarketBook` per market.

    ``cache(message)`` returns the books the message changed, each once, in message order. The
    books are live: later messages update the same objects (see :meth:`MarketBook.snapshot`).
    ``changes`` counts applied market changes (``mc`` entries), ``messages`` applied ``mcm``,
    ``created`` the market books made.
    """

    __slots__ = (
        "_closed",
        "_deltas",
        "_last_sweep",
        "_line",
        "_lines",
        "_repairing",
        "_stamp",
        "changes",
        "created",
        "evict_closed_after",
        "markets",
        "messages",
        "publish_time",
        "repaired",
        "stale",
    )

    def __init__(self, *, evict_closed_after: float = 600.0) -> None:
        self.markets: dict[str, MarketBook] = {}
        self.evict_closed_after = evict_closed_after
        self.repaired = 0  # messages applied through the tolerant slow path
        self._repairing = False
        self.changes = 0
        self.messages = 0
        self.created = 0  # market books made (a market evicted and seen again counts again)
        self.publish_time: int | None = None
        self.stale = False
        self._closed: dict[str, int] = {}
        self._last_sweep = 0
        # Runners are stamped with the attempt that changed them (changed_runners lists each
        # once). A separate counter from ``messages``: a repaired message is applied again
        # under a new stamp, so its runners are listed again.
        self._stamp = 0
        self._deltas = apply_deltas  # None without the compiled core
        self._line = apply_line  # None without the compiled core
        self._lines = apply_lines  # None without the compiled core

    def __len__(self) -> int:
        return len(self.markets)

    def __getitem__(self, market_id: str) -> MarketBook:
        return self.markets[market_id]

    def __contains__(self, market_id: object) -> bool:
        return market_id in self.markets

    def __call__(
        self, message: bytes | bytearray | memoryview | str | dict[str, Any]
    ) -> list[MarketBook]:
        # The hot path: one function, no per-field method calls, nothing done for absent
        # fields (a try block costs nothing in Python 3.11 until it catches).
        if message.__class__ is bytes and self._line is not None:
            fast = self.apply_line(message)
            if fast is not None:
                return fast
        if message.__class__ is dict:
            m: dict[str, Any] = message
        else:
            try:
                m = orjson.loads(message)  # type: ignore[arg-type]
            except orjson.JSONDecodeError as exc:
                raise MalformedFrameError(f"not JSON ({exc})", message) from None
        try:
            mcs = m.get("mc")
            deltas = self._deltas
            if deltas is not None and mcs.__class__ is list and mcs and not self.stale:
                # compiled fast path: deltas to known markets (None: it changed nothing)
                self.messages += 1
                self.changes += len(mcs)
                pt = m.get("pt")
                before = self.publish_time
                if pt is not None:  # (set first, as the full path does: kept if it raises)
                    self.publish_time = pt
                self._stamp += 1  # marks the runners this attempt changes (never reused)
                books: list[MarketBook] | None = deltas(self.markets, m, mcs, self._stamp)
                if books is not None:
                    if len(books) > 1:
                        books = list(dict.fromkeys(books))
                    if self._closed and pt is not None:
                        self._sweep(pt)
                    return books
                self.publish_time = before  # (the full path may drop the message: op not mcm)
                self.messages -= 1  # it changed nothing: the full path takes the message
                self.changes -= len(mcs)
                self._stamp -= 1
            op = m.get("op")
            if op is not None and op != "mcm":
                return []
            pt = m.get("pt")
            if pt is not None:
                self.publish_time = pt
            out: list[MarketBook] = []
            status = m.get("status")
            if status is not None or self.stale:
                out = self._set_stale(status is not None)
            if not mcs:
                if self._closed and pt is not None:
                    self._sweep(pt)
                return out
            self.messages += 1
            self.changes += len(mcs)
            self._stamp += 1
            image = m.get("ct") == "SUB_IMAGE"
            markets = self.markets
            stale = self.stale
            for mc in mcs:
                mid = mc["id"]
                book = markets.get(mid)
                if book is None:
                    if mid.__class__ is not str:
                        raise TypeError(f"market id {mid!r} is not a string")
                    book = markets[mid] = MarketBook(mid)
                    book.stale = stale
                    self.created += 1
                elif image or mc.get("img"):
                    book._reset(mc.get("marketDefinition"))
                book.publish_time = pt
                book.conflated = mc.get("con") is True
                out.append(book)
                changed = book.changed_runners = []
                # Definition first (it may add runners and sets their order), then runners.
                value = mc.get("marketDefinition")
                if value is not None:
                    self._definition(book, value)
                value = mc.get("rc")
                if value and apply_changes(
                    book._runners, value, self._stamp, changed, book._add_runner
                ):
                    book.traded_seen = True
                    book._market_tv = None
                value = mc.get("tv")
                if value is not None:
                    book.tv = value
            if len(out) > 1:
                out = list(dict.fromkeys(out))
            if self._closed and pt is not None:
                self._sweep(pt)
            return out
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            return self._repair(m, message, exc)

    apply = __call__  # the same, as a method: a bound ``cache.apply`` is cheaper to call in a loop

    def _definition(self, book: MarketBook, value: Any) -> None:
        """Apply a market definition to ``book`` (its publish time already set) and keep the
        closed markets' eviction times."""
        book._apply_definition(value)
        if book.status == "CLOSED":
            if book.closed_at is None:
                pt = book.publish_time
                book.closed_at = pt if pt is not None else 0
                self._closed[book.market_id] = book.closed_at
        elif book.closed_at is not None:
            book.closed_at = None
            self._closed.pop(book.market_id, None)

    def _line_definition(self, book: MarketBook, raw: bytes | None, image: bool) -> None:
        """A definition (its bytes) or an image the compiled line path found: an image resets
        the book, then the definition is decoded and applied."""
        value = orjson.loads(raw) if raw is not None else None
        if image:
            book._reset(value)
        if value is not None:
            self._definition(book, value)

    def _sweep(self, pt: Any) -> None:
        """Evict closed markets past their delay, checked at most every 10 s of stream time."""
        if pt - self._last_sweep >= _SWEEP_EVERY_MS:
            self._last_sweep = pt
            self.evict(pt)

    def apply_idle_lines(
        self, first: bytes, lines: Iterator[bytes], idle: dict[str, float]
    ) -> tuple[int, bytes | None]:
        """Apply ``first`` and the lines after it (drawn from ``lines``) for as long as nobody
        waits for their books: plain deltas (see :meth:`apply_line`) to markets ``idle`` maps
        to a publish time they are before. Returns how many it applied and the first line it
        did not (``first`` itself when none; None when ``lines`` ran out): that one is to go
        through the cache as usual. Applies none in pure Python."""
        bulk = self._lines
        if bulk is None or self.stale or not idle:
            return 0, first
        taken, changes, pt, left = bulk(self.markets, first, lines, self._stamp, idle)
        if taken:
            self._applied(taken, changes, pt)
        return taken, left

    def _applied(self, messages: int, changes: int, pt: Any) -> None:
        """Count what a compiled path applied (stamped from ``_stamp + 1`` on) and sweep."""
        self._stamp += messages
        self.messages += messages
        self.changes += changes
        if pt is not None:
            self.publish_time = pt
            if self._closed:
                self._sweep(pt)

    def apply_line(self, line: bytes) -> list[MarketBook] | None:
        """The compiled fast path for one line's bytes (``_speedups.apply_line``): the books it
        changed, as the cache returns them, or None, having changed nothing, when the line
        needs decoding in full (a definition, a new market, a status...: call the cache with
        it). Always None in pure Python."""
        fast = self._line
        if fast is None or self.stale:
            return None
        stamp = self._stamp + 1
        try:
            got = fast(self.markets, line, stamp, self._line_definition)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            # (a runner its book could not add): the full path applies it again and repairs
            self._stamp = stamp
            return None
        if got is None:
            return None
        pt, books = got
        self._applied(1, len(books), pt)
        if len(books) > 1:
            books = list(dict.fromkeys(books))
        return books

    def _repair(self, m: Any, message: object, exc: Exception) -> list[MarketBook]:
        """Slow path for messages the fast path could not apply: ``null`` ladders, entries of
        the wrong length (seen in hand-edited fixtures), runner changes that are not objects.
        Applying a message twice gives the same state (every field replaces), so the repaired
        message is applied again from the start."""
        failure = MalformedFrameError(
            f"cannot apply market change ({exc.__class__.__name__}: {exc})", message
        )
        repaired = None if self._repairing else _repair_market_message(m)
        if repaired is None:
            self._invalidate_changed(m, failure)
            raise failure from None
        logger.debug("repaired a market change (%s: %s)", exc.__class__.__name__, exc)
        self.repaired += 1
        self.messages -= 1
        self.changes -= len(repaired.get("mc") or ())
        self._repairing = True  # the repaired message gets one try, never a loop of repairs
        try:
            return self(repaired)
        except MalformedFrameError:
            self._invalidate_changed(m, failure)
            raise failure from None
        finally:
            self._repairing = False

    def _invalidate_changed(self, m: Any, failure: Exception) -> None:
        """A message that could not be applied may have been applied in part: the markets it
        names are out of sync until their next image."""
        mcs = m.get("mc") if isinstance(m, dict) else None
        for mc in mcs if isinstance(mcs, list) else ():
            mid = mc.get("id") if isinstance(mc, dict) else None
            book = self.markets.get(mid) if isinstance(mid, str) else None
            if book is not None:
                book.invalidate(f"a change could not be applied: {failure}")

    def _set_stale(self, stale: bool) -> list[MarketBook]:
        if stale == self.stale:
            return []
        self.stale = stale
        for book in self.markets.values():
            book.stale = stale
        return list(self.markets.values())

    def evict(self, now: int) -> list[str]:
        """Remove markets CLOSED for longer than ``evict_closed_after`` seconds before ``now``
        (epoch ms, stream time). Returns the evicted market ids. Called automatically."""
        horizon = now - self.evict_closed_after * 1000
        gone = [mid for mid, at in self._closed.items() if at <= horizon]
        for mid in gone:
            del self._closed[mid]
            self.markets.pop(mid, None)
        if gone:
            logger.debug("evicted %d closed markets, %d left", len(gone), len(self.markets))
        return gone

    def invalidate(self, reason: str) -> list[MarketBook]:
        """Mark every market out of sync (the feed calls this when a connection drops)."""
        books = list(self.markets.values())
        for book in books:
            book.invalidate(reason)
        return books

    def mark_valid(self) -> list[MarketBook]:
        """Mark every invalid market in sync again; returns those that changed."""
        books = [b for b in self.markets.values() if not b.is_valid]
        for book in books:
            book.mark_valid()
        return books

    def clear(self) -> None:
        """Forget every market."""
        self.markets.clear()
        self._closed.clear()

    def __repr__(self) -> str:
        return f"<MarketCache markets={len(self.markets)} changes={self.changes}>"


class OrderCache:
    """Applies order change messages (``ocm``) and keeps one :class:`OrderMarket` per market.

    ``fullImage`` on a market replaces the market, on a runner replaces the runner; ``uo`` orders
    are upserted by bet id (fields present replace those held); ``mb``/``ml`` and the per-strategy
    ``smc`` ladders replace the size at a price. Orders matched before the subscription never
    appear in the stream. Execution-complete orders are kept ``keep_complete_orders`` seconds of
    stream time after their last change, closed markets ``evict_closed_after`` seconds.
    """

    __slots__ = (
        "_last_sweep",
        "changes",
        "evict_closed_after",
        "keep_complete_orders",
        "markets",
        "messages",
        "publish_time",
        "stale",
    )

    def __init__(
        self, *, keep_complete_orders: float = 3600.0, evict_closed_after: float = 600.0
    ) -> None:
        self.markets: dict[str, OrderMarket] = {}
        self.keep_complete_orders = keep_complete_orders
        self.evict_closed_after = evict_closed_after
        self.changes = 0
        self.messages = 0
        self.publish_time: int | None = None
        self.stale = False
        self._last_sweep = 0

    def __len__(self) -> int:
        return len(self.markets)

    def __getitem__(self, market_id: str) -> OrderMarket:
        return self.markets[market_id]

    def __call__(
        self, message: bytes | bytearray | memoryview | str | dict[str, Any]
    ) -> list[OrderMarket]:
        m = _decode(message)
        try:
            return self._apply(m)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise MalformedFrameError(
                f"cannot apply order change ({exc.__class__.__name__}: {exc})", message
            ) from None

    def _apply(self, m: dict[str, Any]) -> list[OrderMarket]:
        op = m.get("op")
        if op is not None and op != "ocm":
            return []
        pt = m.get("pt")
        if pt is not None:
            self.publish_time = pt
        out: list[OrderMarket] = []
        status = m.get("status")
        if (status is not None) != self.stale:
            self.stale = status is not None
            for market in self.markets.values():
                market.stale = self.stale
            out.extend(self.markets.values())
        if pt is not None and pt - self._last_sweep >= _SWEEP_EVERY_MS:
            self._last_sweep = pt
            self.evict(pt)
        ocs = m.get("oc")
        if not ocs:
            return out
        self.messages += 1
        self.changes += len(ocs)
        image = m.get("ct") == "SUB_IMAGE"
        for oc in ocs:
            mid = oc["id"]
            held = self.markets.get(mid)
            if held is None or image or oc.get("fullImage"):
                market = self.markets[mid] = OrderMarket(mid)
                market.stale = self.stale
                if held is not None:
                    market.is_valid = held.is_valid
            else:
                market = held
            market.publish_time = pt
            account = oc.get("accountId")
            if account is not None:
                market.account_id = account
            if oc.get("closed"):
                market.closed = True
                if market.closed_at is None:
                    market.closed_at = pt if pt is not None else 0
            for orc in oc.get("orc") or ():
                sid = orc["id"]
                hc = orc.get("hc") or 0.0
                key = (sid, hc)
                runner = market.runners.get(key)
                if runner is None or orc.get("fullImage"):
                    runner = market.runners[key] = OrderRunner(sid, hc)
                for uo in orc.get("uo") or ():
                    bet_id = uo["id"]
                    order = runner.orders.get(bet_id)
                    if order is None:
                        order = runner.orders[bet_id] = Order(bet_id)
                    order._apply(uo, pt)
                mb = orc.get("mb")
                if mb is not None:
                    _apply_ladder(runner.matched_backs, mb)
                ml = orc.get("ml")
                if ml is not None:
                    _apply_ladder(runner.matched_lays, ml)
                smc = orc.get("smc")
                if smc is not None:
                    for ref, change in smc.items():
                        matches = runner.strategy_matches.get(ref)
                        if matches is None:
                            matches = runner.strategy_matches[ref] = {"mb": {}, "ml": {}}
                        if change.get("mb") is not None:
                            _apply_ladder(matches["mb"], change["mb"])
                        if change.get("ml") is not None:
                            _apply_ladder(matches["ml"], change["ml"])
            out.append(market)
        if len(out) > 1:
            out = list(dict.fromkeys(out))
        return out

    def evict(self, now: int) -> None:
        """Drop execution-complete orders and closed markets past their keep times (``now`` in
        epoch ms, stream time). Called automatically."""
        order_horizon = now - self.keep_complete_orders * 1000
        market_horizon = now - self.evict_closed_after * 1000
        for mid in list(self.markets):
            market = self.markets[mid]
            if market.closed_at is not None and market.closed_at <= market_horizon:
                del self.markets[mid]
                continue
            for runner in market.runners.values():
                done = [
                    bet_id
                    for bet_id, o in runner.orders.items()
                    if o.execution_complete and (o.updated or 0) <= order_horizon
                ]
                for bet_id in done:
                    del runner.orders[bet_id]

    def invalidate(self, reason: str) -> list[OrderMarket]:
        markets = list(self.markets.values())
        for market in markets:
            market.invalidate(reason)
        return markets

    def mark_valid(self) -> list[OrderMarket]:
        markets = [m for m in self.markets.values() if not m.is_valid]
        for market in markets:
            market.mark_valid()
        return markets

    def clear(self) -> None:
        self.markets.clear()

    def __repr__(self) -> str:
        return f"<OrderCache markets={len(self.markets)} changes={self.changes}>"


_PRICE_LADDERS = ("atb", "atl", "trd", "spb", "spl")
_LEVEL_LADDERS = ("batb", "batl", "bdatb", "bdatl")


def _repair_market_message(m: Any) -> dict[str, Any] | None:
    """A copy of ``m`` without ``null`` ladders and malformed ladder entries (price ladders keep
    the last two numbers of a longer entry), or None when ``m`` has no usable shape."""
    if not isinstance(m, dict):
        return None
    mcs = m.get("mc")
    if mcs is not None and not isinstance(mcs, list):
        return None
    out = dict(m)
    fixed_mcs = []
    for mc in mcs or ():
        if not isinstance(mc, dict) or not isinstance(mc.get("id"), str):
            return None
        mc = {k: v for k, v in mc.items() if v is not None}
        md = mc.get("marketDefinition")
        if md is not None and not isinstance(md, dict):
            del mc["marketDefinition"]
        elif md is not None and not isinstance(md.get("runners", []), list):
            mc["marketDefinition"] = {k: v for k, v in md.items() if k != "runners"}
        rcs = []
        given = mc.get("rc") or ()
        if not isinstance(given, list | tuple):
            return None  # runner changes that are not a list: nothing to repair
        for rc in given:
            if not isinstance(rc, dict) or rc.get("id") is None:
                continue
            rc = {k: v for k, v in rc.items() if v is not None}
            for key in (*_PRICE_LADDERS, *_LEVEL_LADDERS):
                if key in rc and not isinstance(rc[key], list):
                    del rc[key]  # a ladder that is not a list of entries
            for key in _PRICE_LADDERS:
                if key in rc:
                    rc[key] = [
                        list(e[-2:])
                        for e in rc[key]
                        if isinstance(e, list) and len(e) >= 2 and _numbers(e[-2:])
                    ]
            for key in _LEVEL_LADDERS:
                if key in rc:
                    rc[key] = [
                        e for e in rc[key] if isinstance(e, list) and len(e) == 3 and _numbers(e)
                    ]
            rcs.append(rc)
        if "rc" in mc:
            mc["rc"] = rcs
        fixed_mcs.append(mc)
    out["mc"] = fixed_mcs
    return out


def _numbers(values: list[Any]) -> bool:
    """Plain finite numbers (what a ladder entry may hold): no bools, NaN, infinities or
    integers too big for a float."""
    try:
        return all(v.__class__ in (int, float) and math.isfinite(v) for v in values)
    except OverflowError:
        return False


def _apply_ladder(ladder: dict[float, float], changes: list[list[float]]) -> None:
    for p, s in changes:
        if s:
            ladder[p] = s
        else:
            ladder.pop(p, None)

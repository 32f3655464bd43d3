"""Sans-I/O paper matching on crypto order books (Luno, BitMEX): limit and market orders,
price-time priority, maker/taker fees, positions and profit. No I/O, no asyncio, no clock but the
books' and trades' venue times. The rules are written out in :class:`CryptoMatcher`'s docstring
and in docs/paper-trading.md.
"""

from __future__ import annotations

import logging
import math
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress, count
from operator import itemgetter
from typing import Any

from .._twins import rebuild
from ..book import LevelWatch, highest_key, lowest_key

__all__ = [
    "BUY",
    "DEFAULT_FEES",
    "LIMIT",
    "MARKET",
    "SELL",
    "CryptoMatcher",
    "CryptoOrder",
    "Fees",
    "Fill",
    "Position",
]

logger = logging.getLogger("marketstreams.simulation.crypto")

_PRICE = itemgetter(1)  # of a Luno resting order [side, price, volume]
BUY, SELL = "buy", "sell"
LIMIT, MARKET = "limit", "market"
# statuses
OPEN, FILLED, CANCELLED, REJECTED = "open", "filled", "cancelled", "rejected"


@dataclass(frozen=True, slots=True)
class Fees:
    """Fee rates as fractions of the traded value (``0.001`` = 0.1 %), charged in the quote
    currency on each fill: ``maker`` for fills of a resting order, ``taker`` for fills at
    placement. A negative maker rate is a rebate."""

    maker: float = 0.0
    taker: float = 0.0


DEFAULT_FEES: dict[str, Fees] = {
    "luno": Fees(maker=0.0, taker=0.001),
    "bitmex": Fees(maker=0.0002, taker=0.00075),
}
"""Per venue; pass ``fees=`` to override. Check your account's schedule: these are examples."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill: ``liquidity`` is ``"maker"`` (a resting order hit by a trade) or ``"taker"``
    (crossed at placement); ``at`` the venue time (ms) of the book or trade that caused it."""

    price: Any
    size: Any
    fee: Any
    liquidity: str
    at: int | None


_ORDER_FIELDS = (
    "_credit",
    "_level",
    "_mark",
    "_pending_cut",
    "_pending_cut_reduction",
    "average_price",
    "fees",
    "filled",
    "fills",
    "market",
    "notes",
    "order_id",
    "order_type",
    "placed_at",
    "price",
    "queue_ahead",
    "reason",
    "seq",
    "side",
    "size",
    "status",
    "strategy",
    "venue",
)
SELECTOR = "marketstreams.simulation.crypto"  # the module users import these classes from


class CryptoOrder:
    """A paper order on a crypto book. ``side`` "buy"/"sell", ``order_type`` "limit"/"market";
    ``status`` "open" (resting, maybe partly filled), "filled", "cancelled" (what was left was
    cancelled, or a market order's rest found no liquidity) or "rejected" (``reason`` says why).
    Quantities use the book's number type (:class:`~decimal.Decimal` on Luno, float on BitMEX).
    ``queue_ahead`` is the volume estimated ahead of it at its price (see
    :class:`CryptoMatcher`)."""

    __slots__ = _ORDER_FIELDS

    def __init__(
        self,
        order_id: str,
        strategy: str,
        venue: str,
        market: str,
        side: str,
        order_type: str,
        price: Any,
        size: Any,
        zero: Any,
    ) -> None:
        self.order_id = order_id
        self.strategy = strategy
        self.venue = venue
        self.market = market
        self.side = side
        self.order_type = order_type
        self.price = price
        self.size = size
        self.filled: Any = zero
        self.average_price: Any = None
        self.fees: Any = zero
        self.fills: list[Fill] = []
        self.status = OPEN
        self.reason: str | None = None
        self.placed_at: int | None = None
        self.queue_ahead: Any = zero
        self.notes: dict[str, Any] = {}
        self.seq = 0
        # Luno: the arrival mark when placed: resting orders that arrived up to it are ahead
        # of this order at its price, later ones behind (see CryptoMatcher._arrivals)
        self._mark: int | None = None
        self._level: Any = zero  # level-size queue: the level's size when last seen
        self._credit: Any = zero  # traded at our price, not yet seen as a level decrease
        self._pending_cut: Any = zero  # level decrease not (yet) explained by a trade
        self._pending_cut_reduction: Any = zero  # what that decrease took off queue_ahead

    @property
    def remaining(self) -> Any:
        """Size still to fill while open; zero once filled, cancelled or rejected."""
        return self.size - self.filled if self.status == OPEN else self.size * 0

    @property
    def is_open(self) -> bool:
        return self.status == OPEN

    def as_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "strategy": self.strategy,
            "venue": self.venue,
            "market": self.market,
            "side": self.side,
            "order_type": self.order_type,
            "price": _out(self.price),
            "size": _out(self.size),
            "filled": _out(self.filled),
            "average_price": _out(self.average_price),
            "fees": _out(self.fees),
            "status": self.status,
            "reason": self.reason,
            "placed_at": self.placed_at,
            "fills": len(self.fills),
            "notes": self.notes,
        }

    def __repr__(self) -> str:
        return (
            f"<CryptoOrder {self.order_id} {self.side} {self.size}@{self.price} "
            f"filled={self.filled} {self.status}>"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # unpickled as the loading process's CryptoOrder, compiled or pure (_twins.rebuild)
        return rebuild, (SELECTOR, "CryptoOrder", {k: getattr(self, k) for k in _ORDER_FIELDS})


def _out(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@dataclass(slots=True)
class Position:
    """A strategy's position in one market: signed ``quantity`` (base currency or contracts),
    ``average_entry`` of the open quantity, ``realised`` price profit of closed quantity and
    ``fees`` paid, all in the quote currency: linear (quantity x price) by default; with
    ``inverse`` (BitMEX's XBTUSD: one contract is one USD) fees are on the contracts' USD value
    and profit is the XBT profit valued in USD at the closing price, ``size x (exit/entry - 1)``.
    Quanto contracts (ETHUSD) are taken as linear."""

    quantity: Any = 0
    average_entry: Any = None
    realised: Any = 0
    fees: Any = 0
    inverse: bool = False  # BitMEX XBTUSD-style: a contract is 1 USD, profit in USD

    def _gain(self, entry: Any, exit_price: Any, size: Any) -> Any:
        """Profit of ``size`` bought at ``entry`` and sold at ``exit_price``."""
        if self.inverse:  # in XBT: size x (1/entry - 1/exit); in USD at the exit price:
            return size * (exit_price / entry - 1)
        return (exit_price - entry) * size

    def apply(self, side: str, price: Any, size: Any, fee: Any) -> None:
        """Book one fill."""
        signed = size if side == BUY else -size
        q = self.quantity
        self.fees += fee
        if q == 0 or (q > 0) == (signed > 0):
            total = abs(q) + size
            entry = self.average_entry if self.average_entry is not None else price
            if self.inverse:  # the entry that keeps the XBT value: a harmonic mean
                self.average_entry = total / (abs(q) / entry + size / price)
            else:
                self.average_entry = (entry * abs(q) + price * size) / total
            self.quantity = q + signed
            return
        closed = min(size, abs(q))
        gain = self._gain(self.average_entry, price, closed)
        self.realised += gain if q > 0 else -gain
        self.quantity = q + signed
        if self.quantity == 0:
            self.average_entry = None
        elif (self.quantity > 0) != (q > 0):  # flipped: the rest opened at this price
            self.average_entry = price

    def unrealised(self, mark: Any) -> Any:
        """Profit of the open quantity at ``mark`` (e.g. the mid price); zero when flat."""
        if self.quantity == 0 or mark is None or self.average_entry is None:
            return self.quantity * 0
        gain = self._gain(self.average_entry, mark, abs(self.quantity))
        return gain if self.quantity > 0 else -gain

    def net(self, mark: Any) -> Any:
        """Realised plus unrealised, less fees."""
        return self.realised + self.unrealised(mark) - self.fees

    def as_dict(self, mark: Any = None) -> dict[str, Any]:
        return {
            "quantity": _out(self.quantity),
            "average_entry": _out(self.average_entry),
            "realised": _out(self.realised),
            "unrealised": _out(self.unrealised(mark)),
            "fees": _out(self.fees),
            "net": _out(self.net(mark)),
        }


_NO_CHANGES: list[CryptoOrder] = []  # returned, never changed

# Pickles of these name the module users import them from, so that they load as the class the
# loading process uses, compiled or pure (marketstreams/_twins.py)
for _cls in (Fees, Fill, Position):
    _cls.__module__ = SELECTOR


class CryptoMatcher:
    """Paper orders of any number of strategies on one crypto market, matched against the
    book and trades as they arrive (``update(book, trades)``), never against an invalid book.

    Rules:

    * **Placement.** A buy at or above the best ask (a sell at or below the best bid), and every
      market order, takes liquidity at once, level by level at each level's price, as a taker
      (taker fee), up to its size and, for a limit order, its price. A limit order's rest joins
      the queue at its price; a market order's rest is cancelled. An order placed while the book
      is invalid, with a size or price that is not positive, or a market order on an empty side
      is rejected with the reason.
    * **Queue.** A resting order fills only from trades, as a maker (maker fee) at its own price,
      never from the book moving through it without trades:
      - a trade on the opposite side's taker (a sell taker for our bid) at a price *worse* than
        ours (below our bid) would have met us first: it fills us up to its size;
      - a trade *at* our price fills us only beyond the volume ahead of us.
      Luno (order-level books, ``book.orders``): the orders ahead are the exact orders resting
      at our price when we placed, in their arrival order; a trade whose maker is one of them
      fills nothing of ours, a trade at our price whose maker is not (it was behind us) fills
      us. Orders ahead leave the queue when they are filled or deleted; after a reconnect the
      new snapshot says which of them are still there.
      BitMEX (price levels): ``queue_ahead`` starts at the level's size at placement; trades at
      our price take it down first (the rest fills us); a size decrease that no trade explains
      (a cancel) takes it down in proportion (``ahead x cut / level size``: a cancel is as
      likely anywhere in the queue); a size increase joins behind us. BitMEX publishes the level
      change before the trade, so a decrease is held until the next change of that level: a
      trade arriving meanwhile undoes its cut and is counted as a trade instead.
      Several paper orders share a trade's volume in price-time priority, each unit once.
    * **Validity.** While the book is invalid (reconnecting, after a gap) nothing is matched and
      trades that arrive are not applied; placing is refused. Trades missed while disconnected
      never fill a paper order (we cannot know them); a Luno order's queue is re-read from the
      next snapshot.
    * **Market impact** is ignored: the market goes on as recorded, as if our orders were not
      there.
    """

    #: Luno: how many order ids no longer resting the matcher keeps, beyond twice the resting
    #: ones, before it forgets them (see _sync)
    keep_gone = 1024

    def __init__(
        self,
        venue: str,
        market: str,
        fees: Fees | None = None,
        *,
        exact: bool | None = None,
        inverse: bool | None = None,
        ids: Iterable[int] | None = None,
    ) -> None:
        self.venue = venue
        self.market = market
        self.fees = fees if fees is not None else DEFAULT_FEES.get(venue, Fees())
        self.exact = venue == "luno" if exact is None else exact
        if inverse is None:  # BitMEX's XBT-settled USD contracts (XBTUSD, XBTUSDT is linear)
            inverse = venue == "bitmex" and market.startswith("XBT") and market.endswith("USD")
        self.inverse = inverse
        self._num: Any = (lambda x: Decimal(str(x))) if self.exact else float
        self._type: type = Decimal if self.exact else float
        self.zero: Any = self._num(0)
        self._maker = self._num(self.fees.maker)
        self._taker = self._num(self.fees.taker)
        self.orders: list[CryptoOrder] = []  # every order, placement order
        self.open: list[CryptoOrder] = []
        # kept with ``open`` (_opened): the best open buy and sell prices, the only prices a
        # trade has to reach to matter (see update), and whether the open orders' queues follow
        # the level sizes (BitMEX: every book update is looked at) or are exact (Luno)
        self.bid_top: Any = None
        self.ask_top: Any = None
        self.follows_levels = False
        self._buys: list[CryptoOrder] = []  # the open orders of a side in priority order
        self._sells: list[CryptoOrder] = []
        # level following (BitMEX), kept with ``open``: (the book side, price, order) of each
        # open order, made for the SortedDicts in _watched (made again when a book brings other
        # ones: a copy, a new snapshot's)
        self._watch: list[tuple[Any, Any, CryptoOrder]] = []
        self._watched_bids: Any = None
        self._watched_asks: Any = None
        # the book's LevelWatch when this matcher owns it (the book's venue code reports changes
        # at the watched prices): follow_levels passes over updates that changed none of them
        self._level_watch: LevelWatch | None = None
        self._watch_book: Any = None
        self._watch_changes = -1  # its ``changes`` at the last follow (-1: follow in full)
        self.positions: dict[str, Position] = {}
        self._ids = iter(ids) if ids is not None else count(1)
        self._seq = count(1)
        self.skipped_trades = 0  # trades that arrived with an invalid book
        # Luno: ids seen in book.orders, and the arrival number of those first seen after the
        # first look (the ids resting then count as arrival 0: before every paper order)
        self._known: set[str] = set()
        self._arrival: dict[str, int] = {}
        self._arrivals = 0
        self._resting: Any = None
        self.last_price: Any = None

    # -- the strategy's calls ----------------------------------------------------------------

    def place(
        self,
        strategy: str,
        book: Any,
        side: str,
        size: Any,
        price: Any = None,
        order_type: str = LIMIT,
    ) -> CryptoOrder:
        """Place an order (see the class docstring); returns it, maybe already filled or
        rejected. Never raises for a bad order: ``status`` "rejected" with ``reason``."""
        order_id = f"P{next(self._ids)}"
        if side != BUY and side != SELL:
            side = str(side).lower()
        if order_type != LIMIT:
            order_type = str(order_type).lower()
        reason = None
        try:
            size = num_of(size, self._num)
            price = num_of(price, self._num) if price is not None else None
            if not _finite(size) or (price is not None and not _finite(price)):
                raise ValueError
        except (ArithmeticError, ValueError, TypeError):
            reason = f"bad number (price {price!r}, size {size!r})"
        order = CryptoOrder(
            order_id,
            strategy,
            self.venue,
            self.market,
            side,
            order_type,
            price,
            size,
            self.zero,
        )
        order.placed_at = getattr(book, "timestamp", None)
        order.seq = next(self._seq)
        self.orders.append(order)
        if reason is None:
            reason = self._refusal(order, book)
        if reason is not None:
            order.status = REJECTED
            order.reason = reason
            return order
        opposite = book.asks if side == BUY else book.bids
        self._take(order, opposite, book)
        if order.status != OPEN:
            return order
        if order_type == MARKET:
            order.status = CANCELLED
            order.reason = "no more liquidity on the opposite side"
            return order
        self._join(order, book)
        self.open.append(order)
        self._opened()
        return order

    def cancel(self, order: CryptoOrder) -> bool:
        """Cancel what is left of an open order; False if it is not open."""
        if order.status != OPEN or order not in self.open:
            return False
        order.status = CANCELLED
        self.open.remove(order)
        self._opened()
        return True

    def replace(self, order: CryptoOrder, book: Any, new_price: Any) -> CryptoOrder:
        """Cancel the open order and place its unfilled size at ``new_price`` (a new order at
        the back of the new price's queue); a rejected order when it was not open."""
        if order.status != OPEN:
            bad = CryptoOrder(
                f"P{next(self._ids)}",
                order.strategy,
                self.venue,
                self.market,
                order.side,
                LIMIT,
                new_price,
                order.size,
                self.zero,
            )
            bad.status, bad.reason = REJECTED, f"order {order.order_id} is not open"
            bad.placed_at = getattr(book, "timestamp", None)
            self.orders.append(bad)
            return bad
        rest = order.size - order.filled
        self.cancel(order)
        new = self.place(order.strategy, book, order.side, rest, new_price)
        new.notes["replaces"] = order.order_id
        return new

    def position(self, strategy: str) -> Position:
        pos = self.positions.get(strategy)
        if pos is None:
            pos = self.positions[strategy] = Position(
                self.zero, None, self.zero, self.zero, self.inverse
            )
        return pos

    def queue(self, order: CryptoOrder, book: Any) -> Any:
        """The volume ahead of ``order`` now (``order.queue_ahead`` brought up to date: a Luno
        order's queue is read from the book only when asked, not on every update)."""
        if order.status == OPEN and order._mark is not None and book.is_valid:
            self._follow(order, book)
        return order.queue_ahead

    def ahead(self, order: CryptoOrder, book: Any) -> list[tuple[str, Any]]:
        """Luno: the orders ahead of ``order`` now, ``(id, volume)`` in time priority (empty
        for a level-queue order)."""
        mark = order._mark
        resting = getattr(book, "orders", None)
        if mark is None or not isinstance(resting, Mapping):
            return []
        self._sync(resting)
        side = "bid" if order.side == BUY else "ask"
        price = order.price
        at_price = compress(resting.items(), map(price.__eq__, map(_PRICE, resting.values())))
        arrival = self._arrival
        return [(oid, o[2]) for oid, o in at_price if o[0] == side and arrival.get(oid, 0) <= mark]

    def _before(self, maker: str, mark: int) -> bool:
        """Did resting order ``maker`` arrive before the order marked ``mark`` (ahead of it)?
        An id never seen arrived after our last look, so after every open order."""
        n = self._arrival.get(maker)
        if n is not None:
            return n <= mark
        return maker in self._known  # resting at the first look: before every paper order

    def _sync(self, resting: Any) -> None:
        """Number the resting orders that arrived since the last look (Luno's ``book.orders``
        keeps arrival order: a create is appended, so new ids are found walking back from the
        end until a known one). A new snapshot (a new dict) is scanned whole: ids it brings
        that we never saw arrived during the gap, after every order placed before it."""
        known = self._known
        if resting is not self._resting:
            if self._resting is None:  # the first look: everything resting is "before us"
                known.update(resting)
                self._resting = resting
                return
            self._resting = resting
            fresh = [oid for oid in resting if oid not in known]
        else:
            fresh = []
            for oid in reversed(resting):
                if oid in known:
                    break
                fresh.append(oid)
            fresh.reverse()
        if fresh:
            arrival = self._arrival
            n = self._arrivals
            for oid in fresh:
                n += 1
                arrival[oid] = n
            self._arrivals = n
            known.update(fresh)
        if len(known) > 2 * len(resting) + self.keep_gone:
            # ids no longer resting can be a trade's maker no more (a live session sees
            # millions): forgotten once they outnumber the resting ones, so the cost of each
            # id, kept and then forgotten, stays constant
            known.intersection_update(resting)
            self._arrival = {oid: n for oid, n in self._arrival.items() if oid in resting}

    def mark(self, book: Any) -> Any:
        """The mid price (or the last trade's price when a side is empty)."""
        bid, ask = book.best_prices()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return self.last_price

    # -- the feed's side -----------------------------------------------------------------------

    def update(self, book: Any, trades: Iterable[Any] = ()) -> list[CryptoOrder]:
        """Apply one book update and the trades it carried; the orders that changed (filled in
        part or whole), in the order they changed."""
        if not book.is_valid:
            if trades:
                self.skipped_trades += len(list(trades))
            for order in self.open:
                order._pending_cut = order._pending_cut_reduction = self.zero
            return []
        if not trades:
            if self.follows_levels:
                self.follow_levels(book)
            return _NO_CHANGES
        num = self._num
        bid_top, ask_top = self.bid_top, self.ask_top
        changed = _NO_CHANGES
        price = None
        typ = self._type
        for trade in trades:
            price = trade.price
            if type(price) is not typ:
                price = num(price)
            # a trade reaches an order only at or through its price (a sell taker at or below
            # our best bid, a buy taker at or above our best ask): any other trade can neither
            # fill an order nor change a queue ahead of one, and is not looked at further
            kind = trade.type
            if kind == SELL:  # a sell taker hits the bids: our buys
                if bid_top is None or price > bid_top:
                    continue
                orders = self._buys
            elif kind == BUY:
                if ask_top is None or price < ask_top:
                    continue
                orders = self._sells
            else:
                continue
            if changed is _NO_CHANGES:
                changed = []
            self._trade(trade, orders, price, num_of(trade.base, num), changed, book)
        if price is not None:
            self.last_price = price
        if changed:  # filled orders leave the open list first: only open orders are followed
            self.open = [o for o in self.open if o.status == OPEN]
            self._opened()
        if self.follows_levels:  # Luno's exact queues need no following
            self.follow_levels(book)
        return changed

    def follow_levels(self, book: Any) -> None:
        """Bring level-queue (BitMEX) orders up to date with a book update without trades
        (what :meth:`update` does then; every order in ``open`` is open). Only an order whose
        level moved needs work: at an unchanged level the rule changes nothing (a pending cut
        stays pending, and trades at our price only ever lower ``queue_ahead``, which the last
        follow left at or under the level). On a book that reports changes at watched prices
        (:class:`~marketstreams.book.LevelWatch`, BitMEX) an update that changed none of the
        open orders' levels is passed over at once."""
        watch = self._level_watch
        if watch is not None and watch.changes == self._watch_changes and self._watch_book is book:
            return
        if book.bids is not self._watched_bids or book.asks is not self._watched_asks:
            self._rewatch(book)
        zero = self.zero
        for side, price, order in self._watch:
            # compared as the book has it (BitMEX's sizes are ints): converted only when moved
            size = side.get(price, zero)
            if size != order._level:
                self._follow_level(order, size if type(size) is self._type else self._num(size))
        watch = self._level_watch
        if watch is not None:
            self._watch_changes = watch.changes

    def _rewatch(self, book: Any) -> None:
        """The watch for ``book``'s sides: (side, price, order) of each open order, and their
        prices in the book's LevelWatch when this matcher owns it."""
        bids, asks = self._watched_bids, self._watched_asks = book.bids, book.asks
        watch = self._watch = [(bids if o.side == BUY else asks, o.price, o) for o in self.open]
        level_watch = self._level_watch
        if level_watch is None or self._watch_book is not book:
            level_watch = self._claim(book)
        if level_watch is not None:
            prices = level_watch.prices
            prices.clear()
            for entry in watch:
                prices.add(entry[1])
        self._watch_changes = -1

    def _claim(self, book: Any) -> LevelWatch | None:
        """Own ``book``'s LevelWatch (giving up any other): None when it has none, or another
        matcher owns it (this matcher then follows every update)."""
        self._unwatch()
        watch = getattr(book, "level_watch", None)
        if not isinstance(watch, LevelWatch):
            return None
        owner = watch.owner() if watch.owner is not None else None
        if owner is not None and owner is not self:
            return None
        watch.owner = weakref.ref(self)  # a matcher that is gone leaves it to the next
        self._level_watch = watch
        self._watch_book = book
        return watch

    def _unwatch(self) -> None:
        """Give up the LevelWatch this matcher owns (no open order, or another book)."""
        watch = self._level_watch
        if watch is not None and watch.owner is not None and watch.owner() is self:
            watch.prices.clear()
            watch.owner = None
        self._level_watch = self._watch_book = None
        self._watch_changes = -1

    def _opened(self) -> None:
        """``open`` changed: the best open prices, the queue kind and the level watch again."""
        open_orders = self.open
        # price-time priority among our own orders: best price first, then placement order
        buys: list[CryptoOrder] = []
        sells: list[CryptoOrder] = []
        for o in open_orders:
            (buys if o.side == BUY else sells).append(o)
        if len(buys) > 1:
            buys.sort(key=_buy_priority)
        if len(sells) > 1:
            sells.sort(key=_sell_priority)
        self._buys, self._sells = buys, sells
        self.bid_top = buys[0].price if buys else None
        self.ask_top = sells[0].price if sells else None
        self.follows_levels = bool(open_orders) and open_orders[0]._mark is None
        self._watched_bids = None  # the watch is made again at the next follow, in full
        self._watch_changes = -1
        if not open_orders and self._level_watch is not None:
            self._unwatch()

    # -- internals -----------------------------------------------------------------------------

    def _refusal(self, order: CryptoOrder, book: Any) -> str | None:
        if not book.is_valid:
            return f"book invalid ({book.invalid_reason})"
        if order.side not in (BUY, SELL):
            return f"side must be 'buy' or 'sell', not {order.side!r}"
        if order.order_type not in (LIMIT, MARKET):
            return f"order_type must be 'limit' or 'market', not {order.order_type!r}"
        if not order.size > 0:
            return f"size must be positive, not {order.size}"
        if order.order_type == LIMIT and (order.price is None or not order.price > 0):
            return f"a limit order needs a positive price, not {order.price}"
        opposite = book.asks if order.side == BUY else book.bids
        if order.order_type == MARKET and not opposite:
            return "no liquidity on the opposite side"
        return None

    def _take(self, order: CryptoOrder, opposite: Any, book: Any) -> None:
        """Cross the opposite side at placement as a taker."""
        limit = order.price if order.order_type == LIMIT else None
        if limit is not None:
            # a limit order that does not reach the opposite best takes nothing: one cheap read
            # of the top instead of a walk
            if not opposite:
                return
            if order.side == BUY:
                if lowest_key(opposite) > limit:
                    return
            elif highest_key(opposite) < limit:
                return
        # lazily from the best: the book is not changed while we walk it
        keys = iter(opposite) if order.side == BUY else reversed(opposite)
        for level_price in keys:
            if order.filled >= order.size:
                break
            if limit is not None and (
                level_price > limit if order.side == BUY else level_price < limit
            ):
                break
            size = min(num_of(opposite[level_price], self._num), order.size - order.filled)
            self._fill(order, num_of(level_price, self._num), size, "taker", book.timestamp)

    def _join(self, order: CryptoOrder, book: Any) -> None:
        """Take the place at the back of the queue at the order's price."""
        side = book.bids if order.side == BUY else book.asks
        level = side.get(order.price)
        level = self.zero if level is None else num_of(level, self._num)
        resting = getattr(book, "orders", None)
        if resting is not None and isinstance(resting, Mapping):
            self._sync(resting)
            order._mark = self._arrivals
        order._level = level
        order.queue_ahead = level

    def _trade(
        self,
        trade: Any,
        orders: list[CryptoOrder],
        price: Any,
        base: Any,
        changed: list[CryptoOrder],
        book: Any,
    ) -> None:
        """One trade against the side it hits (``orders``: our buys for a sell taker, our sells
        for a buy taker, in priority order)."""
        hit_buys = trade.type == SELL
        budget = base
        maker = getattr(trade, "maker_order_id", None)
        for order in orders:
            if order.status != OPEN:  # filled by an earlier trade of this update
                continue
            if budget <= 0:
                break
            ours = order.price
            if price == ours:
                if order._mark is not None:
                    if maker is not None and self._before(maker, order._mark):
                        continue
                    eligible = base
                else:
                    eligible = self._at_level(order, base)
            elif (price < ours) if hit_buys else (price > ours):
                eligible = base  # through our price: we were first
            else:
                continue  # a better price than ours traded
            take = min(eligible, budget, order.size - order.filled)
            if take > 0:
                budget -= take
                self._fill(order, ours, take, "maker", trade.timestamp or book.timestamp)
                if not changed or changed[-1] is not order:
                    changed.append(order)

    def _at_level(self, order: CryptoOrder, base: Any) -> Any:
        """A trade of ``base`` at a level-queue order's price: what of it reaches the order."""
        zero = self.zero
        explained = min(base, order._pending_cut)
        if explained > 0:  # the decrease we took as a cancel was this trade: undo the cut
            back = order._pending_cut_reduction * explained / order._pending_cut
            order.queue_ahead += back
            order._pending_cut_reduction -= back
            order._pending_cut -= explained
        order._credit += base - explained
        ahead = order.queue_ahead - base
        if ahead >= 0:
            order.queue_ahead = ahead
            return zero
        order.queue_ahead = zero
        return -ahead

    def _follow(self, order: CryptoOrder, book: Any) -> None:
        """After an update: the order's queue against the book's new state."""
        if order.status != OPEN:
            return
        side = book.bids if order.side == BUY else book.asks
        level = side.get(order.price)
        level = self.zero if level is None else num_of(level, self._num)
        if order._mark is not None:
            order.queue_ahead = sum((v for _, v in self.ahead(order, book)), self.zero)
            order._level = level
            return
        self._follow_level(order, level)

    def _follow_level(self, order: CryptoOrder, level: Any) -> None:
        """The level-size queue rule (class docstring) for an open order whose level is now
        ``level``."""
        last = order._level
        if level != last:
            # a previous unexplained decrease is now taken as a cancel for good
            order._pending_cut = order._pending_cut_reduction = self.zero
        if level < last:
            decrease = last - level
            by_trades = min(decrease, order._credit)
            order._credit -= by_trades
            cut = decrease - by_trades
            before = last - by_trades
            if cut > 0 and before > 0:
                reduction = order.queue_ahead * cut / before
                order.queue_ahead -= reduction
                order._pending_cut = cut
                order._pending_cut_reduction = reduction
        if order.queue_ahead > level:
            order.queue_ahead = level
        order._level = level

    def _fill(self, order: CryptoOrder, price: Any, size: Any, liquidity: str, at: Any) -> None:
        rate = self._maker if liquidity == "maker" else self._taker
        fee = (size if self.inverse else price * size) * rate
        filled = order.filled + size
        paid = (order.average_price or self.zero) * order.filled + price * size
        order.average_price = paid / filled
        order.filled = filled
        order.fees += fee
        order.fills.append(Fill(price, size, fee, liquidity, at))
        self.position(order.strategy).apply(order.side, price, size, fee)
        if order.filled >= order.size:
            order.status = FILLED


def _buy_priority(order: CryptoOrder) -> tuple[Any, int]:
    return -order.price, order.seq


def _sell_priority(order: CryptoOrder) -> tuple[Any, int]:
    return order.price, order.seq


def _finite(value: Any) -> bool:
    return bool(value.is_finite()) if type(value) is Decimal else math.isfinite(value)


def num_of(value: Any, num: Any) -> Any:
    """``value`` as the matcher's number type (Decimal or float)."""
    if num is float:
        return value if type(value) is float else float(value)
    return value if type(value) is Decimal else num(value)

"""Values that flow from feeds to the Updater and on to hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Book", "Trade", "Update"]


class Book(Protocol):
    """What every venue's book has in common: ``OrderBook`` and Betfair's ``MarketBook`` alike."""

    venue: str
    market: str
    is_valid: bool


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade, normalised across venues.

    ``type`` is ``"buy"`` or ``"sell"`` from the taker's side. ``base`` is the traded quantity,
    ``counter`` the counter-currency amount where the venue gives it. Item access
    (``trade["price"]``) works too, for code written against luno_streams' dict trades.
    """

    venue: str
    market: str
    type: str
    price: Any
    base: Any
    counter: Any = None
    maker_order_id: str | None = None
    taker_order_id: str | None = None
    sequence: int | None = None
    timestamp: int | None = None  # venue time, epoch milliseconds
    id: str | None = None

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(slots=True)
class Update:
    """One change of one book, as a feed emits it and hooks receive it.

    ``book`` is the live book object (its state at delivery time); ``trades`` are the trades the
    venue message carried (accumulated across conflated deliveries). ``snapshot`` is True when
    the change replaced the whole book (a new snapshot / image / partial).
    """

    book: Any
    trades: list[Trade] = field(default_factory=list)
    snapshot: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.book.venue, self.book.market)

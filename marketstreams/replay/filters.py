"""Which Betfair markets, and which moments of them, a replay hands to the hooks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["ReplayFilter"]


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which markets, and which moments of them, reach the hooks.

    The first six fields select markets from their market definition (None = any); markets that
    fail them are dropped as soon as their definition is seen and never get a book. ``inplay``
    (True: in-play only; False: pre-play only) and ``seconds_to_start`` (only the last N seconds
    before the scheduled start, and never in play) select moments: the book is kept up to date,
    hooks are called only inside the window (flumine's ``inplay`` / ``seconds_to_start``).
    """

    market_ids: frozenset[str] | None = None
    event_type_ids: frozenset[str] | None = None
    country_codes: frozenset[str] | None = None
    market_types: frozenset[str] | None = None
    venues: frozenset[str] | None = None
    event_ids: frozenset[str] | None = None
    inplay: bool | None = None
    seconds_to_start: float | None = None

    @classmethod
    def make(
        cls,
        *,
        market_ids: Iterable[str] | None = None,
        event_type_ids: Iterable[str | int] | None = None,
        country_codes: Iterable[str] | None = None,
        market_types: Iterable[str] | None = None,
        venues: Iterable[str] | None = None,
        event_ids: Iterable[str | int] | None = None,
        inplay: bool | None = None,
        seconds_to_start: float | None = None,
    ) -> ReplayFilter:
        """Build a filter from any iterables (ids may be ints or strings)."""

        def norm(values: Iterable[Any] | None) -> frozenset[str] | None:
            if values is None:
                return None
            if isinstance(values, str | int):
                values = [values]
            return frozenset(str(v) for v in values)

        if seconds_to_start is not None and seconds_to_start < 0:
            raise ConfigurationError("seconds_to_start must be >= 0")
        return cls(
            norm(market_ids),
            norm(event_type_ids),
            norm(country_codes),
            norm(market_types),
            norm(venues),
            norm(event_ids),
            inplay,
            seconds_to_start,
        )

    def accepts_definition(self, market_id: str, definition: dict[str, Any] | None) -> bool | None:
        """True/False when the market is in/out; None when it needs a definition to decide."""
        if self.market_ids is not None and market_id not in self.market_ids:
            return False
        checks = (
            (self.event_type_ids, "eventTypeId"),
            (self.country_codes, "countryCode"),
            (self.market_types, "marketType"),
            (self.venues, "venue"),
            (self.event_ids, "eventId"),
        )
        if all(wanted is None for wanted, _ in checks):
            return True
        if definition is None:
            return None
        for wanted, key in checks:
            if wanted is not None:
                value = definition.get(key)
                if value is None or str(value) not in wanted:
                    return False
        return True

    @property
    def has_window(self) -> bool:
        return self.inplay is not None or self.seconds_to_start is not None

    def in_window(self, book: Any) -> bool:
        """Whether hooks see ``book`` now (in-play / pre-play / seconds before the start)."""
        inplay = bool(book.inplay)
        if self.inplay is not None and inplay != self.inplay:
            return False
        if self.seconds_to_start is not None:
            if inplay:
                return False
            start = _market_start_ms(book)
            now = book.publish_time
            if start is None or now is None:
                return False
            if (start - now) / 1000.0 > self.seconds_to_start:
                return False
        return True


def _market_start_ms(book: Any) -> int | None:
    definition = book.market_definition
    if not definition:
        return None
    cached = definition.get("_marketstreams_start_ms")
    if cached is not None:
        return int(cached)
    value = definition.get("marketTime")
    if not value:
        return None
    try:
        ms = int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None
    definition["_marketstreams_start_ms"] = ms
    return ms

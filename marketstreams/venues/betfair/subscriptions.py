"""Subscription descriptions: every filter and data-filter field of the ESA schema.

More in docs/modules.md (``marketstreams.venues.betfair.subscriptions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import BetfairConfigurationError

__all__ = [
    "MARKET_DATA_FIELDS",
    "MarketDataFilter",
    "MarketFilter",
    "MarketSubscription",
    "OrderFilter",
    "OrderSubscription",
    "Subscription",
]

MARKET_DATA_FIELDS = frozenset(
    {
        "EX_BEST_OFFERS_DISP",
        "EX_BEST_OFFERS",
        "EX_ALL_OFFERS",
        "EX_TRADED",
        "EX_TRADED_VOL",
        "EX_LTP",
        "EX_MARKET_DEF",
        "SP_TRADED",
        "SP_PROJECTED",
    }
)
BETTING_TYPES = frozenset(
    {"ODDS", "LINE", "RANGE", "ASIAN_HANDICAP_DOUBLE_LINE", "ASIAN_HANDICAP_SINGLE_LINE"}
)


def _strings(value: Sequence[str] | None, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise BetfairConfigurationError(f"{name} must be a list of strings, not a string")
    return [str(v) for v in value]


@dataclass(frozen=True, slots=True)
class MarketFilter:
    """Which markets to stream. An empty filter matches every market (Betfair then applies the
    account's subscription limit)."""

    market_ids: Sequence[str] | None = None
    event_type_ids: Sequence[str] | None = None
    event_ids: Sequence[str] | None = None
    country_codes: Sequence[str] | None = None
    market_types: Sequence[str] | None = None
    venues: Sequence[str] | None = None
    betting_types: Sequence[str] | None = None
    race_types: Sequence[str] | None = None
    bsp_market: bool | None = None
    turn_in_play_enabled: bool | None = None

    def __post_init__(self) -> None:
        for bt in self.betting_types or ():
            if bt not in BETTING_TYPES:
                raise BetfairConfigurationError(f"unknown betting type {bt!r}")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in (
            ("marketIds", _strings(self.market_ids, "market_ids")),
            ("eventTypeIds", _strings(self.event_type_ids, "event_type_ids")),
            ("eventIds", _strings(self.event_ids, "event_ids")),
            ("countryCodes", _strings(self.country_codes, "country_codes")),
            ("marketTypes", _strings(self.market_types, "market_types")),
            ("venues", _strings(self.venues, "venues")),
            ("bettingTypes", _strings(self.betting_types, "betting_types")),
            ("raceTypes", _strings(self.race_types, "race_types")),
            ("bspMarket", self.bsp_market),
            ("turnInPlayEnabled", self.turn_in_play_enabled),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class MarketDataFilter:
    """Which data to stream for each market. ``ladder_levels`` (1-10) applies to the level-based
    EX_BEST_OFFERS / EX_BEST_OFFERS_DISP ladders."""

    fields: Sequence[str] = ("EX_ALL_OFFERS", "EX_TRADED", "EX_LTP", "EX_MARKET_DEF")
    ladder_levels: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.fields, str):
            raise BetfairConfigurationError("fields must be a list of field names")
        for f in self.fields:
            if f not in MARKET_DATA_FIELDS:
                raise BetfairConfigurationError(
                    f"unknown market data field {f!r}; known: {sorted(MARKET_DATA_FIELDS)}"
                )
        if self.ladder_levels is not None and not 1 <= self.ladder_levels <= 10:
            raise BetfairConfigurationError("ladder_levels must be between 1 and 10")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fields": list(self.fields)}
        if self.ladder_levels is not None:
            out["ladderLevels"] = self.ladder_levels
        return out


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Which orders to stream: ``include_overall_position`` (Betfair's default True),
    ``customer_strategy_refs`` (restricts orders and strategy matches) and
    ``partition_matched_by_strategy_ref`` (adds ``smc`` per strategy)."""

    include_overall_position: bool | None = None
    customer_strategy_refs: Sequence[str] | None = None
    partition_matched_by_strategy_ref: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.include_overall_position is not None:
            out["includeOverallPosition"] = self.include_overall_position
        refs = _strings(self.customer_strategy_refs, "customer_strategy_refs")
        if refs is not None:
            out["customerStrategyRefs"] = refs
        if self.partition_matched_by_strategy_ref is not None:
            out["partitionMatchedByStrategyRef"] = self.partition_matched_by_strategy_ref
        return out


def _check_common(conflate_ms: int | None, heartbeat_ms: int | None) -> None:
    if conflate_ms is not None and not 0 <= conflate_ms <= 120_000:
        raise BetfairConfigurationError("conflate_ms must be between 0 and 120000")
    if heartbeat_ms is not None and not 500 <= heartbeat_ms <= 5000:
        raise BetfairConfigurationError("heartbeat_ms must be between 500 and 5000")


def _common(
    message: dict[str, Any],
    initial_clk: str | None,
    clk: str | None,
    conflate_ms: int | None,
    heartbeat_ms: int | None,
    segmentation_enabled: bool,
) -> dict[str, Any]:
    if initial_clk is not None:
        message["initialClk"] = initial_clk
    if clk is not None:
        message["clk"] = clk
    if conflate_ms is not None:
        message["conflateMs"] = conflate_ms
    if heartbeat_ms is not None:
        message["heartbeatMs"] = heartbeat_ms
    message["segmentationEnabled"] = segmentation_enabled
    return message


@dataclass(frozen=True, slots=True)
class MarketSubscription:
    """A market stream subscription (``op: marketSubscription``)."""

    market_filter: MarketFilter = field(default_factory=MarketFilter)
    market_data_filter: MarketDataFilter = field(default_factory=MarketDataFilter)
    conflate_ms: int | None = None
    heartbeat_ms: int | None = 5000
    segmentation_enabled: bool = True

    kind = "market"
    op = "marketSubscription"
    change_op = "mcm"

    def __post_init__(self) -> None:
        _check_common(self.conflate_ms, self.heartbeat_ms)

    def to_message(
        self, id: int, initial_clk: str | None = None, clk: str | None = None
    ) -> dict[str, Any]:
        message = {
            "op": self.op,
            "id": id,
            "marketFilter": self.market_filter.to_dict(),
            "marketDataFilter": self.market_data_filter.to_dict(),
        }
        return _common(
            message,
            initial_clk,
            clk,
            self.conflate_ms,
            self.heartbeat_ms,
            self.segmentation_enabled,
        )


@dataclass(frozen=True, slots=True)
class OrderSubscription:
    """An order stream subscription (``op: orderSubscription``)."""

    order_filter: OrderFilter = field(default_factory=OrderFilter)
    conflate_ms: int | None = None
    heartbeat_ms: int | None = 5000
    segmentation_enabled: bool = True

    kind = "order"
    op = "orderSubscription"
    change_op = "ocm"

    def __post_init__(self) -> None:
        _check_common(self.conflate_ms, self.heartbeat_ms)

    def to_message(
        self, id: int, initial_clk: str | None = None, clk: str | None = None
    ) -> dict[str, Any]:
        message = {"op": self.op, "id": id, "orderFilter": self.order_filter.to_dict()}
        return _common(
            message,
            initial_clk,
            clk,
            self.conflate_ms,
            self.heartbeat_ms,
            self.segmentation_enabled,
        )


Subscription = MarketSubscription | OrderSubscription

"""simulate() over real files: a tiny market the test writes, the shared historic files, bad
files, a raising strategy, workers."""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from marketstreams.simulation import (
    CSV_COLUMNS,
    SimulationResult,
    Strategy,
    settle_profit,
    simulate,
)
from tests.conftest import shared_data
from tests.integration.simulation.strategies import (
    BackFavourite,
    BackFirstRunner,
    LayFavourite30,
    Raises,
)

T0 = 1_700_000_000_000
START = "2023-11-14T22:14:20.000Z"  # T0 + 60 s


def write_market(path: Path, market_id: str = "1.555", winner: int = 1) -> Path:
    """One small market: offers and trading for 60 s, a suspension at the off, in play, closed
    with `winner` the WINNER."""

    def definition(status: str, inplay: bool, version: int, final: bool = False) -> dict[str, Any]:
        runners = [
            {
                "id": sid,
                "sortPriority": sid,
                "status": ("WINNER" if sid == winner else "LOSER") if final else "ACTIVE",
            }
            for sid in (1, 2)
        ]
        return {
            "status": status,
            "inPlay": inplay,
            "version": version,
            "betDelay": 1 if inplay else 0,
            "bspMarket": False,
            "marketTime": START,
            "marketType": "WIN",
            "numberOfWinners": 1,
            "marketBaseRate": 5.0,
            "eventName": "Tiny Park",
            "runners": runners,
        }

    lines = [
        {
            "op": "mcm",
            "pt": T0,
            "mc": [
                {
                    "id": market_id,
                    "img": True,
                    "marketDefinition": definition("OPEN", False, 1),
                    "rc": [
                        {
                            "id": 1,
                            "atb": [[2.5, 8], [2.48, 20]],
                            "atl": [[2.52, 30]],
                            "trd": [[2.5, 100]],
                            "ltp": 2.5,
                        },
                        {
                            "id": 2,
                            "atb": [[2.0, 50]],
                            "atl": [[2.04, 40]],
                            "trd": [[2.0, 50]],
                            "ltp": 2.02,
                        },
                    ],
                }
            ],
        }
    ]
    for i in range(1, 60):
        lines.append(
            {
                "op": "mcm",
                "pt": T0 + i * 1000,
                "mc": [{"id": market_id, "rc": [{"id": 2, "trd": [[2.0, 50 + i]]}]}],
            }
        )
    for pt, md in (
        (T0 + 60_000, definition("SUSPENDED", False, 2)),
        (T0 + 61_000, definition("OPEN", True, 3)),
        (T0 + 120_000, definition("SUSPENDED", True, 4)),
        (T0 + 130_000, definition("CLOSED", True, 5, final=True)),
    ):
        lines.append({"op": "mcm", "pt": pt, "mc": [{"id": market_id, "marketDefinition": md}]})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_tiny_market_from_placement_to_settlement(tmp_path: Path) -> None:
    source = write_market(tmp_path / "1.555")
    result = simulate(source, BackFirstRunner(), commission=0.1)
    assert result.errors == [] and result.strategy_errors == 0
    good, refused = result.orders
    assert (good.bet_id, refused.bet_id) == ("1", "2")
    assert refused.status == "VIOLATION" and "ladder" in (refused.violation or "")
    # 30 s before the off it takes the 8 offered at 2.5; the other 2 wait, and lapse at the off
    assert (good.size_matched, good.average_price_matched, good.size_lapsed) == (8.0, 2.5, 2.0)
    assert good.completed_at == T0 + 60_000
    assert good.created_at == T0 + 30_000 and good.placed_at == T0 + 31_000
    assert good.status == "EXECUTION_COMPLETE" and good.runner_status == "WINNER"
    assert good.profit == 12.0
    (market,) = result.markets
    assert market.gross_profit == good.profit
    assert market.commission == round(good.profit * 0.1, 2)
    assert result.summary()["net_profit"] == market.net_profit == result.net_profit
    assert market.event_name == "Tiny Park"
    # the market's own rate (marketBaseRate 5 %) when no commission is given
    assert simulate(source, BackFirstRunner()).markets[0].rate == 0.05


def test_csv_and_dataframe_have_the_tutorials_columns(tmp_path: Path) -> None:
    result = simulate(write_market(tmp_path / "1.555"), BackFirstRunner())
    result.to_csv(tmp_path / "orders.csv")
    with open(tmp_path / "orders.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert [r["bet_id"] for r in rows] == ["1", "2"]
    assert rows[0]["strategy_name"] == "BackFirstRunner"
    assert float(rows[0]["profit"]) == result.orders[0].profit
    assert rows[1]["order_status"] == "VIOLATION"
    frame = result.to_dataframe()
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert frame["size_matched"].sum() == 8.0


def test_the_window_limits_strategy_calls_only(tmp_path: Path) -> None:
    source = write_market(tmp_path / "1.555")

    class Persist(BackFirstRunner):
        def on_market_book(self, market: Any, book: Any) -> None:
            if not market.orders:
                market.place_order(2, "BACK", 3.0, 10.0, persistence="PERSIST")

    # placed on the first book the window lets through; matched (traded 2.0 < 3.0: no) and
    # still there after the window, until the market closes
    result = simulate(source, Persist(), market_filter={"seconds_to_start": 10})
    (order,) = result.orders
    assert order.created_at == T0 + 50_000
    assert order.status == "LAPSED" and order.completed_at == T0 + 130_000
    lapse = simulate(source, BackFavourite(), market_filter={"seconds_to_start": 10})
    assert all(o.created_at is not None and o.created_at >= T0 + 50_000 for o in lapse.orders)


def test_a_raising_strategy_is_counted_and_the_others_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = write_market(tmp_path / "1.555")
    with caplog.at_level(logging.ERROR, logger="marketstreams.simulation"):
        result = simulate(source, [Raises(), BackFirstRunner()])
    assert result.strategy_errors == 63  # every book but the closing one
    assert len(result.orders) == 2 and result.orders[0].size_matched == 8.0
    assert "strategy Raises raised in on_market_book on 1.555" in caplog.text


def test_a_corrupt_file_fails_alone_with_its_path_and_line(tmp_path: Path) -> None:
    good = write_market(tmp_path / "1.555")
    text = write_market(tmp_path / "1.666", "1.666").read_text().splitlines()
    text[5] = '{"op": "mcm", "pt": 17'  # a truncated line
    bad = tmp_path / "1.666"
    bad.write_text("\n".join(text) + "\n")
    result = simulate([bad, good], BackFirstRunner(), strict=True)
    (error,) = result.errors
    assert error.path.endswith("1.666") and error.line == 6
    assert [o.market_id for o in result.orders] == ["1.555", "1.555"]
    truncated = tmp_path / "1.777.gz"
    truncated.write_bytes(gzip.compress(write_market(tmp_path / "x", "1.777").read_bytes())[:400])
    result = simulate([good, truncated], BackFirstRunner())
    (error,) = result.errors
    assert "1.777.gz" in str(error)
    assert len(result.orders) == 2 and result.markets[0].market_id == "1.555"


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    from marketstreams import ConfigurationError

    source = write_market(tmp_path / "1.555")
    with pytest.raises(ConfigurationError, match="named 'BackFavourite'"):
        simulate(source, [BackFavourite(), BackFavourite()])
    with pytest.raises(ConfigurationError, match="matching"):
        simulate(source, [BackFavourite()], matching="optimistic")
    with pytest.raises(ConfigurationError, match="commission"):
        simulate(source, [BackFavourite()], commission=7)
    with pytest.raises(ConfigurationError, match="at least one"):
        simulate(source, [])


def _check(result: SimulationResult) -> None:
    """Every settled order's profit follows from its runner's status; markets add up."""
    for order in result.orders:
        if order.profit is not None and order.status != "VIOLATION":
            assert order.profit == settle_profit(order, order.runner_status)
        assert order.size_matched <= order.size or order.order_type != "LIMIT"
    for m in result.markets:
        mine = [o for o in result.orders if o.market_id == m.market_id and o.strategy == m.strategy]
        assert m.gross_profit == round(sum(o.profit or 0.0 for o in mine), 2)
        assert m.commission == round(max(m.gross_profit * m.rate, 0.0), 2)


def test_the_shared_historic_files_with_two_strategies_in_one_pass() -> None:
    folder = shared_data("betfair", "historic")
    strategies = [BackFavourite(), LayFavourite30(), BackFavourite("BackFavourite10", stake=10)]
    result = simulate(folder, strategies, market_filter={"market_types": ["WIN"]})
    assert result.lines > 50_000
    by_strategy = {s.name: [o for o in result.orders if o.strategy == s.name] for s in strategies}
    assert all(len(orders) >= 4 for orders in by_strategy.values()), by_strategy
    assert sum(o.size_matched > 0 for o in result.orders) >= 6
    # the 10 stake variant bets where the 5 stake one does, at the same prices
    five, ten = by_strategy["BackFavourite"], by_strategy["BackFavourite10"]
    assert [(o.market_id, o.price) for o in five] == [(o.market_id, o.price) for o in ten]
    assert result.results["BackFavourite"] >= 8  # on_order_update: executed, then settled
    _check(result)
    summary = result.summary()
    assert set(summary["strategies"]) == {s.name for s in strategies}
    assert summary["net_profit"] == round(sum(m.net_profit for m in result.markets), 2)


def test_two_workers_give_the_same_orders_as_one() -> None:
    folder = shared_data("betfair", "historic")
    one = simulate(folder, [BackFavourite(), LayFavourite30()], workers=1)
    two = simulate(folder, [BackFavourite(), LayFavourite30()], workers=2)
    assert len(one.orders) >= 10
    assert [o.as_dict() for o in one.orders] == [o.as_dict() for o in two.orders]
    assert [m.as_dict() for m in one.markets] == [m.as_dict() for m in two.markets]
    assert one.summary()["net_profit"] == two.summary()["net_profit"]


def test_any_executor_runs_the_files(tmp_path: Path) -> None:
    import concurrent.futures as cf

    sources = [write_market(tmp_path / f"1.{i}", f"1.{i}", winner=1 + i % 2) for i in range(4)]
    alone = simulate(sources, BackFirstRunner())
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        pooled = simulate(sources, BackFirstRunner(), executor=pool)
    assert [o.as_dict() for o in pooled.orders] == [o.as_dict() for o in alone.orders]
    assert [o.bet_id for o in pooled.orders] == [str(i) for i in range(1, 9)]
    assert [m.gross_profit for m in pooled.markets] == [12.0, -8.0, 12.0, -8.0]


@pytest.mark.parametrize(
    "window",
    [
        {"seconds_to_start": 80},
        {"inplay": False, "seconds_to_start": 300},
        {"inplay": True},
        {"inplay": False},
    ],
)
def test_strategies_see_the_books_replay_lets_through_the_window(window: dict[str, Any]) -> None:
    from marketstreams import replay

    folder = shared_data("betfair", "historic")

    class Seen(Strategy):
        def __init__(self) -> None:
            self.seen: list[tuple[str, int]] = []

        def on_market_book(self, market: Any, book: Any) -> None:
            self.seen.append((book.market_id, book.publish_time))

        def result(self) -> Any:
            return self.seen

    class Hook:
        def __init__(self) -> None:
            self.seen: list[tuple[str, int]] = []

        def __call__(self, book: Any, trades: Any) -> None:
            if book.status != "CLOSED":  # (a strategy's closing book is on_market_closed)
                self.seen.append((book.market_id, book.publish_time))

        def result(self) -> Any:
            return self.seen

    expected = replay(folder, [Hook()], market_filter=window).results[0]
    seen = simulate(folder, Seen(), market_filter=window).results["Seen"]
    assert len(expected) > 100
    assert seen == expected


def test_books_of_other_venues_are_skipped_quietly(tmp_path: Path) -> None:
    # what replay hands the hook when a folder holds a Luno recording beside Betfair files
    from marketstreams import OrderBook
    from marketstreams.simulation.run import _SimulationHook

    class Counting(BackFirstRunner):
        calls = 0

        def on_market_book(self, market: Any, book: Any) -> None:
            Counting.calls += 1

    hook = _SimulationHook([Counting()], None, None, "flumine")
    luno = OrderBook("luno", "XBTZAR")
    for _ in range(3):
        hook(luno, [])
    assert Counting.calls == 0 and hook.errors == 0
    assert hook.result()["orders"] == []


def test_queue_matching_on_the_shared_files() -> None:
    folder = shared_data("betfair", "historic")
    flumine = simulate(folder, [BackFavourite(), LayFavourite30()])
    queue = simulate(folder, [BackFavourite(), LayFavourite30()], matching="queue")
    _check(queue)
    # the same decisions (the strategies only read the books), matched by other rules
    assert [(o.market_id, o.side, o.price) for o in queue.orders] == [
        (o.market_id, o.side, o.price) for o in flumine.orders
    ]
    assert sum(o.size_matched > 0 for o in queue.orders) >= 5
    # the delivering book's volume is not the order's in queue mode: never more matched there
    for fast, slow in zip(flumine.orders, queue.orders, strict=True):
        at_placement = sum(s for t, _, s in fast.matches if t == fast.placed_at)
        assert sum(s for t, _, s in slow.matches if t == slow.placed_at) <= at_placement


class _Plain(Strategy):
    """Backs the first active runner at the best back price once, in the last 120 s pre-play,
    persistence given: LAPSE orders lapse at the off, PERSIST ones match on in play."""

    def __init__(self, persistence: str = "LAPSE") -> None:
        super().__init__(f"Plain{persistence}")
        self.persistence = persistence

    def on_market_book(self, market: Any, book: Any) -> None:
        if market.orders or book.status != "OPEN" or market.seconds_to_start is None:
            return
        for runner in book.runners:
            best = runner.best_back(1)
            if runner.status == "ACTIVE" and best:
                market.place_order(
                    runner.selection_id, "LAY", best[0][0], 5.0, persistence=self.persistence
                )
                return


class _PlainWatching(_Plain):
    """The same, reading the closing book: the replay then decodes every line."""

    def on_market_closed(self, market: Any, book: Any) -> None:
        return None


def test_lines_after_the_window_are_not_decoded_and_change_nothing() -> None:
    """Past a pre-play window, a market with no live order needs only its definitions: replay
    counts its other lines as quiet instead of decoding them. Orders and markets are those of
    a run that decodes everything (a strategy reading the closing book turns quiet off); a
    PERSIST order resting in play keeps its market decoded until it is done."""
    folder = shared_data("betfair", "historic")
    window = {"inplay": False, "seconds_to_start": 120}
    skipped, matched = {}, {}
    for persistence in ("LAPSE", "PERSIST"):
        quiet = simulate(folder, _Plain(persistence), market_filter=window)
        full = simulate(folder, _PlainWatching(persistence), market_filter=window)
        skipped[persistence] = sum(f.quiet_lines for f in quiet.files)
        assert sum(f.quiet_lines for f in full.files) == 0
        assert quiet.lines == full.lines
        assert len(quiet.orders) >= 5
        strip = lambda o: {**o.as_dict(), "strategy": None}  # noqa: E731
        assert [strip(o) for o in quiet.orders] == [strip(o) for o in full.orders]
        assert [(m.market_id, m.gross_profit, m.net_profit) for m in quiet.markets] == [
            (m.market_id, m.gross_profit, m.net_profit) for m in full.markets
        ]
        matched[persistence] = sum(o.size_matched > 0 for o in quiet.orders)
    assert matched["PERSIST"] > matched["LAPSE"]  # (matched in play, from decoded lines)
    assert skipped["LAPSE"] > 20_000  # the in-play lines of markets with no live order
    assert 0 < skipped["PERSIST"] < skipped["LAPSE"]

"""PaperTrading as a hook on literal crypto books: strategy calls, invalid books, results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marketstreams.book import OrderBook
from marketstreams.models import Trade
from marketstreams.simulation import Fees, PaperMarket, PaperTrading, Strategy


class BuyOnce(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.books = 0
        self.updates: list[str] = []

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        self.books += 1
        if not market.orders:
            market.place_order("buy", 100.0, 2)

    def on_order_update(self, market: PaperMarket, order: Any) -> None:  # type: ignore[override]
        self.updates.append(f"{order.order_id}:{order.filled}")


class Raises(Strategy):
    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        raise RuntimeError("a strategy bug")


def book() -> OrderBook:
    b = OrderBook("bitmex", "XBTUSDT")
    b.bids.update({100.0: 3.0})
    b.asks.update({101.0: 3.0})
    b.mark_valid()
    b.timestamp = 1
    return b


def test_hook_matches_valid_books_only_and_reports(tmp_path: Path) -> None:
    strategy = BuyOnce()
    paper = PaperTrading(strategy, Raises(), fees={"bitmex": Fees(0.0, 0.0)})
    b = book()
    paper(b, [])
    assert paper.paper_orders == 1 and strategy.books == 1
    b.invalidate("reconnecting")
    sell = Trade("bitmex", "XBTUSDT", "sell", 100.0, 5.0, timestamp=2)
    paper(b, [sell])  # not matched, strategy not called
    assert strategy.books == 1 and strategy.updates == [] and paper.waiting == 1
    b.mark_valid()
    paper(b, [sell])  # 3 ahead, 2 ours
    assert strategy.updates == ["P1:2.0"] and strategy.books == 2
    assert paper.profit()["BuyOnce"] == 2 * (100.5 - 100.0)
    result = paper.result()
    assert [o.order_id for o in result.crypto_orders] == ["P1"] and len(result.orders) == 1
    assert result.strategy_errors == 2  # Raises, once per valid book
    summary = result.summary()
    assert summary["orders"] == 1 and summary["crypto"]["BuyOnce"]["filled"] == 2.0
    assert summary["crypto"]["BuyOnce"]["net_profit"] == {"bitmex:XBTUSDT": 1.0}
    out = tmp_path / "paper.html"
    result.report(out)
    html = out.read_text()
    assert "<h2>Crypto positions</h2>" in html and ">P1<" in html and "XBTUSDT" in html


class ReadsTop(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, Any]] = []

    def on_market_book(self, market: PaperMarket, book: Any) -> None:  # type: ignore[override]
        pair = market.best_prices()
        assert pair == (market.best_bid_price(), market.best_ask_price())
        self.seen.append(pair)


def test_best_prices_are_the_books_top_on_every_update() -> None:
    strategy = ReadsTop()
    paper = PaperTrading(strategy)
    b = OrderBook("bitmex", "XBTUSD")
    b.mark_valid()
    paper(b, [])  # both sides empty
    # more levels than one of sortedcontainers' inner lists holds (1,000): the top is still read
    b.bids.update({float(p): 1.0 for p in range(1, 3001)})
    paper(b, [])  # no asks yet
    b.asks.update({float(p): 1.0 for p in range(3001, 6001)})
    b.bids.pop(3000.0)
    paper(b, [])
    b.asks.pop(3001.0)
    b.bids[2999.5] = 2.0
    paper(b, [])
    assert strategy.seen == [
        (None, None),
        (3000.0, None),
        (2999.0, 3001.0),
        (2999.5, 3002.0),
    ]
    assert strategy.seen[-1] == (b.best_bid()[0], b.best_ask()[0])  # type: ignore[index]
    assert paper.crypto is not None and paper.crypto.errors == 0  # its best_prices() check

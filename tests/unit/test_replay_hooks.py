"""``hooks.call_now``: the one way replays call hooks (both job kinds go through it)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from marketstreams import Hook, OrderBook
from marketstreams.hooks import call_now


def test_every_hook_in_order_async_ones_awaited_errors_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def first(book: Any, trades: list[Any]) -> None:
        seen.append("first")

    async def second(book: Any, trades: list[Any]) -> None:
        await asyncio.sleep(0)
        seen.append("second")

    def broken(book: Any, trades: list[Any]) -> None:
        raise RuntimeError("boom")

    def last(book: Any, trades: list[Any]) -> None:
        seen.append(f"last {len(trades)}")

    hooks = [Hook(first), Hook(second), Hook(broken), Hook(last)]
    loop = asyncio.new_event_loop()
    try:
        call = call_now(hooks, loop, " on a.mcm")
        with caplog.at_level(logging.ERROR, "marketstreams.hooks"):
            call(OrderBook("x", "y"), [])
            call(OrderBook("x", "y"), ["t"])  # type: ignore[list-item]
    finally:
        loop.close()
    assert seen == ["first", "second", "last 0", "first", "second", "last 1"]
    assert hooks[2].stats.errors == 2
    assert "raised on a.mcm" in caplog.text and "boom" in caplog.text


def test_async_hooks_need_a_loop() -> None:
    async def hook(book: Any, trades: list[Any]) -> None:
        return None

    with pytest.raises(ValueError, match="event loop"):
        call_now([Hook(hook)], None)
    call_now([Hook(print)], None)  # sync hooks alone need none


def test_only_a_quiet_markets_own_lines_go_undecoded() -> None:
    """A line is skipped undecoded only when the file holds one market, the hook wants only
    its definitions, and the line names it without a definition: a new market's first change
    (even with no definition) and any definition are decoded."""
    from marketstreams.replay.historical import _is_quiet

    plain = b'{"op":"mcm","pt":1,"mc":[{"id":"1.1","rc":[{"id":1,"ltp":2.0}]}]}'
    other = plain.replace(b'"1.1"', b'"1.2"')
    definition = plain.replace(b'"rc"', b'"marketDefinition":{"status":"CLOSED"},"rc"')
    assert _is_quiet(plain, {"1.1": object()}, {"1.1"})
    assert not _is_quiet(other, {"1.1": object()}, {"1.1"})
    assert not _is_quiet(definition, {"1.1": object()}, {"1.1"})
    assert not _is_quiet(plain, {"1.1": object()}, {"1.9"})
    assert not _is_quiet(plain, {"1.1": object(), "1.2": object()}, {"1.1", "1.2"})
    assert not _is_quiet(plain, {}, {"1.1"})

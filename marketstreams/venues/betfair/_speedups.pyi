from collections.abc import Callable, Iterator
from typing import Any

NLADDERS: int

class RunnerCore:
    last_price_traded: Any
    tv: Any
    sp_near: Any
    sp_far: Any
    _stamp: int
    @property
    def full_depth(self) -> bool: ...
    @property
    def available_to_back(self) -> list[tuple[float, float]]: ...
    @property
    def available_to_lay(self) -> list[tuple[float, float]]: ...
    def best_back(self, n: int = 1) -> list[tuple[float, float]]: ...
    def best_lay(self, n: int = 1) -> list[tuple[float, float]]: ...
    def _ladder(self, kind: int) -> list[tuple[float, float]]: ...
    def _traded(self) -> float | None: ...
    def _clear(self) -> None: ...
    def _core_state(self) -> tuple[Any, ...]: ...
    def _set_core_state(self, state: tuple[Any, ...]) -> None: ...

def apply_changes(
    runners: dict[Any, Any],
    rcs: list[dict[str, Any]],
    stamp: int,
    changed: list[Any],
    add_runner: Callable[[int, float], Any],
) -> int: ...
def apply_deltas(
    markets: dict[str, Any], m: dict[str, Any], mcs: list[Any], stamp: int
) -> list[Any] | None: ...
def apply_line(
    markets: dict[str, Any],
    line: bytes,
    stamp: int,
    on_definition: Callable[[Any, bytes | None, bool], None] | None = None,
) -> tuple[Any, list[Any]] | None: ...
def apply_lines(
    markets: dict[str, Any],
    first: bytes,
    lines: Iterator[bytes],
    stamp: int,
    idle: dict[str, float],
) -> tuple[int, int, Any, bytes | None]: ...

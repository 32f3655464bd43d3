"""What a replay gives back: per-source counts and hook results, merged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..exceptions import ReplayError

__all__ = ["FileResult", "ReplayResult", "merge_results"]


@dataclass(slots=True)
class FileResult:
    """What one source gave: counts, the hooks' per-file results, and its error if it failed.

    ``lines``: lines of data read (blank ones not counted); ``markets``: distinct markets the
    source made a book for (a Betfair file: a market the cache held, a bad line's included);
    ``updates``: books handed to the hooks; ``skipped``: bad lines skipped; ``quiet_lines``:
    lines read but not decoded because the only hook needed no more of their markets but
    definitions (a simulation past its window: see docs/simulation.md); ``idle_lines``: lines
    applied without handing their books to the only hook, which waited for none of them (a
    simulation before its window)."""

    source: str
    lines: int = 0
    markets: int = 0
    updates: int = 0
    skipped: int = 0
    quiet_lines: int = 0
    idle_lines: int = 0
    filtered_markets: int = 0
    seconds: float = 0.0
    bytes: int = 0
    results: list[Any] = field(default_factory=list)
    error: str | None = None
    error_line: int | None = None


@dataclass(slots=True)
class ReplayResult:
    """The whole replay: per-file results in source order, merged hook results, totals."""

    files: list[FileResult]
    results: list[Any]
    seconds: float

    @property
    def errors(self) -> list[ReplayError]:
        return [
            ReplayError(f.source, f.error_line, f.error) for f in self.files if f.error is not None
        ]

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    @property
    def markets(self) -> int:
        return sum(f.markets for f in self.files)

    @property
    def updates(self) -> int:
        return sum(f.updates for f in self.files)

    def summary(self) -> dict[str, Any]:
        return {
            "files": len(self.files),
            "markets": self.markets,
            "updates": self.updates,
            "lines": self.lines,
            "skipped": sum(f.skipped for f in self.files),
            "errors": [str(e) for e in self.errors],
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines / self.seconds) if self.seconds else None,
        }

    def as_dict(self) -> dict[str, Any]:
        out = self.summary()
        out["per_file"] = [asdict(f) for f in self.files]
        return out


def merge_results(values: Sequence[Any]) -> Any:
    """The default reducer: per-file results of one hook, in source order, into one value.

    Dicts are merged (later files win on equal keys), lists concatenated, numbers summed; None
    values are ignored; anything else comes back as the list of values.
    """
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        merged: dict[Any, Any] = {}
        for v in present:
            merged.update(v)
        return merged
    if all(isinstance(v, list) for v in present):
        return [x for v in present for x in v]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return sum(present)
    return present

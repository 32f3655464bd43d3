"""The command line's progress bar: one terminal line, silent when not a tty."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

from .results import FileResult

__all__ = ["ProgressBar"]

_REDRAW = 0.1  # seconds between redraws while records play


class ProgressBar:
    """Files, lines, markets, throughput and ETA on one terminal line (silent when not a tty).

    Called as ``bar(file_result, done, total)`` when a file ends; ``bar.record(t)`` as each
    record of a paced replay is played (its recorded time ``t``), so the line moves within a
    file too."""

    def __init__(self, total_files: int, total_bytes: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.enabled = self.out.isatty()
        self.total_files = total_files
        self.total_bytes = max(total_bytes, 1)
        self.done = 0
        self.bytes = 0
        self.lines = 0
        self.markets = 0
        self.played = 0  # records played by a paced replay
        self.first: float | None = None  # recorded time of the first played record
        self.started = time.perf_counter()
        self._drawn = 0.0

    def __call__(self, fr: FileResult, done: int, total: int) -> None:
        self.done, self.total_files = done, total
        self.bytes += fr.bytes
        self.lines += fr.lines
        self.markets += fr.markets
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.lines / elapsed if elapsed else 0.0
        frac = self.bytes / self.total_bytes
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        self._draw(
            f"lines {self.lines:,}  markets {self.markets:,}  {rate:,.0f} lines/s  ETA {eta:5.1f} s"
        )

    def record(self, t: float) -> None:
        """A paced replay played the record of time ``t`` (epoch seconds)."""
        self.played += 1
        if self.first is None:
            self.first = t
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._drawn < _REDRAW:
            return
        self._drawn = now
        clock = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
        self._draw(
            f"records {self.played:,}  at {clock} UTC (+{t - self.first:,.1f} s recorded)"
            f"  {now - self.started:,.1f} s"
        )

    def _draw(self, text: str) -> None:
        width = 24
        filled = int(width * self.done / max(self.total_files, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.out.write(f"\r[{bar}] files {self.done}/{self.total_files}  {text} \x1b[K")
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()

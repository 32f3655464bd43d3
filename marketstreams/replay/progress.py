"""The command line's progress bar: one terminal line, silent when not a tty."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .results import FileResult

__all__ = ["ProgressBar"]


class ProgressBar:
    """Files, lines, markets, throughput and ETA on one terminal line (silent when not a tty)."""

    def __init__(self, total_files: int, total_bytes: int, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self.enabled = self.out.isatty()
        self.total_files = total_files
        self.total_bytes = max(total_bytes, 1)
        self.bytes = 0
        self.lines = 0
        self.markets = 0
        self.started = time.perf_counter()

    def __call__(self, fr: FileResult, done: int, total: int) -> None:
        self.bytes += fr.bytes
        self.lines += fr.lines
        self.markets += fr.markets
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.lines / elapsed if elapsed else 0.0
        frac = self.bytes / self.total_bytes
        eta = elapsed * (1 - frac) / frac if frac > 0 else 0.0
        width = 24
        filled = int(width * done / max(total, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.out.write(
            f"\r[{bar}] files {done}/{total}  lines {self.lines:,}  markets {self.markets:,}"
            f"  {rate:,.0f} lines/s  ETA {eta:5.1f} s "
        )
        self.out.flush()

    def close(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()

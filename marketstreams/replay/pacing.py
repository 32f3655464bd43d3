"""The recorded pace: how long to wait before each replayed event."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..exceptions import ConfigurationError

__all__ = ["Pacer", "pacer"]


class Pacer:
    """Recorded pace: ``delay(t)`` says how long to wait before the event recorded at ``t``
    (epoch seconds) is due, at ``speed`` times the recorded pace (1: as recorded).

    ``tick(t)``, when given, is called with each event's time as it becomes due (a progress
    display: a paced replay is slow enough for one call per event)."""

    __slots__ = ("_start", "_t0", "speed", "tick")

    def __init__(self, speed: float, tick: Callable[[float], None] | None = None) -> None:
        if not speed > 0:
            raise ConfigurationError("speed must be positive (1 is the recorded pace)")
        self.speed = speed
        self.tick = tick
        self._t0: float | None = None
        self._start = 0.0

    def delay(self, t: float) -> float:
        now = time.monotonic()
        if self._t0 is None:
            self._t0, self._start = t, now
            return 0.0
        return self._start + (t - self._t0) / self.speed - now

    def wait(self, t: float) -> None:
        """Sleep (blocking) until ``t`` is due."""
        pause = self.delay(t)
        if pause > 0:
            time.sleep(pause)
        if self.tick is not None:
            self.tick(t)


def pacer(speed: float | None, tick: Callable[[float], None] | None = None) -> Pacer | None:
    """A pacer for ``speed``, or None for full speed (None or 0)."""
    return Pacer(speed, tick) if speed else None

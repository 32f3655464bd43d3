"""Capped, jittered exponential backoff as a small pure object (no I/O, no sleeping)."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    """Delays for successive reconnect attempts.

    ``next_delay()`` returns ``initial * factor**attempt`` capped at ``maximum``, with "full
    jitter" over the upper ``jitter`` fraction so a fleet of clients does not reconnect in step.
    ``reset()`` after a connection has proved healthy (for example after its first snapshot).
    The first delay after a reset is small but not zero: a venue that drops us right after
    connecting is not hammered.
    """

    __slots__ = ("_attempt", "_random", "factor", "initial", "jitter", "maximum")

    def __init__(
        self,
        initial: float = 0.1,
        maximum: float = 30.0,
        factor: float = 2.0,
        jitter: float = 0.5,
        rng: random.Random | None = None,
    ) -> None:
        if initial <= 0 or maximum < initial or factor < 1 or not 0 <= jitter <= 1:
            raise ValueError("backoff needs 0 < initial <= maximum, factor >= 1, 0 <= jitter <= 1")
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self._attempt = 0
        self._random = rng or random.Random()

    @property
    def attempt(self) -> int:
        """How many delays were handed out since the last reset."""
        return self._attempt

    def next_delay(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        return base * (1 - self.jitter * self._random.random())

    def reset(self) -> None:
        self._attempt = 0

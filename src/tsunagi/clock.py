"""Time, injected: services and the store take a Clock so tests can move it."""

from __future__ import annotations

import time


class Clock:
    """Wall-clock time in seconds (float) and milliseconds (int)."""

    def now(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return int(time.time() * 1000)


class ManualClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._t = start

    def now(self) -> float:
        return self._t

    def now_ms(self) -> int:
        return int(self._t * 1000)

    def advance(self, seconds: float) -> None:
        self._t += seconds

"""The spacecraft clock: the one place every time tag on board comes from.

Real time by default. On the bench, a scaled clock runs mission time faster than real time, anchored
to a wall-clock instant the bench chooses, so that a supervisor restarted mid-run picks up the same
mission time instead of starting over.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from flight.link.errors import ConfigError


class Clock(Protocol):
    rate: float

    def now(self) -> float:
        """Mission time: seconds since 1970-01-01 UTC (POSIX, no leap seconds)."""
        ...


class RealClock:
    rate = 1.0

    def now(self) -> float:
        return time.time()


@dataclass
class ScaledClock:
    """Mission time = ``start`` + ``rate`` × (wall time − ``anchor``)."""

    start: float
    anchor: float
    rate: float = 1.0
    wall: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1e6:
            raise ConfigError(f"clock rate {self.rate} out of (0, 1e6]")

    def now(self) -> float:
        return self.start + self.rate * (self.wall() - self.anchor)


@dataclass
class ManualClock:
    """A clock that moves only when told: for tests and for stepping through scenarios."""

    t: float = 1.8e9
    rate: float = 1.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

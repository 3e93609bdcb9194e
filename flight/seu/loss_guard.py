"""A guard against silent data corruption that no checksum sees: upsets in activations, gradients,
or state between a write and its seal.

It trips on a non-finite loss or gradient norm, or on a loss spike: a robust z-score (median and
median absolute deviation of a window of recent losses, so one earlier spike does not hide the
next) above a limit. Training is deterministic, so a trip is tested by replay: a rollback replays
the same batches, and a spike that comes back bit for bit at the same step is the data's own, not an
upset. The guard then lets it through (and a non-finite one is a divergence, not an upset).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation


class Diverged(Exception):
    """A non-finite loss that replay reproduced: the training itself diverged."""


@dataclass(frozen=True)
class Trip:
    step: int
    reason: str


class LossGuard:
    def __init__(self, window: int = 50, z_limit: float = 8.0, warmup: int = 20) -> None:
        self.z_limit = z_limit
        self.warmup = warmup  # losses needed before a spike can be judged
        self._recent: deque[float] = deque(maxlen=window)
        self._suspect: dict[int, float] = {}  # step → the loss that tripped there, awaiting its replay
        self.trips = 0
        self.confirmed = 0  # trips that replay showed to be the data's own

    def check(self, step: int, loss: float, grad_norm: float = 0.0) -> Trip | None:
        """Judge the loss (and gradient norm) of ``step``; a Trip asks for a rollback."""
        reason = self._anomaly(loss, grad_norm)
        if reason is None:
            self._recent.append(loss)
            return None
        before = self._suspect.pop(step, None)
        if before is not None and (before == loss or math.isnan(before) and math.isnan(loss)):
            self.confirmed += 1
            if not math.isfinite(loss) or not math.isfinite(grad_norm):
                raise Diverged(f"step {step}: {reason}, again after a rollback and replay")
            self._recent.append(loss)
            return None
        self._suspect[step] = loss
        self.trips += 1
        return Trip(step, reason)

    def z_score(self, loss: float) -> float:
        if len(self._recent) < self.warmup:
            return 0.0
        median = statistics.median(self._recent)
        spread = MAD_TO_SIGMA * statistics.median(abs(x - median) for x in self._recent)
        return (loss - median) / spread if spread > 0 else 0.0

    def _anomaly(self, loss: float, grad_norm: float) -> str | None:
        if not math.isfinite(loss):
            return f"loss {loss}"
        if not math.isfinite(grad_norm):
            return f"gradient norm {grad_norm}"
        z = self.z_score(loss)
        return f"loss {loss:.4g} spiked (z {z:.1f})" if z > self.z_limit else None

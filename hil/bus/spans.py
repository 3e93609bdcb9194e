"""The spans of time where a condition holds along the orbit: how eclipses and passes are both found.

The condition is vectorised (an array of times in, an array of booleans out): sampled over the whole
interval in one call, then each change of state is bisected.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def spans(
    inside: Callable[[np.ndarray], np.ndarray],
    start: float,
    end: float,
    step_s: float,
    tolerance_s: float = 0.05,
) -> list[tuple[float, float]]:
    """The spans of [start, end] where the vectorised condition ``inside(times)`` holds, in order.

    Samples every ``step_s`` (and at ``end``), then bisects each change of state to within
    ``tolerance_s``. A span already in progress at ``start`` begins at ``start``; one still running
    at ``end`` ends at ``end``. A span shorter than ``step_s`` can fall between two samples and be
    missed: pick the step below the shortest span that matters.
    """
    if not step_s > 0.0 or not tolerance_s > 0.0:
        raise ValueError(f"step {step_s} s and tolerance {tolerance_s} s must both be positive")
    if not end > start:
        raise ValueError(f"end {end} is not after start {start}")
    count = math.ceil((end - start) / step_s)
    times = np.append(start + step_s * np.arange(count), end)
    states = np.asarray(inside(times), dtype=bool)
    # Indices i where the state differs between sample i and i + 1.
    changes = np.flatnonzero(states[1:] != states[:-1])
    edges = [_bisect(inside, times[i], times[i + 1], tolerance_s) for i in changes]
    if states[0]:
        edges.insert(0, float(start))
    if states[-1]:
        edges.append(float(end))
    return list(zip(edges[::2], edges[1::2], strict=True))


def _bisect(inside: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, tolerance_s: float) -> float:
    """The instant between lo and hi, within tolerance_s / 2, where inside() stops being what it is at lo."""
    lo, hi = float(lo), float(hi)
    at_lo = bool(inside(np.array([lo]))[0])
    while hi - lo > tolerance_s:
        middle = 0.5 * (lo + hi)
        if bool(inside(np.array([middle]))[0]) == at_lo:
            lo = middle
        else:
            hi = middle
    return 0.5 * (lo + hi)

"""Eclipses: how much of the Sun the satellite sees past the Earth, and when that changes.

The conical shadow model: seen from the satellite, the Sun and the Earth are two discs of angular
radii asin(R_sun / d_sun) and asin(R_earth / d_earth); the sunlit fraction is the part of the Sun's
disc that the Earth's does not cover. The discs are overlapped as plane circles: the Sun's is a
quarter of a degree across, and over that width the Earth's limb, a small circle on the sky, bends
within 0.1 % of the plane circle of the same radius. The Earth is a sphere of its equatorial radius,
without atmosphere: refraction and the oblate limb move real boundaries by a few seconds at most.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from hil.bus.orbit import Orbit
from hil.bus.spans import spans
from hil.bus.sun import SUN_RADIUS_KM, sun_positions_km

EARTH_RADIUS_KM = 6378.137  # WGS84 equatorial


class Eclipse(enum.StrEnum):
    SUNLIT = "sunlit"
    PENUMBRA = "penumbra"
    UMBRA = "umbra"


def eclipse_of(fraction: float) -> Eclipse:
    """The eclipse state of a sunlit fraction: all of the Sun, some of it, or none."""
    if fraction >= 1.0:
        return Eclipse.SUNLIT
    if fraction <= 0.0:
        return Eclipse.UMBRA
    return Eclipse.PENUMBRA


def overlap_area(radius_a: np.ndarray, radius_b: np.ndarray, separation: np.ndarray) -> np.ndarray:
    """Area common to two discs of the given radii whose centres are ``separation`` apart (broadcasts)."""
    a, b, d = np.broadcast_arrays(
        np.asarray(radius_a, dtype=np.float64),
        np.asarray(radius_b, dtype=np.float64),
        np.asarray(separation, dtype=np.float64),
    )
    area = np.zeros(a.shape)
    contained = d <= np.abs(a - b)
    area[contained] = math.pi * np.minimum(a, b)[contained] ** 2
    lens = ~contained & (d < a + b)
    a, b, d = a[lens], b[lens], d[lens]
    # Two circular segments, one cut from each disc by the common chord, less the kite between them
    # (its area from Heron's formula on the triangle of the two centres and one chord end).
    angle_a = np.arccos(np.clip((d * d + a * a - b * b) / (2.0 * d * a), -1.0, 1.0))
    angle_b = np.arccos(np.clip((d * d + b * b - a * a) / (2.0 * d * b), -1.0, 1.0))
    kite = 0.5 * np.sqrt(np.maximum((-d + a + b) * (d + a - b) * (d - a + b) * (d + a + b), 0.0))
    area[lens] = a * a * angle_a + b * b * angle_b - kite
    return area


def sunlit_fractions(sats_km: np.ndarray, suns_km: np.ndarray) -> np.ndarray:
    """Fraction of the Sun's disc seen from each satellite position, shape (n,), in [0, 1].

    ``sats_km`` and ``suns_km`` are geocentric, in one frame, shape (n, 3) (or broadcastable).
    """
    sats = np.asarray(sats_km, dtype=np.float64)
    to_sun = np.asarray(suns_km, dtype=np.float64) - sats
    sun_distance = np.linalg.norm(to_sun, axis=-1)
    earth_distance = np.linalg.norm(sats, axis=-1)
    # Clipped so that a position inside the Earth sees it fill half the sky rather than fail.
    sun_radius = np.arcsin(np.minimum(SUN_RADIUS_KM / sun_distance, 1.0))
    earth_radius = np.arcsin(np.minimum(EARTH_RADIUS_KM / earth_distance, 1.0))
    # atan2 of |cross| and dot keeps the small angles near the boundary accurate, unlike acos.
    to_earth = -sats
    separation = np.arctan2(
        np.linalg.norm(np.cross(to_sun, to_earth), axis=-1), np.einsum("...i,...i", to_sun, to_earth)
    )
    covered = overlap_area(sun_radius, earth_radius, separation) / (math.pi * sun_radius**2)
    fractions = np.clip(1.0 - covered, 0.0, 1.0)
    # Exact ends, so that SUNLIT and UMBRA are equalities rather than rounding accidents.
    fractions[separation >= sun_radius + earth_radius] = 1.0
    fractions[separation + sun_radius <= earth_radius] = 0.0
    return fractions


def sunlit_fraction(sat_km: np.ndarray, sun_km: np.ndarray) -> float:
    """Fraction of the Sun's disc seen from one satellite position (km, shape (3,)), in [0, 1]."""
    return float(sunlit_fractions(np.reshape(sat_km, (1, 3)), np.reshape(sun_km, (1, 3)))[0])


@dataclass(frozen=True)
class EclipseWindow:
    """One pass through the Earth's shadow, in UNIX seconds.

    ``entry``: the Sun's disc starts to be covered; ``exit``: it is whole again. ``umbra_entry`` and
    ``umbra_exit`` bound the total part, or are None for a penumbral-only (grazing) eclipse.
    """

    entry: float
    exit: float
    umbra_entry: float | None
    umbra_exit: float | None

    @property
    def duration_s(self) -> float:
        return self.exit - self.entry

    @property
    def umbra_duration_s(self) -> float:
        if self.umbra_entry is None or self.umbra_exit is None:
            return 0.0
        return self.umbra_exit - self.umbra_entry


def _fractions(orbit: Orbit, times: np.ndarray) -> np.ndarray:
    return sunlit_fractions(orbit.positions_km(times), sun_positions_km(times))


def eclipses(orbit: Orbit, start: float, end: float, step_s: float = 10.0) -> list[EclipseWindow]:
    """The eclipses between UNIX times ``start`` and ``end``, in order, boundaries to within 0.05 s.

    An eclipse already in progress at ``start`` is reported as entering (and, if total, entering
    the umbra) at ``start``; one still running at ``end`` exits at ``end``. The scan samples every
    ``step_s``: a grazing eclipse (or umbra) shorter than that may be missed.
    """
    shadows = spans(lambda ts: _fractions(orbit, ts) < 1.0, start, end, step_s)
    umbrae = spans(lambda ts: _fractions(orbit, ts) <= 0.0, start, end, step_s)
    windows = []
    for entry, exit_ in shadows:
        # The umbra lies inside the penumbra-inclusive shadow; tolerance covers bisection rounding.
        inside = [u for u in umbrae if entry - 0.1 <= u[0] and u[1] <= exit_ + 0.1]
        windows.append(
            EclipseWindow(
                entry,
                exit_,
                inside[0][0] if inside else None,
                inside[-1][1] if inside else None,
            )
        )
    return windows


def next_eclipse(orbit: Orbit, t: float, horizon_s: float | None = None) -> EclipseWindow | None:
    """The eclipse in progress at ``t`` (entry clipped to ``t``) or the next one to begin within
    ``horizon_s`` (default: two orbits), with its real exit; None if the orbit stays sunlit."""
    horizon = 2.0 * orbit.period_s if horizon_s is None else horizon_s
    # Scan one orbit past the horizon so that an eclipse starting near it is not cut short.
    for window in eclipses(orbit, t, t + horizon + orbit.period_s):
        if window.entry <= t + horizon:
            return window
    return None

"""Where the Sun is: a low-precision solar ephemeris, good to about 0.01 degree for 1950-2050.

The formulas are the Astronomical Almanac's (section C, "low precision formulas for the Sun"):
mean longitude and mean anomaly linear in time, the equation of centre to two terms, the mean
obliquity, and the distance from the same anomaly. The result is geocentric, referred to the mean
equator and equinox of date, and TEME (true equator, mean equinox) differs from that only by
nutation, at most some 20 arcseconds: below the formula's own 0.01 degree, which itself moves an
eclipse boundary in low Earth orbit by about 0.15 s. So the vector is used with SGP4's TEME
positions as it is.
"""

from __future__ import annotations

import numpy as np

AU_KM = 149_597_870.7  # IAU 2012, exact
SUN_RADIUS_KM = 695_700.0  # IAU 2015 nominal solar radius
J2000_UNIX = 946_728_000.0  # 2000-01-01 12:00 UTC; the formulas count days from JD 2451545.0
SECONDS_PER_DAY = 86400.0


def sun_positions_km(times: np.ndarray) -> np.ndarray:
    """Geocentric Sun vectors (km), shape (n, 3), in the equatorial frame of date, at UNIX ``times``."""
    days = (np.atleast_1d(np.asarray(times, dtype=np.float64)) - J2000_UNIX) / SECONDS_PER_DAY
    mean_longitude = np.radians((280.460 + 0.9856474 * days) % 360.0)
    mean_anomaly = np.radians((357.528 + 0.9856003 * days) % 360.0)
    # The equation of centre turns the mean longitude into the ecliptic longitude (latitude < 1.2").
    longitude = (
        mean_longitude
        + np.radians(1.915) * np.sin(mean_anomaly)
        + np.radians(0.020) * np.sin(2.0 * mean_anomaly)
    )
    obliquity = np.radians(23.439 - 0.0000004 * days)
    distance_au = 1.00014 - 0.01671 * np.cos(mean_anomaly) - 0.00014 * np.cos(2.0 * mean_anomaly)
    # Rotate the ecliptic direction (cos L, sin L, 0) about x by the obliquity into the equator.
    direction = np.stack(
        [
            np.cos(longitude),
            np.cos(obliquity) * np.sin(longitude),
            np.sin(obliquity) * np.sin(longitude),
        ],
        axis=-1,
    )
    return direction * (distance_au * AU_KM)[:, np.newaxis]


def sun_position_km(t: float) -> np.ndarray:
    """Geocentric Sun vector (km), shape (3,), in the equatorial frame of date, at UNIX time ``t``."""
    return sun_positions_km(np.array([t]))[0]

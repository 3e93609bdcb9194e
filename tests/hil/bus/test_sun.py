"""The solar ephemeris against the seasons of 2026 and the Earth's orbit."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from hil.bus.sun import AU_KM, SUN_RADIUS_KM, sun_position_km, sun_positions_km


def unix(*when: int) -> float:
    return dt.datetime(*when, tzinfo=dt.UTC).timestamp()


def declination_and_right_ascension(t: float) -> tuple[float, float]:
    x, y, z = sun_position_km(t)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)) % 360.0


# The 2026 equinoxes and solstices (UTC), and the Sun's place at each: dec, RA.
SEASONS = [
    (unix(2026, 3, 20, 14, 46), 0.0, 0.0),
    (unix(2026, 6, 21, 8, 24), 23.44, 90.0),
    (unix(2026, 9, 23, 0, 5), 0.0, 180.0),
    (unix(2026, 12, 21, 20, 50), -23.44, 270.0),
]


@pytest.mark.parametrize(("t", "declination", "right_ascension"), SEASONS)
def test_sun_stands_at_the_seasonal_points(t: float, declination: float, right_ascension: float) -> None:
    got_declination, got_right_ascension = declination_and_right_ascension(t)
    assert got_declination == pytest.approx(declination, abs=0.05)
    # Right ascension wraps at 0: compare on the circle.
    assert abs((got_right_ascension - right_ascension + 180.0) % 360.0 - 180.0) < 0.05


def test_sun_moves_a_degree_a_day_eastward() -> None:
    # A test that could tell a sign error in the longitude rate from the seasonal checks' luck.
    _, before = declination_and_right_ascension(unix(2026, 3, 20, 14, 46))
    _, after = declination_and_right_ascension(unix(2026, 3, 21, 14, 46))
    assert 0.85 < (after - before + 180.0) % 360.0 - 180.0 < 1.0


def test_distance_stays_within_the_earths_orbit_and_peaks_at_aphelion() -> None:
    times = np.arange(unix(2026, 1, 1), unix(2027, 1, 1), 3600.0)
    distance_au = np.linalg.norm(sun_positions_km(times), axis=1) / AU_KM
    assert 0.983 < distance_au.min() < 0.9835 and 1.0165 < distance_au.max() < 1.017
    # Perihelion in the first days of January, aphelion in the first days of July.
    perihelion = dt.datetime.fromtimestamp(times[distance_au.argmin()], dt.UTC)
    aphelion = dt.datetime.fromtimestamp(times[distance_au.argmax()], dt.UTC)
    assert perihelion.month == 1 and 2 <= perihelion.day <= 5
    assert aphelion.month == 7 and 3 <= aphelion.day <= 7


def test_vectorised_matches_scalar() -> None:
    times = unix(2026, 1, 1) + np.linspace(0.0, 3.0e7, 11)
    batch = sun_positions_km(times)
    assert batch.shape == (11, 3)
    for t, position in zip(times, batch, strict=True):
        np.testing.assert_array_equal(position, sun_position_km(float(t)))


def test_constants() -> None:
    assert AU_KM == 149_597_870.7
    # Seen from 1 AU the Sun is about 0.533 degrees across.
    assert math.degrees(2.0 * math.asin(SUN_RADIUS_KM / AU_KM)) == pytest.approx(0.533, abs=0.001)

"""Ground-station passes: sidereal time, station geometry, passes found and refined, and link windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sgp4.propagation import gstime

from flight.link.errors import ConfigError
from hil.bus.orbit import Orbit, julian_date
from hil.bus.passes import (
    DEFAULT_STATIONS,
    Pass,
    Station,
    elevation_deg,
    elevations_deg,
    gmst_rad,
    link_windows,
    passes,
    teme_to_ecef,
)
from hil.link.faults import PassSchedule

DAY = 86400.0
WGS84_E2 = 6.69437999014e-3


@pytest.fixture(scope="module")
def orbit() -> Orbit:
    return Orbit.default()


def geodetic(ecef_km: np.ndarray) -> tuple[float, float]:
    """Geodetic latitude and longitude (deg) of an Earth-fixed point, by fixed-point iteration."""
    x, y, z = ecef_km
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1.0 - WGS84_E2))
    for _ in range(10):
        normal = 6378.137 / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)
        height = p / math.cos(lat) - normal
        lat = math.atan2(z, p * (1.0 - WGS84_E2 * normal / (normal + height)))
    return math.degrees(lat), math.degrees(math.atan2(y, x))


# ---- frames


@pytest.mark.parametrize("t", [0.0, 946_728_000.0, 1_774_008_000.0, 1_800_000_123.456])
def test_gmst_matches_sgp4s_own(t: float) -> None:
    jd, fraction = julian_date(t)
    # sgp4 takes one float Julian date, good to some 3e-9 rad of rotation; rel=0 so abs alone decides.
    assert gmst_rad(t) == pytest.approx(gstime(jd + fraction), rel=0, abs=1e-8)


def test_gmst_at_j2000_and_a_sidereal_day_later() -> None:
    # 2000-01-01 12:00 UT1: 18h 41m 50.548s, the constant of the IAU-82 expression.
    assert math.degrees(gmst_rad(946_728_000.0)) == pytest.approx(280.46061837, abs=1e-6)
    # The Earth turns once relative to the stars in 86164.0905 s.
    assert gmst_rad(946_728_000.0 + 86164.0905) == pytest.approx(gmst_rad(946_728_000.0), abs=1e-6)


@pytest.mark.parametrize(
    ("when", "hours"),
    [((2026, 3, 20, 18), 18.0), ((2026, 6, 21, 6), 6.0), ((2026, 9, 23, 15), 15.0), ((2026, 12, 21, 9), 9.0)],
)
def test_the_sun_stands_over_the_longitude_of_its_hour(when: tuple[int, ...], hours: float) -> None:
    # Physics rather than formula: at 12:00 UTC the Sun is over Greenwich give or take the equation
    # of time (under 17 min, 4.1 deg), and it moves west 15 deg an hour. A rotation the wrong way
    # round puts it on the other side of the meridian.
    import datetime as dt

    from hil.bus.sun import sun_position_km

    t = dt.datetime(*when, tzinfo=dt.UTC).timestamp()
    x, y, _ = teme_to_ecef(sun_position_km(t)[np.newaxis, :], np.array([t]))[0]
    longitude = math.degrees(math.atan2(y, x))
    expected = -15.0 * (hours - 12.0)
    assert abs((longitude - expected + 180.0) % 360.0 - 180.0) < 4.5


def test_station_ecef_on_the_wgs84_ellipsoid() -> None:
    np.testing.assert_allclose(Station("gulf", 0.0, 0.0).ecef_km(), [6378.137, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(Station("pole", 90.0, 0.0).ecef_km(), [0.0, 0.0, 6356.752314], atol=1e-6)
    np.testing.assert_allclose(
        Station("hill", 0.0, 90.0, alt_m=1000.0).ecef_km(), [0.0, 6379.137, 0.0], atol=1e-9
    )


def test_rotation_keeps_length_and_the_pole() -> None:
    times = np.array([0.0, 1.0e9, 1.7e9])
    positions = np.array([[7000.0, 100.0, 0.0], [0.0, 0.0, 7000.0], [3000.0, -4000.0, 5000.0]])
    rotated = teme_to_ecef(positions, times)
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=1), np.linalg.norm(positions, axis=1))
    np.testing.assert_allclose(rotated[1], positions[1])


# ---- elevation and passes


def test_a_station_under_the_satellite_sees_it_overhead(orbit: Orbit) -> None:
    t = orbit.epoch + 5000.0
    position = orbit.position_km(t)
    lat, lon = geodetic(teme_to_ecef(position[np.newaxis, :], np.array([t]))[0])
    station = Station("under", lat, lon)
    assert elevation_deg(orbit, station, t) > 89.9
    found = passes(orbit, station, t - 1200.0, t + 1200.0)
    assert len(found) == 1
    (over,) = found
    assert over.aos < t < over.los
    assert over.max_elevation_deg > 80.0
    assert over.culmination == pytest.approx(t, abs=5.0)


def test_elevation_is_negative_from_the_far_side(orbit: Orbit) -> None:
    t = orbit.epoch + 5000.0
    lat, lon = geodetic(teme_to_ecef(orbit.positions_km(np.array([t])), np.array([t]))[0])
    antipode = Station("antipode", -lat, lon + 180.0 if lon < 0.0 else lon - 180.0)
    assert elevation_deg(orbit, antipode, t) < -80.0


def test_vectorised_elevations_match_scalar(orbit: Orbit) -> None:
    station = DEFAULT_STATIONS[1]
    times = orbit.epoch + np.linspace(0.0, 20000.0, 9)
    batch = elevations_deg(orbit, station, times)
    np.testing.assert_allclose(batch, [elevation_deg(orbit, station, float(t)) for t in times], atol=1e-9)


@pytest.fixture(scope="module")
def day_of_passes(orbit: Orbit) -> dict[str, list[Pass]]:
    return {s.name: passes(orbit, s, orbit.epoch, orbit.epoch + DAY) for s in DEFAULT_STATIONS}


def test_passes_start_and_end_at_the_mask(orbit: Orbit, day_of_passes: dict[str, list[Pass]]) -> None:
    stations = {s.name: s for s in DEFAULT_STATIONS}
    checked = 0
    for name, found in day_of_passes.items():
        station = stations[name]
        for one in found:
            if orbit.epoch < one.aos and one.los < orbit.epoch + DAY:
                assert elevation_deg(orbit, station, one.aos) == pytest.approx(station.mask_deg, abs=0.05)
                assert elevation_deg(orbit, station, one.los) == pytest.approx(station.mask_deg, abs=0.05)
                checked += 1
            assert station.mask_deg <= one.max_elevation_deg <= 90.0
            assert one.aos <= one.culmination <= one.los
            assert elevation_deg(orbit, station, one.culmination) == one.max_elevation_deg
            # Nothing higher anywhere in the pass than what was found for its top.
            samples = elevations_deg(orbit, station, np.linspace(one.aos, one.los, 200))
            assert samples.max() <= one.max_elevation_deg + 1e-6
    assert checked >= 5


def test_passes_at_325_km_are_short_sorted_and_apart(day_of_passes: dict[str, list[Pass]]) -> None:
    for found in day_of_passes.values():
        assert all(0.0 < one.duration_s <= 12 * 60 for one in found)
        assert all(a.los < b.aos for a, b in zip(found, found[1:], strict=False))


def test_which_stations_see_a_53_degree_orbit(day_of_passes: dict[str, list[Pass]]) -> None:
    # Svalbard at 78 N is 25 deg beyond the ground track's reach; the others see it a few times a day.
    assert day_of_passes["svalbard"] == []
    assert 2 <= len(day_of_passes["redmond"]) <= 8
    assert 1 <= len(day_of_passes["hartebeesthoek"]) <= 8


def test_a_polar_orbit_passes_svalbard_most_revolutions() -> None:
    orbit = Orbit.dawn_dusk()
    found = passes(orbit, DEFAULT_STATIONS[0], orbit.epoch, orbit.epoch + DAY)
    assert 9 <= len(found) <= 15


def test_a_higher_mask_gives_shorter_passes_inside_the_lower_ones(orbit: Orbit) -> None:
    low = Station("low", 47.67, -122.12, mask_deg=5.0)
    high = Station("high", 47.67, -122.12, mask_deg=20.0)
    wide = passes(orbit, low, orbit.epoch, orbit.epoch + DAY)
    narrow = passes(orbit, high, orbit.epoch, orbit.epoch + DAY)
    assert 0 < len(narrow) < len(wide)
    for one in narrow:
        assert any(w.aos < one.aos and one.los < w.los for w in wide)


# ---- link windows


def test_link_windows_merge_overlaps_across_stations_and_clip_at_zero() -> None:
    found = [
        Pass("a", 1000.0 - 200.0, 1000.0 - 100.0, 30.0, 850.0),  # over before t0
        Pass("a", 1000.0 - 50.0, 1000.0 + 50.0, 30.0, 1000.0),  # under way at t0
        Pass("a", 1100.0, 1400.0, 40.0, 1250.0),
        Pass("b", 1300.0, 1600.0, 20.0, 1450.0),  # overlaps a's
        Pass("b", 2000.0, 2200.0, 20.0, 2100.0),
    ]
    windows = link_windows(reversed(found), 1000.0)
    assert windows == ((0.0, 50.0), (100.0, 600.0), (1000.0, 1200.0))
    schedule = PassSchedule(windows=windows)
    assert [schedule.is_up(t) for t in (0.0, 49.9, 50.0, 99.0, 350.0, 599.0, 600.0, 1100.0)] == [
        True, True, False, False, True, True, False, True,
    ]  # fmt: skip


def test_link_windows_of_a_real_day(orbit: Orbit, day_of_passes: dict[str, list[Pass]]) -> None:
    everything = [one for found in day_of_passes.values() for one in found]
    windows = link_windows(everything, orbit.epoch)
    assert windows and all(0.0 <= start < end for start, end in windows)
    assert all(a[1] < b[0] for a, b in zip(windows, windows[1:], strict=False))
    up = sum(end - start for start, end in windows)
    assert up <= sum(one.duration_s for one in everything) + 1e-6


# ---- stations


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"lat_deg": 90.5}, "lat_deg"),
        ({"lat_deg": math.nan}, "lat_deg"),
        ({"lon_deg": 360.0}, "lon_deg"),
        ({"lon_deg": -180.5}, "lon_deg"),
        ({"mask_deg": 90.0}, "mask_deg"),
        ({"mask_deg": -1.0}, "mask_deg"),
        ({"alt_m": 1.0e6}, "alt_m"),
        ({"alt_m": "high"}, "alt_m"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_stations_raise_config_error(fields: dict[str, object], words: str) -> None:
    arguments: dict[str, object] = {"name": "x", "lat_deg": 10.0, "lon_deg": 20.0, **fields}
    with pytest.raises(ConfigError, match=words):
        Station(**arguments)  # type: ignore[arg-type]


def test_default_stations_are_valid_and_distinct() -> None:
    assert len({s.name for s in DEFAULT_STATIONS}) == len(DEFAULT_STATIONS) >= 2
    assert Station("edge", -90.0, -180.0, mask_deg=0.0).lon_deg == -180.0

"""The orbit: the packaged TLEs, every way a TLE can be wrong, and SGP4 propagation."""

from __future__ import annotations

import datetime as dt
import math
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.bus.orbit import (
    DAWN_DUSK_TLE,
    DEFAULT_TLE,
    Orbit,
    OrbitError,
    checksum,
    julian_date,
)

EARTH_RADIUS_KM = 6378.137
MU_WGS72 = 398600.8
ISS_TLE = (
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537",
)


def sealed(line: str) -> str:
    """The line with its checksum column recomputed, so that a test reaches the check after it."""
    return line[:68] + str(checksum(line))


def edit(line: str, first: int, text: str) -> str:
    """Overwrite from 1-based column ``first`` and recompute the checksum."""
    return sealed(line[: first - 1] + text + line[first - 1 + len(text) :])


def unix(*when: int) -> float:
    return dt.datetime(*when, tzinfo=dt.UTC).timestamp()


# ---- the packaged element sets


@pytest.mark.parametrize("line", [*DEFAULT_TLE, *DAWN_DUSK_TLE, *ISS_TLE])
def test_checksums_of_known_lines_are_their_last_digit(line: str) -> None:
    assert len(line) == 69
    assert checksum(line) == int(line[-1])


def test_default_orbit_is_325_km_at_53_degrees_with_a_91_minute_period() -> None:
    orbit = Orbit.default()
    assert orbit.mean_altitude_km == pytest.approx(325.0, abs=5.0)
    assert orbit.inclination_deg == pytest.approx(53.0, abs=1e-6)
    assert orbit.period_s / 60.0 == pytest.approx(91.0, abs=0.5)
    # Kepler's third law on the mean semi-major axis, independently of the TLE's mean motion.
    semi_major_axis = orbit.mean_altitude_km + 6378.135
    assert orbit.period_s == pytest.approx(2 * math.pi * math.sqrt(semi_major_axis**3 / MU_WGS72), rel=2e-3)
    assert orbit.epoch == unix(2026, 3, 20, 12)


def test_dawn_dusk_orbit_is_550_km_and_sun_synchronous() -> None:
    orbit = Orbit.dawn_dusk()
    assert orbit.mean_altitude_km == pytest.approx(550.0, abs=5.0)
    assert orbit.inclination_deg == pytest.approx(97.6, abs=0.1)
    # SGP4's node rate (rad/min) turns the plane once a tropical year, with the Sun.
    node_deg_per_day = math.degrees(orbit.satrec.nodedot) * 1440.0
    assert node_deg_per_day == pytest.approx(360.0 / 365.2422, rel=1e-4)


def test_dawn_dusk_plane_faces_the_sun_at_epoch() -> None:
    from hil.bus.sun import sun_position_km

    orbit = Orbit.dawn_dusk()
    position, velocity = orbit.state(orbit.epoch)
    normal = np.cross(position, velocity)
    sun = sun_position_km(orbit.epoch)
    beta = math.degrees(math.asin(normal @ sun / np.linalg.norm(normal) / np.linalg.norm(sun)))
    assert abs(beta) > 75.0


# ---- rejected element sets: always OrbitError, naming the line and the fault


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        ((DEFAULT_TLE[0][:68] + "0", DEFAULT_TLE[1]), ("line 1", "checksum")),
        ((DEFAULT_TLE[0], DEFAULT_TLE[1][:68] + "X"), ("line 2", "checksum")),
        ((DEFAULT_TLE[0][:60], DEFAULT_TLE[1]), ("line 1", "60 characters")),
        ((DEFAULT_TLE[0], DEFAULT_TLE[1] + "12"), ("line 2", "71 characters")),
        ((DEFAULT_TLE[1], DEFAULT_TLE[0]), ("line 1", "line number")),
        ((DEFAULT_TLE[0], DAWN_DUSK_TLE[1]), ("line 2", "satellite number")),
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 9, " 5a.0000")), ("line 2", "inclination")),
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 53, "15.8202608x")), ("line 2", "mean motion")),
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 27, "00O1000")), ("line 2", "eccentricity")),
        ((edit(DEFAULT_TLE[0], 21, "079.5000000e"), DEFAULT_TLE[1]), ("line 1", "epoch day")),
        ((edit(DEFAULT_TLE[0], 54, " 1000O-3"), DEFAULT_TLE[1]), ("line 1", "BSTAR")),
        ((edit(DEFAULT_TLE[0], 19, "2X"), DEFAULT_TLE[1]), ("line 1", "epoch year")),
        ((edit(DEFAULT_TLE[0], 9, "2"), DEFAULT_TLE[1]), ("line 1", "column 9")),
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 9, "190.0000")), ("line 2", "outside")),
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 53, " 0.00000000")), ("line 2", "mean motion")),
        ((DEFAULT_TLE[0].replace("U", "\u00dc"), DEFAULT_TLE[1]), ("line 1", "printable ASCII")),
        # e = 0.05 at the default mean motion, here at perigee: SGP4 reports it decayed already.
        ((DEFAULT_TLE[0], edit(DEFAULT_TLE[1], 27, "0500000")), ("line 2", "decayed")),
        # The same seen from apogee: SGP4 itself lets it pass, its perigee 1000 km underground.
        ((DEFAULT_TLE[0], edit(edit(DEFAULT_TLE[1], 27, "2000000"), 44, "180.0000")), ("line 2", "perigee")),
    ],
)
def test_bad_tles_raise_orbit_error_naming_line_and_fault(
    lines: tuple[str, str], words: tuple[str, ...]
) -> None:
    with pytest.raises(OrbitError) as caught:
        Orbit.from_tle(*lines)
    for word in words:
        assert word in str(caught.value)


def test_orbit_error_is_a_config_error() -> None:
    from flight.link.errors import ConfigError, ZenithError

    assert issubclass(OrbitError, ConfigError) and issubclass(OrbitError, ZenithError)


def test_a_known_real_tle_parses() -> None:
    orbit = Orbit.from_tle(*ISS_TLE)
    assert orbit.inclination_deg == pytest.approx(51.6416)
    assert 300.0 < orbit.mean_altitude_km < 400.0


def test_trailing_whitespace_is_forgiven() -> None:
    assert Orbit.from_tle(DEFAULT_TLE[0] + "  \r\n", DEFAULT_TLE[1] + "\n") == Orbit.from_tle(*DEFAULT_TLE)


# ---- files


def test_from_file_reads_two_and_three_line_files(tmp_path) -> None:
    two = tmp_path / "zenith.tle"
    two.write_text("\n".join(DEFAULT_TLE) + "\n")
    assert Orbit.from_file(two) == Orbit(*DEFAULT_TLE, name="zenith")
    three = tmp_path / "named.txt"
    three.write_text("0 ZENITH DD\r\n" + "\r\n".join(DAWN_DUSK_TLE) + "\r\n\r\n")
    assert Orbit.from_file(three) == Orbit(*DAWN_DUSK_TLE, name="ZENITH DD")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (DEFAULT_TLE[0] + "\n", ("1 lines",)),
        ("a\nb\n" + "\n".join(DEFAULT_TLE), ("4 lines",)),
        ("\n".join(DEFAULT_TLE).replace("U", "\u00fc"), ("ascii",)),
        ("NAME\n" + DEFAULT_TLE[0] + "\n" + DEFAULT_TLE[1][:40], ("line 2", "characters")),
    ],
)
def test_bad_files_raise_orbit_error(tmp_path, content: str, words: tuple[str, ...]) -> None:
    path = tmp_path / "bad.tle"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(OrbitError) as caught:
        Orbit.from_file(path)
    for word in words:
        assert word in str(caught.value)


def test_missing_file_raises_orbit_error(tmp_path) -> None:
    with pytest.raises(OrbitError, match="missing.tle"):
        Orbit.from_file(tmp_path / "missing.tle")


# ---- garbage in: OrbitError or an orbit, never anything else

PRINTABLE = st.text(alphabet=string.digits + " .+-ABUX", min_size=69, max_size=69)


def _accepts_or_rejects(line1: object, line2: object) -> None:
    try:
        orbit = Orbit.from_tle(line1, line2)  # type: ignore[arg-type]
    except OrbitError:
        return
    assert np.all(np.isfinite(orbit.position_km(orbit.epoch)))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(), PRINTABLE, st.none(), st.integers()), st.one_of(st.text(), PRINTABLE))
def test_arbitrary_text_gives_orbit_error_or_an_orbit(line1: object, line2: object) -> None:
    _accepts_or_rejects(line1, line2)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([0, 1]),
    st.integers(min_value=1, max_value=68),
    st.text(alphabet=string.digits + " .+-eE", min_size=1, max_size=8),
)
def test_any_edit_of_a_good_tle_with_its_checksum_fixed_gives_orbit_error_or_an_orbit(
    which: int, column: int, text: str
) -> None:
    # Past the checksum, into the field parsers and SGP4's initialisation: the hard cases.
    lines = list(DEFAULT_TLE)
    lines[which] = edit(lines[which], column, text[: 69 - column])
    _accepts_or_rejects(*lines)


# ---- propagation


def test_julian_date_splits_at_midnight() -> None:
    assert julian_date(0.0) == (2440587.5, 0.0)
    jd, fraction = julian_date(unix(2000, 1, 1, 12))
    assert (jd, fraction) == (2451544.5, 0.5)


def test_positions_equal_position_elementwise() -> None:
    orbit = Orbit.default()
    times = orbit.epoch + np.linspace(-3000.0, 90000.0, 17)
    batch = orbit.positions_km(times)
    assert batch.shape == (17, 3)
    for t, position in zip(times, batch, strict=True):
        np.testing.assert_allclose(position, orbit.position_km(float(t)), rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("orbit", "low", "high"), [(Orbit.default(), 310.0, 340.0), (Orbit.dawn_dusk(), 535.0, 565.0)]
)
def test_radius_stays_in_the_altitude_band_over_a_day(orbit: Orbit, low: float, high: float) -> None:
    times = orbit.epoch + np.arange(0.0, 86400.0, 10.0)
    altitude = np.linalg.norm(orbit.positions_km(times), axis=1) - EARTH_RADIUS_KM
    assert low < altitude.min() and altitude.max() < high
    # And it does move: J2 and the eccentricity are in there, not a frozen circle.
    assert altitude.max() - altitude.min() > 3.0


def test_speed_is_circular_orbit_speed() -> None:
    orbit = Orbit.default()
    position, velocity = orbit.state(orbit.epoch + 1234.0)
    assert np.linalg.norm(velocity) == pytest.approx(math.sqrt(MU_WGS72 / np.linalg.norm(position)), rel=5e-3)
    assert abs(position @ velocity) / np.linalg.norm(position) / np.linalg.norm(velocity) < 1e-2


def test_a_decayed_orbit_raises_orbit_error_with_sgp4s_reason() -> None:
    # 200 km with a huge drag term: SGP4 reports the decay within two hours.
    line1 = edit(DEFAULT_TLE[0], 54, " 10000+0")
    line2 = edit(DEFAULT_TLE[1], 53, "16.30000000")
    orbit = Orbit.from_tle(line1, line2)
    later = orbit.epoch + 2.0 * 3600.0
    with pytest.raises(OrbitError, match="decayed"):
        orbit.position_km(later)
    with pytest.raises(OrbitError, match="decayed"):
        orbit.positions_km(np.array([orbit.epoch, later]))

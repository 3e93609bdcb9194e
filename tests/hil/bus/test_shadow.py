"""Eclipses: the disc geometry by hand, the shadow's shape, and SGP4 eclipses against an analytic orbit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hil.bus.orbit import Orbit
from hil.bus.shadow import (
    EARTH_RADIUS_KM,
    Eclipse,
    EclipseWindow,
    eclipse_of,
    eclipses,
    next_eclipse,
    overlap_area,
    sunlit_fraction,
    sunlit_fractions,
)
from hil.bus.sun import AU_KM, SUN_RADIUS_KM, sun_position_km, sun_positions_km

LEO_KM = EARTH_RADIUS_KM + 325.0
SUN = np.array([AU_KM, 0.0, 0.0])
DAY = 86400.0


def behind_earth(offset_km: float, radius_km: float = LEO_KM) -> np.ndarray:
    """A position on the night side, ``offset_km`` outside the Earth's cylindrical shadow (the Sun on +x)."""
    y = EARTH_RADIUS_KM + offset_km
    return np.array([-math.sqrt(radius_km**2 - y**2), y, 0.0])


# ---- two discs


def test_overlap_of_two_unit_discs_one_radius_apart_is_the_hand_value() -> None:
    # Two 60-degree circular segments: 2 * (pi/3 - sqrt(3)/4) = 2 pi / 3 - sqrt(3) / 2.
    assert float(overlap_area(1.0, 1.0, 1.0)) == pytest.approx(2 * math.pi / 3 - math.sqrt(3) / 2, rel=1e-12)


def test_overlap_is_symmetric_and_has_its_limits() -> None:
    assert float(overlap_area(1.0, 2.0, 1.5)) == pytest.approx(float(overlap_area(2.0, 1.0, 1.5)), rel=1e-12)
    assert float(overlap_area(1.0, 2.0, 3.0)) == 0.0  # touching from outside
    assert float(overlap_area(1.0, 2.0, 0.5)) == pytest.approx(math.pi)  # the small one inside
    np.testing.assert_allclose(overlap_area([1.0, 1.0], 1.0, [2.5, 0.0]), [0.0, math.pi])


# ---- the sunlit fraction


def test_day_side_sees_the_whole_sun() -> None:
    assert sunlit_fraction(np.array([LEO_KM, 0.0, 0.0]), SUN) == 1.0
    assert sunlit_fraction(np.array([0.0, LEO_KM, 0.0]), SUN) == 1.0  # over the terminator


def test_anti_sun_axis_in_leo_is_total_shadow() -> None:
    assert sunlit_fraction(np.array([-LEO_KM, 0.0, 0.0]), SUN) == 0.0
    assert sunlit_fraction(behind_earth(-100.0), SUN) == 0.0


def test_the_shadow_boundary_is_a_thin_shell_of_penumbra() -> None:
    # Seen from some 2000 km past the limb the Sun's 0.53 deg disc spans about 20 km: the penumbra.
    assert sunlit_fraction(behind_earth(15.0), SUN) == 1.0
    assert sunlit_fraction(behind_earth(-15.0), SUN) == 0.0
    inside = [sunlit_fraction(behind_earth(offset), SUN) for offset in (-5.0, -2.0, 0.0, 2.0, 5.0)]
    assert all(0.0 < fraction < 1.0 for fraction in inside)
    assert inside == sorted(inside)  # more Sun the further out
    # With the Sun's centre on the limb, half its disc shows.
    assert inside[2] == pytest.approx(0.5, abs=0.02)


def test_beyond_the_umbra_tip_the_earth_is_an_annulus_on_the_sun() -> None:
    # 3 million km down the anti-sun axis (the umbra ends at about 1.4 million): an annular eclipse.
    distance = 3.0e6
    sun_radius = math.asin(SUN_RADIUS_KM / (AU_KM + distance))
    earth_radius = math.asin(EARTH_RADIUS_KM / distance)
    fraction = sunlit_fraction(np.array([-distance, 0.0, 0.0]), SUN)
    assert fraction == pytest.approx(1.0 - (earth_radius / sun_radius) ** 2, rel=1e-9)
    assert 0.0 < fraction < 1.0


def test_vectorised_fractions_match_scalar() -> None:
    sats = np.array([behind_earth(offset) for offset in np.linspace(-30.0, 30.0, 13)])
    suns = np.tile(SUN, (13, 1))
    batch = sunlit_fractions(sats, suns)
    assert batch.shape == (13,)
    np.testing.assert_allclose(batch, [sunlit_fraction(s, SUN) for s in sats], rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("fraction", "state"),
    [(1.0, Eclipse.SUNLIT), (0.999, Eclipse.PENUMBRA), (1e-9, Eclipse.PENUMBRA), (0.0, Eclipse.UMBRA)],
)
def test_eclipse_of(fraction: float, state: Eclipse) -> None:
    assert eclipse_of(fraction) is state


# ---- eclipses along the default orbit


@pytest.fixture(scope="module")
def orbit() -> Orbit:
    return Orbit.default()


@pytest.fixture(scope="module")
def day(orbit: Orbit) -> list[EclipseWindow]:
    return eclipses(orbit, orbit.epoch, orbit.epoch + DAY)


def whole(windows: list[EclipseWindow], start: float, end: float) -> list[EclipseWindow]:
    """The eclipses not cut by the scan's ends."""
    return [w for w in windows if start < w.entry and w.exit < end]


def fraction_at(orbit: Orbit, t: float) -> float:
    return sunlit_fraction(orbit.position_km(t), sun_position_km(t))


def test_a_day_of_the_default_orbit_has_an_eclipse_each_revolution(
    orbit: Orbit, day: list[EclipseWindow]
) -> None:
    assert 15 <= len(day) <= 17
    assert all(w.duration_s <= 36 * 60 for w in day)
    assert all(a.exit < b.entry for a, b in zip(day, day[1:], strict=False))
    gaps = np.diff([w.entry for w in day[1:]])
    np.testing.assert_allclose(gaps, orbit.period_s, rtol=0.01)


def test_boundaries_are_where_the_fraction_changes(orbit: Orbit, day: list[EclipseWindow]) -> None:
    for w in whole(day, orbit.epoch, orbit.epoch + DAY):
        assert w.entry < w.umbra_entry < w.umbra_exit < w.exit
        assert fraction_at(orbit, w.entry - 0.05) == 1.0 and fraction_at(orbit, w.entry + 0.05) < 1.0
        assert (
            fraction_at(orbit, w.umbra_entry - 0.05) > 0.0 and fraction_at(orbit, w.umbra_entry + 0.05) == 0.0
        )
        assert (
            fraction_at(orbit, w.umbra_exit - 0.05) == 0.0 and fraction_at(orbit, w.umbra_exit + 0.05) > 0.0
        )
        assert fraction_at(orbit, w.exit - 0.05) < 1.0 and fraction_at(orbit, w.exit + 0.05) == 1.0


def test_penumbra_crossings_last_seconds(orbit: Orbit, day: list[EclipseWindow]) -> None:
    for w in whole(day, orbit.epoch, orbit.epoch + DAY):
        assert 2.0 <= w.umbra_entry - w.entry <= 20.0
        assert 2.0 <= w.exit - w.umbra_exit <= 20.0


def test_eclipses_agree_with_a_circular_orbit_in_a_cylindrical_shadow(
    orbit: Orbit, day: list[EclipseWindow]
) -> None:
    """The independent check: analytic eclipse length of a circular orbit in a cylindrical shadow.

    With beta the Sun's angle out of the orbit plane and r the orbit radius, the satellite is in the
    cylinder while within phi of the anti-sun point, cos(phi) = sqrt(1 - (R/r)^2) / cos(beta).
    """
    checked = whole(day, orbit.epoch, orbit.epoch + DAY)
    assert len(checked) >= 14
    for w in checked:
        middle = 0.5 * (w.entry + w.exit)
        position, velocity = orbit.state(middle)
        momentum = np.cross(position, velocity)
        sun = sun_position_km(middle)
        beta = math.asin(momentum @ sun / np.linalg.norm(momentum) / np.linalg.norm(sun))
        radius = float(np.linalg.norm(position))
        angular_rate = float(np.linalg.norm(momentum)) / radius**2
        phi = math.acos(math.sqrt(1.0 - (EARTH_RADIUS_KM / radius) ** 2) / math.cos(beta))
        cylinder_s = 2.0 * phi / angular_rate
        assert w.umbra_duration_s - 5.0 <= cylinder_s <= w.duration_s + 5.0
        # Sharper: the cylinder's edge is where the Sun's centre meets the limb, halfway through the
        # penumbra, so its length is the mean of the umbra's and the whole eclipse's (measured 0.3 s).
        assert cylinder_s == pytest.approx(0.5 * (w.umbra_duration_s + w.duration_s), abs=2.0)

        # The middle of the eclipse is when the satellite is nearest the anti-sun direction.
        times = np.arange(w.entry, w.exit, 0.5)
        positions, suns = orbit.positions_km(times), sun_positions_km(times)
        cosines = -np.einsum("ij,ij->i", positions, suns) / (
            np.linalg.norm(positions, axis=1) * np.linalg.norm(suns, axis=1)
        )
        assert abs(middle - times[np.argmax(cosines)]) < 10.0


def test_dawn_dusk_orbit_stays_sunlit_at_its_epoch() -> None:
    orbit = Orbit.dawn_dusk()
    assert eclipses(orbit, orbit.epoch, orbit.epoch + DAY) == []
    assert next_eclipse(orbit, orbit.epoch) is None


def test_an_eclipse_cut_by_the_scan_is_clipped_to_it(orbit: Orbit, day: list[EclipseWindow]) -> None:
    eclipse = day[3]
    start = 0.5 * (eclipse.umbra_entry + eclipse.umbra_exit)
    end = day[4].entry + 60.0
    found = eclipses(orbit, start, end)
    assert len(found) == 2
    assert found[0].entry == found[0].umbra_entry == start
    assert found[0].exit == pytest.approx(eclipse.exit, abs=0.05)
    assert found[1].entry == pytest.approx(day[4].entry, abs=0.05)
    assert found[1].exit == end and found[1].umbra_exit == end


def test_next_eclipse_from_sunlight_and_from_shadow(orbit: Orbit, day: list[EclipseWindow]) -> None:
    sunlit = day[5].exit + 60.0
    coming = next_eclipse(orbit, sunlit)
    assert coming is not None
    assert coming.entry == pytest.approx(day[6].entry, abs=0.05)
    assert coming.exit == pytest.approx(day[6].exit, abs=0.05)
    dark = day[6].entry + 100.0
    current = next_eclipse(orbit, dark)
    assert current is not None and current.entry == dark
    assert current.exit == pytest.approx(day[6].exit, abs=0.05)
    # Too short a horizon: the next eclipse begins after it.
    assert next_eclipse(orbit, sunlit, horizon_s=coming.entry - sunlit - 10.0) is None

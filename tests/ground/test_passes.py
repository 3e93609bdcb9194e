"""The ground's pass prediction: the bench's own geometry, with a bench's time warp, and its config."""

from __future__ import annotations

import pytest

from flight.link.config import from_table
from flight.link.errors import ConfigError
from ground.passes import PassSettings, upcoming
from ground.station_config import GroundSettings
from hil.bus.orbit import DEFAULT_TLE, Orbit
from hil.bus.passes import DEFAULT_STATIONS, passes

WALL = 1_795_000_000.0
REDMOND = next(s for s in DEFAULT_STATIONS if s.name == "redmond")


def test_the_passes_are_the_geometry_s_own_soonest_first() -> None:
    found = upcoming(PassSettings(orbit="default", stations=("redmond",), hours=12), WALL)
    expected = passes(Orbit.default(), REDMOND, WALL, WALL + 12 * 3600)
    assert [(p["aos"], p["los"]) for p in found] == [(p.aos, p.los) for p in expected]
    assert all(p["in_s"] == p["aos"] - WALL and p["for_s"] == p["los"] - p["aos"] for p in found)


def test_a_bench_orbit_runs_at_its_rate_and_the_waits_are_wall_seconds() -> None:
    settings = PassSettings(tle=DEFAULT_TLE, stations=("redmond", "hartebeesthoek"), orbit_start=WALL - 5e6,
                            start_wall=WALL - 100.0, rate=90.0)
    now = WALL - 5e6 + 100.0 * 90.0  # orbit time at WALL
    found = upcoming(settings, WALL)
    expected = passes(Orbit.default(), REDMOND, now, now + 24 * 3600)
    assert [(p["aos"], p["los"]) for p in found if p["station"] == "redmond"] == [(p.aos, p.los) for p in expected]
    assert all(p["los"] > now and (p["now"] or p["aos"] >= now) for p in found)
    assert all(p["in_s"] == pytest.approx(max(0.0, (p["aos"] - now) / 90.0)) for p in found)
    assert all(p["for_s"] == pytest.approx((p["los"] - p["aos"]) / 90.0) for p in found)


def test_without_an_orbit_nothing_is_predicted() -> None:
    assert not PassSettings().configured and upcoming(PassSettings(), WALL) == []


def test_the_table_of_a_mission_file_sets_it() -> None:
    settings = from_table(GroundSettings, {"passes": {"orbit": "dawn-dusk", "stations": ["svalbard"], "hours": 6}},
                          "ground")
    assert settings.passes.configured and settings.passes.stations == ("svalbard",) and settings.passes.hours == 6


@pytest.mark.parametrize(("table", "says"), [
    ({"orbit": "default", "tle": list(DEFAULT_TLE), "stations": ["redmond"]}, "orbit or tle, not both"),
    ({"tle": [DEFAULT_TLE[0]], "stations": ["redmond"]}, "the two lines of a TLE"),
    ({"tle": [DEFAULT_TLE[0], DEFAULT_TLE[1][:-1] + "0"], "stations": ["redmond"]}, "TLE line 2"),
    ({"orbit": "moon", "stations": ["redmond"]}, "orbit 'moon'"),
    ({"orbit": "default"}, "name at least one station"),
    ({"orbit": "default", "stations": ["atlantis"]}, "station 'atlantis'"),
    ({"orbit": "default", "stations": ["redmond"], "hours": 0}, "hours"),
    ({"orbit": "default", "stations": ["redmond"], "rate": -1}, "rate"),
    ({"orbit": "default", "stations": ["redmond"], "when": 1}, "unknown key"),
])
def test_a_bad_table_is_refused_naming_what_is_wrong(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        from_table(GroundSettings, {"passes": table}, "ground")

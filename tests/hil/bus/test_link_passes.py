"""The link's pass schedule from the orbit: up exactly while a station sees the satellite."""

from __future__ import annotations

import numpy as np
import pytest

from flight.link.errors import ConfigError
from hil.bus.link_passes import orbit_windows, stations_named
from hil.bus.orbit import Orbit
from hil.bus.passes import elevations_deg
from hil.cli import build_parser, link_config
from hil.link.faults import PassSchedule

RATE = 600.0
HOURS = 24.0


@pytest.fixture(scope="module")
def orbit() -> Orbit:
    return Orbit.default()


def test_the_link_is_up_exactly_while_a_station_sees_the_satellite(orbit: Orbit) -> None:
    stations = stations_named(["redmond", "hartebeesthoek"])
    windows = orbit_windows(orbit, stations, orbit.epoch, HOURS, RATE)
    assert len(windows) >= 5 and all(0 < end - begin < 12 * 60 / RATE for begin, end in windows)
    schedule = PassSchedule(windows)
    wall = np.linspace(0.0, HOURS * 3600.0 / RATE, 20001)
    times = orbit.epoch + wall * RATE
    seen = np.zeros(wall.shape, dtype=bool)
    for station in stations:
        seen |= elevations_deg(orbit, station, times) >= station.mask_deg
    # Away from the edges (found to 0.05 simulated s), the emulator's schedule is the geometry.
    edges = np.array([t for window in windows for t in window])
    clear = np.min(np.abs(wall[:, None] - edges[None, :]), axis=1) > 0.1 / RATE
    up = np.array([schedule.is_up(t) for t in wall])
    assert seen.sum() > 100 and np.array_equal(up[clear], seen[clear])


def test_hil_link_takes_its_passes_from_the_orbit_in_both_directions(orbit: Orbit) -> None:
    args = build_parser().parse_args(["link", "--orbit-passes", "default", "--orbit-rate", str(RATE)])
    config = link_config(args)
    expected = orbit_windows(orbit, stations_named(["redmond", "hartebeesthoek"]), orbit.epoch, HOURS, RATE)
    assert config.up.passes == config.down.passes
    assert np.allclose(np.array(config.up.passes), np.array(expected), atol=1e-3)


@pytest.mark.parametrize(("argv", "message"), [
    (["--pass", "0:10"], "not with --pass"),
    (["--stations", "atlantis"], "station 'atlantis'"),
    (["--stations", "svalbard"], "never see the satellite"),  # 78° N: out of a 53° orbit's sight
    (["--orbit-hours", "0"], "hours 0"),
])
def test_impossible_orbit_passes_are_config_errors(argv: list[str], message: str) -> None:
    args = build_parser().parse_args(["link", "--orbit-passes", "default", *argv])
    with pytest.raises(ConfigError, match=message):
        link_config(args)

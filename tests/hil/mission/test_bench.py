"""The mission bench's pure parts: the link's pass windows with the end-of-mission contact."""

from __future__ import annotations

import pytest

from hil.bus.orbit import Orbit
from hil.mission.bench import AFTER_MISSION_S, pass_windows
from hil.mission.plan import Geometry


def geometry(passes: tuple[tuple[float, float], ...], duration: float = 9000.0) -> Geometry:
    return Geometry(Orbit.default(), 0.0, duration, passes, ())


def windows(text: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (part.split(":") for part in text.split(","))]


def test_passes_are_wall_seconds_and_the_contact_follows_the_mission() -> None:
    got = windows(pass_windows(geometry(((600.0, 900.0), (3000.0, 3300.0))), rate=100.0))
    assert got == [(6.0, 9.0), (30.0, 33.0), (90.0, pytest.approx(90.0 + AFTER_MISSION_S))]


def test_a_pass_open_at_the_end_runs_into_the_contact() -> None:
    got = windows(pass_windows(geometry(((600.0, 900.0), (8800.0, 9000.0))), rate=100.0))
    assert got == [(6.0, 9.0), (88.0, pytest.approx(90.0 + AFTER_MISSION_S))]

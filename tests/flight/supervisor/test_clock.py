"""The spacecraft clock: real, scaled (anchored so a restart resumes mission time) and manual."""

from __future__ import annotations

import time

import pytest

from flight.link.errors import ConfigError
from flight.supervisor.clock import ManualClock, RealClock, ScaledClock


def test_real_clock_is_posix_time() -> None:
    before = time.time()
    now = RealClock().now()
    after = time.time()
    assert before <= now <= after
    assert RealClock.rate == 1.0


def test_scaled_clock_runs_rate_times_faster_from_its_anchor() -> None:
    wall = [500.0]
    clock = ScaledClock(start=1.7e9, anchor=500.0, rate=60.0, wall=lambda: wall[0])
    assert clock.now() == 1.7e9
    wall[0] = 510.0
    assert clock.now() == 1.7e9 + 600.0


def test_a_scaled_clock_made_again_with_the_same_anchor_resumes_the_same_mission_time() -> None:
    wall = [900.0]
    first = ScaledClock(1.7e9, 500.0, 10.0, lambda: wall[0])
    restarted = ScaledClock(1.7e9, 500.0, 10.0, lambda: wall[0])
    assert first.now() == restarted.now() == 1.7e9 + 4000.0


@pytest.mark.parametrize("rate", [0.0, -1.0, 1e6 + 1])
def test_rates_out_of_range_are_config_errors(rate: float) -> None:
    with pytest.raises(ConfigError, match="rate"):
        ScaledClock(0.0, 0.0, rate)


def test_the_highest_rate_is_allowed() -> None:
    assert ScaledClock(0.0, 0.0, 1e6, lambda: 1.0).now() == 1e6


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(t=100.0)
    assert clock.now() == clock.now() == 100.0
    clock.advance(2.5)
    assert clock.now() == 102.5
    assert ManualClock().rate == 1.0

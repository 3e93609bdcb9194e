"""Policies flown through simulated days of the default orbit: the governor holds the floor and the
temperature limit and out-works the naive policy; on a power-negative bus it suspends instead."""

from __future__ import annotations

from dataclasses import replace

import pytest

from flight.power.governor import Action, BusState, Limits, Setting
from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode
from hil.bus.eps import EpsSettings
from hil.bus.orbit import Orbit
from hil.bus.orbit_run import OrbitLog, fly, governed, naive
from hil.bus.simulator import BusSettings

GPU = GpuPowerModel()
LIMITS = Limits()


@pytest.fixture(scope="module")
def orbit() -> Orbit:
    return Orbit.default()


@pytest.fixture(scope="module")
def day(orbit: Orbit) -> dict[str, OrbitLog]:
    """24 simulated hours of each policy, from the TLE's epoch."""
    return {"governor": fly(governed(PowerMode.PERFORMANCE, LIMITS, GPU), orbit, orbit.epoch, 24.0, limits=LIMITS,
                            gpu=GPU),
            "naive": fly(naive(GPU), orbit, orbit.epoch, 24.0, limits=LIMITS, gpu=GPU)}


def test_a_day_under_the_governor_keeps_the_floor_after_every_eclipse_and_the_gpu_under_its_limit(
        day: dict[str, OrbitLog]) -> None:
    log = day["governor"]
    assert 15 <= len(log.eclipse_exit_socs) <= 17  # every eclipse of the day was judged
    assert log.floor_violations == 0 and min(log.eclipse_exit_socs) >= LIMITS.soc_floor
    assert log.limit_violations == 0 and log.max_gpu_c <= LIMITS.temp_limit_c
    assert log.shed_s == 0.0  # the EPS never had to cut the payload off
    # The default battery cannot carry a full-power job through an eclipse: the job is suspended
    # (checkpointed, in flight) in some of them, and resumed in the sunlight after.
    assert 3 <= log.suspensions <= len(log.eclipse_exit_socs) and log.run_s < log.seconds


def test_the_governor_does_a_fifth_more_work_per_orbit_than_full_power_in_sunlight(day: dict[str, OrbitLog],
                                                                                   orbit: Orbit) -> None:
    governor, simple = day["governor"], day["naive"]
    assert governor.per_orbit(orbit.period_s) >= 1.2 * simple.per_orbit(orbit.period_s)
    assert simple.suspensions >= 15  # the naive policy stops at every eclipse


def test_on_a_power_negative_bus_the_governor_throttles_and_still_holds_the_floor(orbit: Orbit) -> None:
    """An array that cannot feed full power even in sunlight: the naive policy drains the battery until
    the EPS sheds the payload; the governor runs at lower caps and keeps the floor."""
    weak = BusSettings(eps=replace(EpsSettings(), array_w=800.0, capacity_wh=1500.0))
    ours = fly(governed(PowerMode.PERFORMANCE, LIMITS, GPU), orbit, orbit.epoch, 6.0, settings=weak, limits=LIMITS,
               gpu=GPU)
    simple = fly(naive(GPU), orbit, orbit.epoch, 6.0, settings=weak, limits=LIMITS, gpu=GPU)
    assert ours.floor_violations == 0 and ours.min_soc >= LIMITS.soc_floor - 0.01 and ours.shed_s == 0.0
    assert simple.floor_violations >= 1 and simple.shed_s > 0
    assert ours.work_s > simple.work_s


def test_eclipse_safe_mode_never_runs_in_eclipse(orbit: Orbit) -> None:
    policy = governed(PowerMode.ECLIPSE_SAFE, LIMITS, GPU)
    in_eclipse: list[Action] = []
    in_sun: list[Action] = []

    def watched(state: BusState) -> Setting:
        setting = policy(state)
        (in_eclipse if state.in_eclipse else in_sun).append(setting.action)
        return setting

    log = fly(watched, orbit, orbit.epoch, 3.0, limits=LIMITS, gpu=GPU)
    assert in_eclipse and set(in_eclipse) == {Action.SUSPEND}  # two eclipses, and not a step of work in them
    assert Action.RUN in in_sun and log.work_s > 0 and log.floor_violations == 0

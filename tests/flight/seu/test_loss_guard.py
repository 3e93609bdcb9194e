from __future__ import annotations

import math

import pytest

from flight.seu.loss_guard import Diverged, LossGuard, Trip


def steady(guard: LossGuard, steps: int) -> None:
    for step in range(1, steps + 1):
        assert guard.check(step, 2.0 + 0.01 * (step % 7)) is None


def test_non_finite_losses_and_gradients_trip_at_once() -> None:
    guard = LossGuard()
    assert guard.check(1, math.nan) == Trip(1, "loss nan")
    assert guard.check(2, 3.0, math.inf) == Trip(2, "gradient norm inf")
    assert guard.trips == 2


def test_a_spike_trips_once_the_window_has_a_baseline() -> None:
    guard = LossGuard(warmup=20)
    assert guard.check(1, 50.0) is None  # no baseline yet: early training is all spikes
    steady(guard, 30)
    trip = guard.check(31, 9.0)
    assert trip is not None and trip.step == 31 and "spiked" in trip.reason
    assert guard.check(32, 2.05) is None


def test_a_spike_that_replay_reproduces_exactly_is_the_datas_own() -> None:
    guard = LossGuard()
    steady(guard, 30)
    assert guard.check(31, 9.0) is not None
    assert guard.check(31, 9.0) is None and guard.confirmed == 1  # the same loss at the same step
    assert guard.check(40, 9.5) is not None  # another step: judged afresh


def test_a_spike_that_replay_does_not_reproduce_trips_again() -> None:
    guard = LossGuard()
    steady(guard, 30)
    assert guard.check(31, 9.0) is not None
    assert guard.check(31, 8.0) is not None and guard.trips == 2


def test_a_nan_that_replay_reproduces_is_a_divergence() -> None:
    guard = LossGuard()
    assert guard.check(5, math.nan) is not None
    with pytest.raises(Diverged, match="step 5"):
        guard.check(5, math.nan)

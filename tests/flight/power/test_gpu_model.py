"""The simulated GPU: speed concave in the cap, draw linear in the duty cycle, settings checked."""

from __future__ import annotations

import pytest

from flight.link.errors import ConfigError
from flight.power.gpu_model import GpuPowerModel

GPU = GpuPowerModel()


def test_full_power_is_full_speed_and_half_the_power_keeps_most_of_it() -> None:
    assert GPU.speed(700.0) == 1.0 and GPU.draw_w(700.0) == 700.0
    assert GPU.speed(350.0) == pytest.approx(((350 - 60) / 640) ** 0.4) == pytest.approx(0.7286, abs=1e-4)
    assert GPU.speed(200.0) == pytest.approx(0.5445, abs=1e-4)  # (140 / 640) ** 0.4


def test_caps_outside_the_drivers_range_are_clamped() -> None:
    assert GPU.speed(5000.0) == 1.0 and GPU.draw_w(100.0) == 200.0


def test_a_duty_cycle_idles_the_gpu_for_the_rest_of_the_time() -> None:
    assert GPU.draw_w(700.0, 0.5) == 60.0 + 0.5 * 640.0 and GPU.speed(700.0, 0.5) == 0.5
    assert GPU.draw_w(450.0, 0.0) == 60.0 and GPU.speed(450.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="duty cycle"):
        GPU.speed(700.0, 1.5)


def test_the_lowest_cap_does_the_most_work_per_joule() -> None:
    joules = [GPU.joules_per_work(cap) for cap in range(200, 701, 50)]
    assert joules == sorted(joules) and joules[0] < 0.6 * joules[-1]


@pytest.mark.parametrize("kwargs", [{"idle_w": 250.0}, {"min_cap_w": 800.0}, {"exponent": 0.0}, {"exponent": 1.5}])
def test_impossible_models_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="gpu model"):
        GpuPowerModel(**kwargs)

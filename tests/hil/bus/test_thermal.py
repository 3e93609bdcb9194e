"""The three-node thermal model: its steady state by hand, its approach to it, eclipse cooling, the heater."""

from __future__ import annotations

import pytest

from flight.link.errors import ConfigError
from hil.bus.thermal import KELVIN, SOLAR_CONSTANT, STEFAN_BOLTZMANN, ThermalModel, ThermalSettings


def test_the_steady_state_is_the_radiators_balance_plus_the_conduction_drops() -> None:
    s = ThermalSettings()
    heat = 700.0 + s.other_heat_w + s.absorptivity * s.sun_facing_m2 * SOLAR_CONSTANT + s.earth_ir_w
    radiator = (heat / (s.emissivity * STEFAN_BOLTZMANN * s.radiator_area_m2)) ** 0.25 - KELVIN
    expected = radiator + (700.0 + s.other_heat_w) / s.plate_to_radiator_w_per_k + 700.0 / s.gpu_to_plate_w_per_k
    assert ThermalModel().steady_gpu_c(700.0, 1.0) == pytest.approx(expected, abs=0.01)


def test_integration_settles_at_the_steady_state() -> None:
    model = ThermalModel()
    for _ in range(8 * 3600 // 10):
        model.step(10.0, 700.0, 1.0)
    assert model.gpu_c == pytest.approx(model.steady_gpu_c(700.0, 1.0), abs=0.2)


def test_an_eclipse_cools_the_gpu_and_full_power_in_sun_comes_near_the_limit() -> None:
    model = ThermalModel()
    for _ in range(3 * 3600 // 10):
        model.step(10.0, 700.0, 1.0)
    hot = model.gpu_c
    assert 80.0 < hot < 86.0
    for _ in range(36 * 6):
        model.step(10.0, 700.0, 0.0)
    assert model.gpu_c < hot - 3.0


def test_the_heater_keeps_an_idle_payload_from_freezing_and_says_what_it_drew() -> None:
    model = ThermalModel()
    drawn = [model.step(60.0, 0.0, 0.0) for _ in range(24 * 60)]
    assert model.plate_c > ThermalSettings().heater_setpoint_c - 1.0
    assert 0.0 < drawn[-1] <= ThermalSettings().heater_w
    cold = ThermalModel(ThermalSettings(heater_w=0.0, closed_w_per_k=50.0))  # no heater, no heat-pipe valve
    for _ in range(24 * 60):
        cold.step(60.0, 0.0, 0.0)
    assert cold.plate_c < -40.0


def test_impossible_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^emissivity: 1\.5 is out of range \(the bus's thermal model\)$"):
        ThermalSettings(emissivity=1.5)
    with pytest.raises(ConfigError, match=r"^radiator_area_m2: 0\.0 is out of range"):
        ThermalSettings(radiator_area_m2=0.0)

"""The EPS: the array in the Sun, the battery's energy balance with its losses and limits, shedding."""

from __future__ import annotations

import pytest

from flight.link.errors import ConfigError
from hil.bus.eps import Eps, EpsSettings

LOSSLESS = EpsSettings(array_w=2000.0, capacity_wh=1000.0, initial_soc=0.5, charge_efficiency=1.0,
                       discharge_efficiency=1.0, max_charge_w=5000.0, bus_load_w=200.0)


def test_the_array_gives_its_rating_times_the_sunlit_fraction_over_distance_squared() -> None:
    eps = Eps(LOSSLESS)
    assert eps.array_power_w(1.0) == 2000.0 and eps.array_power_w(0.25) == 500.0
    assert eps.array_power_w(1.0, 0.983) == pytest.approx(2000.0 / 0.983**2)


def test_a_surplus_charges_and_a_deficit_drains_by_the_hour() -> None:
    eps = Eps(LOSSLESS)
    step = eps.step(3600.0, 1.0, 800.0)  # 2000 - 200 - 800 = 1000 W for an hour: 1000 Wh, full
    assert step.battery_w == 1000.0 - 500.0 and step.shunted_w == 500.0  # it had room for 500 Wh only
    assert eps.soc == pytest.approx(1.0)
    step = eps.step(1800.0, 0.0, 600.0)  # eclipse: 800 W for half an hour
    assert step.battery_w == -800.0 and eps.soc == pytest.approx(0.6)


def test_losses_count_both_ways() -> None:
    eps = Eps(EpsSettings(array_w=1200.0, capacity_wh=1000.0, initial_soc=0.5, charge_efficiency=0.9,
                          discharge_efficiency=0.8, bus_load_w=200.0))
    eps.step(3600.0, 1.0, 0.0)  # 1000 W offered, at most 1200 W taken, 90% stored: +900 Wh, capped at full
    assert eps.soc == pytest.approx(1.0)
    eps.step(3600.0, 0.0, 200.0)  # 400 W out of the bus costs 500 Wh from the cells
    assert eps.soc == pytest.approx(0.5)


def test_the_charge_rate_is_limited_and_the_rest_shunted() -> None:
    eps = Eps(EpsSettings(array_w=3000.0, capacity_wh=10000.0, initial_soc=0.1, charge_efficiency=1.0,
                          max_charge_w=1000.0, bus_load_w=0.0))
    step = eps.step(3600.0, 1.0, 0.0)
    assert step.battery_w == 1000.0 and step.shunted_w == 2000.0 and eps.soc == pytest.approx(0.2)


def test_the_payload_is_shed_at_the_reserve_and_given_back_with_hysteresis() -> None:
    eps = Eps(EpsSettings(capacity_wh=1000.0, initial_soc=0.16, discharge_efficiency=1.0, bus_load_w=100.0,
                          shed_soc=0.15))
    assert not eps.step(36.0, 0.0, 900.0).shed  # 1000 W for 36 s: 10 Wh, to 15%
    assert eps.step(36.0, 0.0, 900.0).shed and eps.step(36.0, 0.0, 900.0).payload_w == 0.0
    eps.energy_wh = 180.0  # charged a little: still under 20%
    assert eps.step(1.0, 1.0, 500.0).shed
    eps.energy_wh = 210.0
    assert not eps.step(1.0, 1.0, 500.0).shed


def test_the_payload_line_holds_at_its_rating_and_allots_nothing_while_shed() -> None:
    eps = Eps(EpsSettings(capacity_wh=1000.0, initial_soc=0.9, payload_line_w=600.0))
    assert eps.allocation_w == 600.0
    assert eps.step(1.0, 1.0, 900.0).payload_w == 600.0 and eps.step(1.0, 1.0, 400.0).payload_w == 400.0
    eps.energy_wh = 100.0  # under the reserve
    assert eps.step(1.0, 0.0, 400.0).shed and eps.allocation_w == 0.0


def test_a_lost_string_and_a_stuck_load_take_their_share() -> None:
    eps = Eps(LOSSLESS)
    eps.array_share, eps.extra_load_w = 0.5, 300.0
    assert eps.array_power_w(1.0) == 1000.0 and eps.bus_load_w == 500.0
    step = eps.step(3600.0, 1.0, 0.0)  # 1000 W in, 500 W out: +500 Wh
    assert step.battery_w == 500.0 and eps.soc == pytest.approx(1.0)


@pytest.mark.parametrize("field", ["capacity_wh", "charge_efficiency", "initial_soc", "max_charge_w",
                                   "payload_line_w"])
def test_impossible_settings_are_refused_naming_the_field(field: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{field}: -1\.0 is out of range \(the bus's EPS\)$"):
        EpsSettings(**{field: -1.0})

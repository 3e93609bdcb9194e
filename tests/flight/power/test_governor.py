"""The governor's policy against hand-computed cases, and properties over arbitrary bus states.

The hand cases use lossless charge and discharge (efficiency 1) so that the arithmetic in the
comments is the whole story.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.power.governor import MARGINS, Action, BusState, Governor, Limits, Setting, payload_w, plan
from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode

GPU = GpuPowerModel()
LIMITS = Limits()
ECLIPSE_S = 2160.0  # 36 minutes

# In sunlight, 1000 s before a 36-minute eclipse, a 1 kWh battery at 80%, a 200 W bus.
SUN = BusState(soc=0.8, capacity_wh=1000.0, array_w=1500.0, sunlit_array_w=1500.0, bus_load_w=200.0,
               in_eclipse=False, eclipse_entry_s=1000.0, eclipse_exit_s=1000.0 + ECLIPSE_S, gpu_temp_c=40.0,
               charge_efficiency=1.0, discharge_efficiency=1.0)
DARK = replace(SUN, array_w=0.0, in_eclipse=True, eclipse_entry_s=0.0, eclipse_exit_s=ECLIPSE_S)


def test_with_energy_to_spare_the_job_runs_at_full_power_in_sun_and_in_eclipse() -> None:
    big = replace(SUN, capacity_wh=5000.0, soc=1.0)
    decision = plan(big, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now == Setting(Action.RUN, 700.0, 1.0) and decision.eclipse == Setting(Action.RUN, 700.0, 1.0)
    # 5000 Wh less 0.6 h of 900 W: 4460 Wh
    assert decision.soc_at_exit == pytest.approx(4460 / 5000)


def test_in_eclipse_the_cap_is_the_highest_the_battery_carries_to_the_floor() -> None:
    # 800 Wh now; the floor plus the performance margin is 32%, 320 Wh: 480 Wh for 0.6 h is 800 W,
    # 200 W of it the bus's: the GPU may draw 600 W, and 600 W at full duty is the cap of 600 W.
    decision = plan(replace(DARK, bus_load_w=190.0), PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now == Setting(Action.RUN, 600.0, 1.0)
    assert decision.soc_at_exit == pytest.approx((800 - 790 * 0.6) / 1000)  # 0.326
    assert decision.margin_wh == pytest.approx(326 - 300)


def test_with_little_energy_the_lowest_cap_runs_part_of_the_eclipse_and_the_job_is_then_suspended() -> None:
    # 166 W on average for the GPU through the eclipse: under the lowest cap at full duty (200 W). The
    # lowest cap for 3/4 of the eclipse (150 W on average, the GPU off for the rest) does the work of
    # 3/4 duty all through (0.75 × 0.544 of full speed) for less energy (that pays 60 W idle in every
    # pause: 165 W), and far more than 700 W at 1/4 duty (0.25 of full speed, and 220 W).
    tight = replace(DARK, soc=0.32 + (0.6 * (200 + 166)) / 1000)
    decision = plan(tight, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.eclipse == Setting(Action.RUN, 200.0, 1.0, share=0.75)
    assert decision.now == Setting(Action.RUN, 200.0, 1.0)  # it runs first; the plan is made again each tick


def test_an_eclipse_the_battery_cannot_carry_the_job_through_suspends_it_at_entry() -> None:
    # 400 Wh at entry at best (40%): through 0.6 h the 200 W bus and the idle GPU take 156 Wh, which
    # leaves 24.4%, under the 32% the plan holds: no setting runs in the eclipse. In sunlight the job
    # still runs, on what the array gives beyond the bus and the charging.
    low = replace(SUN, soc=0.2, sunlit_array_w=500.0, array_w=500.0, eclipse_entry_s=600.0,
                  eclipse_exit_s=600.0 + ECLIPSE_S)
    decision = plan(low, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.eclipse == Setting(Action.SUSPEND)
    assert decision.now.action is Action.SUSPEND and decision.reason == "the floor cannot be held: suspended"
    charged = replace(low, soc=0.6)
    decision = plan(charged, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now.action is Action.RUN and decision.eclipse.action in (Action.RUN, Action.SUSPEND)
    assert decision.soc_at_exit >= LIMITS.soc_floor + MARGINS[PowerMode.PERFORMANCE]


def test_the_plan_holds_back_in_sunlight_to_keep_the_eclipse_running() -> None:
    # 500 Wh, a 700 W array and a 200 W bus for 1000 s, then the eclipse. Flat out now (700 W) would
    # take 55.6 Wh from the battery, leaving 444 Wh at entry; the bus and the idle GPU alone then take
    # 156 Wh in the dark, ending at 28.8%, under the 32% held: the greedy choice breaks the floor.
    thin = replace(SUN, soc=0.5, sunlit_array_w=700.0, array_w=700.0)
    decision = plan(thin, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now == Setting(Action.RUN, 250.0, 1.0) and decision.eclipse == Setting(Action.RUN, 200.0, 1.0)
    # 500 + (700 - 200 - 250) × 1000 s - (200 + 200) × 2160 s, in Wh: 329.4 Wh
    assert decision.soc_at_exit == pytest.approx((500 + 250 * 1000 / 3600 - 400 * 0.6) / 1000)


def test_balanced_keeps_a_larger_margin_than_performance() -> None:
    performance = plan(DARK, PowerMode.PERFORMANCE, LIMITS, GPU)
    balanced = plan(DARK, PowerMode.BALANCED, LIMITS, GPU)
    assert balanced.soc_at_exit >= LIMITS.soc_floor + MARGINS[PowerMode.BALANCED]
    assert balanced.now.cap_w < performance.now.cap_w


def test_eclipse_safe_suspends_in_eclipse_and_never_draws_on_the_battery_in_sun() -> None:
    decision = plan(replace(SUN, sunlit_array_w=600.0), PowerMode.ECLIPSE_SAFE, LIMITS, GPU)
    assert decision.eclipse == Setting(Action.SUSPEND)
    assert decision.now.action is Action.RUN and 600.0 - 200.0 - payload_w(decision.now, GPU) >= 0
    assert plan(DARK, PowerMode.ECLIPSE_SAFE, LIMITS, GPU).now == Setting(Action.SUSPEND)


def test_mode_off_powers_the_payload_down() -> None:
    decision = plan(SUN, PowerMode.OFF, LIMITS, GPU)
    assert decision.now == decision.eclipse == Setting(Action.OFF) and payload_w(decision.now, GPU) == 0.0


def test_the_operators_cap_ceiling_is_never_exceeded() -> None:
    limits = replace(LIMITS, cap_ceiling_w=420.0)
    big = replace(SUN, capacity_wh=5000.0, soc=1.0)
    decision = plan(big, PowerMode.PERFORMANCE, limits, GPU)
    assert decision.now == Setting(Action.RUN, 420.0, 1.0)


def test_the_cap_stays_within_the_bus_allocation_and_a_shed_payload_is_suspended() -> None:
    big = replace(SUN, capacity_wh=5000.0, soc=1.0)
    assert plan(replace(big, allocation_w=480.0), PowerMode.PERFORMANCE, LIMITS, GPU).now == \
        Setting(Action.RUN, 480.0, 1.0)
    shed = plan(replace(big, allocation_w=0.0), PowerMode.PERFORMANCE, LIMITS, GPU)
    assert shed.now == Setting(Action.SUSPEND) and shed.reason == "no cap the GPU takes is at or under 0 W: suspended"


def test_a_ceiling_under_the_lowest_cap_suspends_and_says_why() -> None:
    big = replace(SUN, capacity_wh=5000.0, soc=1.0)
    decision = plan(big, PowerMode.PERFORMANCE, replace(LIMITS, cap_ceiling_w=150.0), GPU)
    assert decision.now == Setting(Action.SUSPEND)
    assert decision.reason == "no cap the GPU takes is at or under 150 W: suspended"


@pytest.mark.parametrize(("temp", "cap"), [(60.0, 700.0), (75.0, 700.0), (80.0, 450.0), (84.0, 250.0)])
def test_the_cap_comes_down_over_the_thermal_band(temp: float, cap: float) -> None:
    big = replace(SUN, capacity_wh=5000.0, soc=1.0, gpu_temp_c=temp)
    decision = plan(big, PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now == Setting(Action.RUN, cap, 1.0)  # 200 + share × 500, share = (85 - T) / 10


def test_at_the_temperature_limit_the_job_is_suspended() -> None:
    decision = plan(replace(SUN, gpu_temp_c=85.0), PowerMode.PERFORMANCE, LIMITS, GPU)
    assert decision.now == Setting(Action.SUSPEND) and "the limit is 85.0" in decision.reason


def test_power_safe_mode_is_entered_on_a_critical_state_and_left_with_hysteresis() -> None:
    governor = Governor(gpu=GPU)
    assert governor.decide(SUN, PowerMode.PERFORMANCE).now.action is Action.RUN
    assert governor.decide(replace(SUN, soc=0.21), PowerMode.PERFORMANCE).now == Setting(Action.OFF)
    assert governor.safe
    assert governor.decide(replace(SUN, soc=0.35), PowerMode.PERFORMANCE).now == Setting(Action.OFF)  # not yet
    assert governor.decide(replace(SUN, soc=0.41, gpu_temp_c=71.0), PowerMode.PERFORMANCE).now.action is Action.OFF
    assert governor.decide(replace(SUN, soc=0.41, gpu_temp_c=69.0), PowerMode.PERFORMANCE).now.action is Action.RUN
    assert not governor.safe
    assert governor.decide(replace(SUN, gpu_temp_c=96.0), PowerMode.PERFORMANCE).now == Setting(Action.OFF)


fractions = st.floats(0.0, 1.0)


@settings(max_examples=300, deadline=None)
@given(soc=fractions, capacity=st.floats(100.0, 10000.0), array=st.floats(0.0, 5000.0),
       bus_load=st.floats(0.0, 1000.0), in_eclipse=st.booleans(), entry=st.floats(0.0, 6000.0),
       length=st.floats(0.0, 2200.0), temp=st.floats(-20.0, 120.0), efficiency=st.floats(0.5, 1.0),
       mode=st.sampled_from(list(PowerMode)), ceiling=st.floats(200.0, 700.0))
def test_any_bus_state_gets_a_plan_that_holds_the_floor_whenever_the_job_runs(
        soc: float, capacity: float, array: float, bus_load: float, in_eclipse: bool, entry: float, length: float,
        temp: float, efficiency: float, mode: PowerMode, ceiling: float) -> None:
    bus = BusState(soc=soc, capacity_wh=capacity, array_w=0.0 if in_eclipse else array, sunlit_array_w=array,
                   bus_load_w=bus_load, in_eclipse=in_eclipse, eclipse_entry_s=0.0 if in_eclipse else entry,
                   eclipse_exit_s=(0.0 if in_eclipse else entry) + length, gpu_temp_c=temp,
                   charge_efficiency=efficiency, discharge_efficiency=efficiency)
    limits = replace(LIMITS, cap_ceiling_w=ceiling)
    decision = plan(bus, mode, limits, GPU)
    for setting in (decision.now, decision.eclipse):
        if setting.action is Action.RUN:
            assert GPU.min_cap_w <= setting.cap_w <= ceiling and 0 < setting.duty <= 1
            assert decision.soc_at_exit >= limits.soc_floor + MARGINS[mode] - 1e-9
            assert temp < limits.temp_limit_c
    if in_eclipse:
        assert decision.now == replace(decision.eclipse, share=1.0)

"""The power governor in the supervisor: bus states in, jobs suspended and resumed, commands, telemetry.

Bus states are packed as ``hil bus`` sends them and handed to the service as the process loop does;
the job workers are test_jobs' fakes; time is the harness's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from flight.dictionary import load_dictionary
from flight.power.bus_message import BusReport, pack_state, unpack_draw
from flight.power.governor import BusState
from flight.power.mode import PowerMode

from .._harness import Harness, events, hk_reports
from .test_jobs import Bench, make_bench

DICTIONARY = load_dictionary()
POWER_SID = 5
# Sunlit, an hour of margin: the plan runs the job flat out.
SUNNY = BusState(soc=0.95, capacity_wh=5000.0, array_w=2400.0, sunlit_array_w=2400.0, bus_load_w=250.0,
                 in_eclipse=False, eclipse_entry_s=1800.0, eclipse_exit_s=3900.0, gpu_temp_c=40.0)
# In an eclipse that the battery cannot carry a job through: suspend.
DARK_AND_LOW = replace(SUNNY, soc=0.35, capacity_wh=400.0, array_w=0.0, in_eclipse=True, eclipse_entry_s=0.0,
                       eclipse_exit_s=2000.0)


@pytest.fixture
def bench(make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> Bench:
    return make_bench(make_harness, monkeypatch)


def bus(bench: Bench, state: BusState, fraction: float = 1.0) -> None:
    """One state from the bus, then a second of time: the governor plans with it."""
    bench.harness.supervisor.governor.on_bus_message(pack_state(BusReport(1.77e9, fraction, False, state)))
    bench.tick(1.0)


def power_events(bench: Bench) -> list[tuple[str, dict[str, Any]]]:
    return [e for e in events(bench.harness.downlink()) if e[0].startswith(("POWER_", "JOB_RESUMED"))]


def test_without_a_bus_the_jobs_run_unmanaged(bench: Bench) -> None:
    bench.running()
    bench.tick(30.0)
    assert bench.state(1) == "RUNNING" and bench.harness.supervisor.governor.take_draw() is None


def test_an_eclipse_the_battery_cannot_carry_suspends_the_jobs_and_the_sun_resumes_them(bench: Bench) -> None:
    worker = bench.running()
    bench.start()  # job 2 waits in the queue
    bench.harness.downlink()
    bus(bench, DARK_AND_LOW, fraction=0.0)
    assert bench.state(1) == "SUSPENDED" and bench.state(2) == "SUSPENDED"
    assert bench.row(1)["reason"].startswith("power: ")
    assert (1, 1, "stop") in bench.told  # the worker checkpoints and stops
    [(name, suspended)] = power_events(bench)
    assert name == "POWER_SUSPENDED" and suspended["jobs"] == 2
    worker.exit(0)
    bench.tick()
    bench.harness.ok("JOB_START", {"kind": "TRAIN", "config": ""})  # a new job waits too
    bench.tick(1.0)
    assert bench.state(3) == "QUEUED" and len(bench.launched) == 1
    bus(bench, SUNNY)
    assert power_events(bench) == [("JOB_RESUMED", {"job": 1}), ("JOB_RESUMED", {"job": 2}),
                                   ("POWER_RESUMED", {"jobs": 2, "reason": "the plan runs the job again"})]
    bench.tick()
    assert bench.state(1) == "STARTING" and len(bench.launched) == 2  # from its checkpoint
    assert bench.harness.counter("power.suspensions") == 1 and bench.harness.counter("power.resumptions") == 1


def test_a_restarted_supervisor_resumes_the_jobs_its_last_life_suspended_for_power(bench: Bench) -> None:
    bench.running()
    bus(bench, DARK_AND_LOW, fraction=0.0)
    assert bench.state(1) == "SUSPENDED"
    bench.harness.restart()
    bus(bench, SUNNY)
    assert bench.state(1) == "STARTING"  # queued again, and started at once: the device is free


def test_a_job_suspended_in_safe_mode_is_not_resumed_by_the_governor(bench: Bench) -> None:
    bench.running()
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "test"})
    bus(bench, SUNNY)
    assert bench.state(1) == "SUSPENDED" and bench.row(1)["reason"].startswith("safe mode")
    assert bench.harness.supervisor.governor.setting.action.name == "OFF"


def test_the_bus_falling_silent_suspends_the_jobs(bench: Bench) -> None:
    bench.running()
    bus(bench, SUNNY)
    assert bench.state(1) == "RUNNING"
    bench.tick(11.0)  # power.bus_timeout is 10 s
    assert bench.state(1) == "SUSPENDED" and "no bus state" in bench.row(1)["reason"]


def test_set_power_mode_off_suspends_and_performance_resumes(bench: Bench) -> None:
    bench.running()
    bus(bench, SUNNY)
    bench.harness.downlink()
    bench.harness.ok("SET_POWER_MODE", {"mode": "OFF"})
    bus(bench, SUNNY)
    assert bench.state(1) == "SUSPENDED" and bench.harness.supervisor.power.mode is PowerMode.OFF
    assert power_events(bench)[0] == ("POWER_MODE_CHANGED", {"mode": "OFF", "reason": "by command"})
    bench.harness.ok("SET_POWER_MODE", {"mode": "PERFORMANCE"})
    bus(bench, SUNNY)
    assert bench.state(1) == "QUEUED"


def test_safe_mode_refuses_any_power_mode_but_off(bench: Bench) -> None:
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "test"})
    [outcome] = bench.harness.uplink(bench.harness.command("SET_POWER_MODE", {"mode": "PERFORMANCE"}))
    assert outcome.failure is not None and "safe mode" in str(outcome.as_dict())
    bench.harness.ok("SET_POWER_MODE", {"mode": "OFF"})


def test_set_power_cap_bounds_the_cap_and_the_duty_cycle_goes_to_the_worker(bench: Bench) -> None:
    bench.running()
    bench.harness.ok("SET_POWER_CAP", {"cap_w": 350.0})
    bus(bench, SUNNY)
    governor = bench.harness.supervisor.governor
    assert governor.setting.cap_w == 350.0 and governor.setting.duty == 1.0
    assert bench.harness.supervisor.parameters.get("power.cap_ceiling_w") == 350.0
    assert (1, 1, "duty") in bench.told
    draw = unpack_draw(governor.take_draw() or b"")
    assert draw == {"payload_w": 350.0, "cap_w": 350.0, "duty": 1.0, "running": True}
    assert governor.take_draw() is None  # once per tick


def test_each_new_worker_of_a_running_job_is_told_the_duty_cycle(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("SET_POWER_CAP", {"cap_w": 200.0})
    bus(bench, SUNNY)
    governor = bench.harness.supervisor.governor
    assert governor.setting.cap_w == 200.0 and (1, 1, "duty") in bench.told
    bus(bench, SUNNY)
    assert bench.told.count((1, 1, "duty")) == 1  # the same duty is not said twice
    worker.exit(1)  # lost: a new worker restarts the job
    bench.tick()
    bench.say(bench.last, "hello", device="cpu", step=0)
    bus(bench, SUNNY)
    assert (1, 2, "duty") in bench.told


def test_a_critical_battery_is_power_safe_mode_left_with_hysteresis(bench: Bench) -> None:
    bench.running()
    bus(bench, SUNNY)
    bench.harness.downlink()
    bus(bench, replace(SUNNY, soc=0.2))
    assert bench.state(1) == "SUSPENDED"
    assert ("POWER_SAFE", {"state": "entered", "reason": bench.harness.supervisor.governor.decision.reason[:150]}) \
        in power_events(bench)
    bus(bench, replace(SUNNY, soc=0.35))  # recovering, but not past the resume level
    assert bench.state(1) == "SUSPENDED"
    bus(bench, replace(SUNNY, soc=0.45))
    assert bench.state(1) == "QUEUED"


def test_garbage_from_the_bus_is_counted_and_the_last_good_state_kept(bench: Bench) -> None:
    governor = bench.harness.supervisor.governor
    bus(bench, SUNNY)
    for raw in (b"", b"\xc1", pack_state(BusReport(1.0, 5.0, False, SUNNY))):
        governor.on_bus_message(raw)
    assert bench.harness.counter("power.bad_bus_messages") == 3 and governor.report is not None
    assert governor.report.state == SUNNY


def test_every_power_channel_of_the_dictionary_is_in_the_power_report_and_fed(bench: Bench) -> None:
    channels = {c.name for c in DICTIONARY.report(POWER_SID).channels}
    assert channels == {c.name for c in DICTIONARY.telemetry if c.name.startswith("power.")}
    worker = bench.running()
    bus(bench, replace(SUNNY, in_eclipse=False, gpu_temp_c=55.0))
    bus(bench, DARK_AND_LOW, fraction=0.0)  # a suspension
    worker.exit(0)  # checkpointed and stopped, as told
    bench.harness.supervisor.governor.on_bus_message(b"junk")
    bus(bench, SUNNY)  # and a resumption
    bench.tick()
    bench.say(bench.last, "hello", device="cpu", step=0)
    bench.harness.downlink()
    bench.tick(2.0)
    report = hk_reports(bench.harness.downlink(), POWER_SID)[-1]
    zero_ok = {"power.in_eclipse", "power.mode"}  # false, and PERFORMANCE (0), in this sunlit moment
    for name in channels - zero_ok:
        assert report[name] not in (0, 0.0, "NONE", False), name

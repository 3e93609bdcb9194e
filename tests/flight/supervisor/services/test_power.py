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
from flight.power.nvml_gpu import NvmlGpu
from tests.flight.power._fake_nvml import FakeNvml, install

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
    bench.harness.supervisor.governor.on_bus_message(pack_state(BusReport(1.77e9, fraction, False, state, 25.0, -20.0)))
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


def test_safe_mode_sets_the_power_mode_off_with_an_event(bench: Bench) -> None:
    bench.harness.downlink()
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "test"})
    assert bench.harness.supervisor.power.mode is PowerMode.OFF
    changes = [e for e in events(bench.harness.downlink()) if e[0] == "POWER_MODE_CHANGED"]
    assert changes == [("POWER_MODE_CHANGED", {"mode": "OFF", "reason": "safe mode: test"})]
    bench.harness.ok("SAFE_MODE_EXIT", {})
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "again"})  # already OFF: no change, no event
    assert [e for e in events(bench.harness.downlink()) if e[0] == "POWER_MODE_CHANGED"] == []


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
    for raw in (b"", b"\xc1", pack_state(BusReport(1.0, 5.0, False, SUNNY, 25.0, -20.0))):
        governor.on_bus_message(raw)
    assert bench.harness.counter("power.bad_bus_messages") == 3 and governor.report is not None
    assert governor.report.state == SUNNY


def board_bench(make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch, control: bool = True,
                **board: float | bool) -> tuple[Bench, FakeNvml]:
    """A supervisor on a (fake) real GPU: NVML's draw, temperature and cap."""
    fake = install(monkeypatch, **board)
    return make_bench(make_harness, monkeypatch, gpu_power=NvmlGpu(control=control)), fake


def test_on_a_gpu_the_plans_cap_goes_to_the_board(make_harness: Callable[..., Harness],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, draw_w=455.0)
    bench.running()
    bus(bench, SUNNY)
    assert board.caps_set_w == [700.0]
    bench.harness.ok("SET_POWER_CAP", {"cap_w": 350.0})
    bus(bench, SUNNY)
    bus(bench, SUNNY)
    assert board.caps_set_w == [700.0, 350.0]  # each change once
    governor = bench.harness.supervisor.governor
    assert governor.cap_control and governor.draw_w() == 455.0  # the board's own draw goes to the bus
    assert unpack_draw(governor.take_draw() or b"")["payload_w"] == 455.0
    sample = governor.sample()
    assert (sample["power.gpu_source"], sample["power.gpu_cap_w"]) == ("NVML", 350.0)
    bench.harness.supervisor.governor.close()
    assert board.caps_set_w[-1] == 700.0  # the board's default again when the supervisor exits


def test_without_leave_to_set_caps_the_plan_uses_the_drivers_cap(make_harness: Callable[..., Harness],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, control=False, default_w=500.0)
    bench.running()
    bus(bench, SUNNY)
    governor = bench.harness.supervisor.governor
    assert board.caps_set_w == [] and governor.setting.cap_w == 500.0 and bench.state(1) == "RUNNING"
    assert governor.sample()["power.cap_control"] is False
    bench.harness.ok("SET_POWER_CAP", {"cap_w": 300.0})  # a ceiling under the one cap it has
    bus(bench, SUNNY)
    assert bench.state(1) == "SUSPENDED" and "no cap the GPU takes is at or under 300 W" in bench.row(1)["reason"]


def test_a_refused_cap_is_an_event_and_the_plan_falls_back_to_the_drivers(make_harness: Callable[..., Harness],
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, settable=False, default_w=600.0)
    bench.running()
    bench.harness.downlink()
    bus(bench, SUNNY)
    governor = bench.harness.supervisor.governor
    assert ("POWER_CAP_REFUSED", {"cap_w": 700.0, "reason": "NVML: Insufficient Permissions"}) in power_events(bench)
    assert not governor.cap_control and bench.harness.counter("power.cap_refusals") == 1
    bus(bench, SUNNY)
    assert governor.setting.cap_w == 600.0 and bench.state(1) == "RUNNING"
    assert [e for e in power_events(bench) if e[0] == "POWER_CAP_REFUSED"] == []  # said once


def test_without_leave_and_without_a_reading_the_plan_assumes_the_highest_cap(
        make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, control=False, default_w=500.0)
    governor = bench.harness.supervisor.governor
    governor._driver_cap_w = None  # as if the board had never answered
    board.failing_reads = 1
    bench.running()
    # Warm: a plan free to choose would bring the cap down to 450 W over the thermal band; the board
    # may be at any cap up to its highest, and the plan must count on that.
    bus(bench, replace(SUNNY, gpu_temp_c=80.0))
    assert governor.setting.cap_w == 700.0 and board.caps_set_w == []  # the battery's worst case


def test_a_passing_failure_to_set_the_cap_is_counted_and_tried_again(make_harness: Callable[..., Harness],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, failing_sets=1)
    bench.running()
    bench.harness.downlink()
    bus(bench, SUNNY)
    governor = bench.harness.supervisor.governor
    assert board.caps_set_w == [] and bench.harness.counter("power.nvml_errors") == 1 and governor.cap_control
    bus(bench, SUNNY)
    assert board.caps_set_w == [700.0] and not [e for e in power_events(bench) if e[0] == "POWER_CAP_REFUSED"]


def test_with_the_bus_silent_the_board_is_still_read(make_harness: Callable[..., Harness],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, draw_w=455.0)
    bench.running()
    bus(bench, SUNNY)
    board.draw_w = 75.0  # suspended: the board idles
    bench.tick(11.0)  # power.bus_timeout is 10 s
    governor = bench.harness.supervisor.governor
    assert bench.state(1) == "SUSPENDED" and governor.draw_w() == 75.0
    assert governor.sample()["power.margin_wh"] == 0.0 and governor.sample()["power.cap_w"] == 0.0


def test_a_hot_board_suspends_the_job_whatever_the_bus_says(make_harness: Callable[..., Harness],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, temp_c=88.0)
    bench.running()
    bus(bench, replace(SUNNY, gpu_temp_c=40.0))
    assert bench.state(1) == "SUSPENDED" and "GPU at 88.0 °C" in bench.row(1)["reason"]
    assert bench.harness.supervisor.governor.sample()["power.gpu_temp_c"] == 88.0


def test_a_failed_board_read_is_counted_and_the_bus_stands_in(make_harness: Callable[..., Harness],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bench, board = board_bench(make_harness, monkeypatch, temp_c=88.0)
    board.failing_reads = 1
    bench.running()
    bus(bench, SUNNY)  # the read fails: the bus's 40 °C and the model's draw
    governor = bench.harness.supervisor.governor
    assert bench.state(1) == "RUNNING" and bench.harness.counter("power.nvml_errors") == 1
    assert governor.draw_w() == 700.0
    bus(bench, SUNNY)  # the board answers again, at 88 °C
    assert bench.state(1) == "SUSPENDED"


def test_every_power_channel_of_the_dictionary_is_in_the_power_report_and_fed(
        make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    channels = {c.name for c in DICTIONARY.report(POWER_SID).channels}
    assert channels == {c.name for c in DICTIONARY.telemetry if c.name.startswith("power.")}
    # on a board that refuses caps and fails a read: every counter moves
    bench, board = board_bench(make_harness, monkeypatch, settable=False)
    board.failing_reads = 1
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
    # false, PERFORMANCE (0), and false (the board refused a cap), in this sunlit moment
    zero_ok = {"power.in_eclipse", "power.mode", "power.cap_control"}
    for name in channels - zero_ok:
        assert report[name] not in (0, 0.0, "NONE", False), name
    assert report["power.gpu_source"] == "NVML" and report["power.cap_control"] is False


def test_on_a_bench_the_simulated_gpu_takes_every_cap(bench: Bench) -> None:
    bench.running()
    bus(bench, SUNNY)
    sample = bench.harness.supervisor.governor.sample()
    assert (sample["power.gpu_source"], sample["power.cap_control"], sample["power.gpu_cap_w"]) == \
        ("SIMULATED", True, 700.0)

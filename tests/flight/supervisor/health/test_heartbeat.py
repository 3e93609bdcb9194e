"""Heartbeats of managed processes (missed once, restored), and the watchdog of the supervisor's own loop."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from flight.supervisor.health.heartbeat import WATCHDOG_EXIT, HeartbeatMonitor, Watchdog

from .._harness import Harness, events


def test_a_silent_process_is_reported_once_and_restored_when_it_beats() -> None:
    monitor = HeartbeatMonitor(lambda: 5.0)
    assert monitor.beat("worker", 100.0) is False  # first heard
    assert monitor.check(105.0) == []  # not yet past the timeout
    assert monitor.check(105.5) == [("worker", 5.5, 5.0)]
    assert monitor.check(200.0) == []  # once
    assert monitor.processes() == {"worker": False}
    assert monitor.beat("worker", 201.0) is True
    assert monitor.beat("worker", 202.0) is False
    assert monitor.processes() == {"worker": True}
    assert monitor.counters["heartbeats_missed"] == 1


def test_a_process_may_set_its_own_timeout_and_the_default_is_read_each_time() -> None:
    default = [5.0]
    monitor = HeartbeatMonitor(lambda: default[0])
    monitor.beat("slow", 0.0, timeout=60.0)
    monitor.beat("fast", 0.0)
    assert [name for name, _, _ in monitor.check(10.0)] == ["fast"]
    default[0] = 100.0
    monitor.beat("other", 10.0)
    assert monitor.check(70.0) == [("slow", 70.0, 60.0)]


def test_a_forgotten_process_is_no_longer_expected() -> None:
    monitor = HeartbeatMonitor(lambda: 1.0)
    monitor.beat("job", 0.0)
    monitor.forget("job")
    assert monitor.check(100.0) == [] and monitor.processes() == {}


def test_the_supervisor_reports_a_missed_heartbeat_once_and_its_return(harness: Harness) -> None:
    s = harness.supervisor
    s.heartbeat("trainer")
    harness.mono += 5.0
    harness.advance(5.0)
    assert events(harness.downlink(), "HEARTBEAT_MISSED") == []
    harness.mono += 1.0
    harness.advance(1.0)
    assert events(harness.downlink(), "HEARTBEAT_MISSED") == [
        ("HEARTBEAT_MISSED", {"process": "trainer", "silence": 6.0, "timeout": 5.0})]
    harness.mono += 30.0
    harness.advance(30.0)
    assert events(harness.downlink(), "HEARTBEAT_MISSED") == []
    s.heartbeat("trainer")
    assert events(harness.downlink(), "HEARTBEAT_RESTORED") == [("HEARTBEAT_RESTORED", {"process": "trainer"})]
    assert harness.counter("health.heartbeats_missed") == 1


def test_the_default_timeout_is_the_heartbeat_parameter(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "health.heartbeat_timeout", "value": 60.0})
    harness.supervisor.heartbeat("trainer")
    harness.mono += 30.0
    harness.advance(30.0)
    assert events(harness.downlink(), "HEARTBEAT_MISSED") == []


def test_heartbeats_follow_the_monotonic_clock_not_mission_time(harness: Harness) -> None:
    harness.supervisor.heartbeat("trainer")
    harness.advance(3600.0)  # a scaled clock may run fast: real silence is what counts
    assert events(harness.downlink(), "HEARTBEAT_MISSED") == []


def test_the_watchdog_expires_when_not_petted() -> None:
    expired = threading.Event()
    watchdog = Watchdog(0.02, expire=expired.set)
    watchdog.start()
    try:
        assert expired.wait(10.0)
    finally:
        watchdog.stop()


def test_a_stopped_watchdog_never_expires() -> None:
    expired = threading.Event()
    watchdog = Watchdog(0.05, expire=expired.set)
    watchdog.start()
    watchdog.stop()
    for thread in threading.enumerate():
        if thread.name == "watchdog":
            thread.join(10.0)
    assert not expired.is_set()


@pytest.mark.skipif(sys.platform == "win32", reason="os._exit codes")
def test_the_default_expiry_logs_where_the_loop_hung_and_exits_so_it_is_restarted() -> None:
    code = ("import time\nfrom flight.supervisor.health.heartbeat import Watchdog\n"
            "def stuck_in_the_main_loop():\n    time.sleep(30)\n"
            "Watchdog(0.05).start()\nstuck_in_the_main_loop()\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == WATCHDOG_EXIT
    assert "watchdog" in result.stderr and "resetting" in result.stderr
    assert "stuck_in_the_main_loop" in result.stderr  # where it hung, for whoever reads the log


@pytest.mark.parametrize("timeout", [-1e300, 0.0, float("nan"), float("inf"), 1e9])
def test_a_heartbeat_asking_for_an_impossible_timeout_is_refused_and_counted(timeout: float) -> None:
    monitor = HeartbeatMonitor(lambda: 5.0)
    assert monitor.beat("worker", 0.0, timeout) is False
    assert monitor.processes() == {} and monitor.counters["bad_heartbeats"] == 1
    assert monitor.check(1e6) == []  # nothing to report, and nothing that could not be reported


def test_the_number_of_watched_processes_is_bounded() -> None:
    from flight.supervisor.health.heartbeat import MAX_PROCESSES

    monitor = HeartbeatMonitor(lambda: 5.0)
    for n in range(MAX_PROCESSES + 10):
        monitor.beat(f"p{n}", 0.0)
    assert len(monitor.processes()) == MAX_PROCESSES
    assert monitor.counters["bad_heartbeats"] == 10
    monitor.beat("p0", 1.0)  # one already watched still beats
    assert monitor.counters["bad_heartbeats"] == 10
    # Once the others are reported silent, a newcomer takes the place of the one silent longest.
    monitor.check(100.0)
    assert monitor.beat("newcomer", 100.0) is False and "newcomer" in monitor.processes()
    assert "p1" not in monitor.processes() and monitor.counters["heartbeats_evicted"] == 1

"""PUS 3 housekeeping: periodic reports at each structure's interval, commanded, decoding to the sampled values."""

from __future__ import annotations

import pytest

from flight.supervisor.verification import FailureCode

from .._harness import ACCEPT_FAILED, Harness, Verdict, hk_reports, verdicts

CORE_SID, LINK_SID = 1, 2  # intervals 2 s and 10 s


def run_for(harness: Harness, seconds: int) -> dict[int, int]:
    """Tick once a second; how many reports of each structure went down."""
    for _ in range(seconds):
        harness.advance(1.0)
    tms = harness.downlink()
    return {sid: len(hk_reports(tms, sid)) for sid in (CORE_SID, LINK_SID)}


def test_reports_go_down_at_each_structure_interval(harness: Harness) -> None:
    assert run_for(harness, 0) == {CORE_SID: 0, LINK_SID: 0}
    harness.advance(0.0)  # the first tick reports at once
    assert run_for(harness, 0) == {CORE_SID: 1, LINK_SID: 1}
    assert run_for(harness, 1) == {CORE_SID: 0, LINK_SID: 0}
    assert run_for(harness, 19) == {CORE_SID: 10, LINK_SID: 2}  # at 2, 4 ... 20 s and at 10, 20 s
    assert harness.counter("hk.reports") == 14 + 3 * 11  # and JOBS (sid 3), SEU (4) and POWER (5), every 2 s like CORE


def test_after_a_stall_a_report_goes_down_once_not_once_per_missed_interval(harness: Harness) -> None:
    harness.advance(0.0)
    harness.downlink()
    harness.advance(60.0)
    tms = harness.downlink()
    assert {sid: len(hk_reports(tms, sid)) for sid in (CORE_SID, LINK_SID)} == {CORE_SID: 1, LINK_SID: 1}


def test_disable_stops_a_structure_and_enable_reports_at_once(harness: Harness) -> None:
    harness.ok("HK_DISABLE", {"report": CORE_SID})
    harness.advance(0.0)
    assert run_for(harness, 10) == {CORE_SID: 0, LINK_SID: 2}  # at 0 and 10 s
    harness.ok("HK_ENABLE", {"report": CORE_SID})
    harness.advance(0.0)
    assert run_for(harness, 0)[CORE_SID] == 1
    harness.ok("HK_DISABLE", {"report": CORE_SID})
    harness.clock.advance(0.5)  # the next report was due in 2 s: enabling again does not wait for it
    harness.ok("HK_ENABLE", {"report": CORE_SID})
    harness.advance(0.0)
    assert run_for(harness, 0)[CORE_SID] == 1


def test_a_new_interval_applies_at_once_and_a_shorter_one_does_not_wait_for_the_old(harness: Harness) -> None:
    harness.advance(0.0)
    harness.ok("HK_SET_INTERVAL", {"report": LINK_SID, "interval": 3.0})
    harness.downlink()
    assert run_for(harness, 9)[LINK_SID] == 3  # at 3, 6, 9 s, not at 10


def test_report_now_sends_one_report_even_of_a_disabled_structure(harness: Harness) -> None:
    harness.ok("HK_DISABLE", {"report": LINK_SID})
    harness.downlink()
    harness.ok("HK_REPORT_NOW", {"report": LINK_SID})
    assert len(hk_reports(harness.downlink(), LINK_SID)) == 1


def test_enable_and_interval_survive_a_restart(harness: Harness) -> None:
    harness.ok("HK_DISABLE", {"report": LINK_SID})
    harness.ok("HK_SET_INTERVAL", {"report": CORE_SID, "interval": 5.0})
    harness.restart()
    assert run_for(harness, 10) == {CORE_SID: 2, LINK_SID: 0}  # at 5 and 10 s (the first waits its interval)


@pytest.mark.parametrize(("command", "arguments"), [
    ("HK_ENABLE", {}), ("HK_DISABLE", {}), ("HK_SET_INTERVAL", {"interval": 1.0}), ("HK_REPORT_NOW", {}),
])
def test_an_unknown_structure_is_a_bad_argument(harness: Harness, command: str, arguments: dict[str, float]) -> None:
    tc = harness.command(command, {"report": 99, **arguments})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT,
                                                        f"{command}.report")]
    assert 99 not in harness.supervisor.housekeeping.enabled


def test_a_report_decodes_to_the_values_sampled(harness: Harness) -> None:
    for _ in range(3):
        harness.ok("PING")
    harness.send("PARAM_GET", {"name": "no.such"})
    harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    harness.clock.advance(12.5)
    harness.downlink()
    harness.ok("HK_REPORT_NOW", {"report": CORE_SID})
    [core] = hk_reports(harness.downlink(), CORE_SID)
    assert core["cmd.accepted"] == 5 and core["cmd.rejected"] == 1 and core["cmd.completed"] == 4
    assert core["health.mode"] == "SAFE" and core["power.mode"] == "OFF"
    assert core["health.boots"] == 1 and core["health.uptime"] == 12.5
    assert core["clock.time"] == harness.clock.now() and core["clock.rate"] == 1.0
    assert core["store.packets"] == harness.supervisor.store.count - 2  # before the report and its own PUS 1
    assert core["health.safe_entries"] == 1


def test_the_longest_loop_lag_is_reported_once(harness: Harness) -> None:
    harness.advance(0.0)
    harness.supervisor.note_loop(0.25)
    harness.supervisor.note_loop(0.75)
    harness.supervisor.note_loop(0.5)
    harness.downlink()
    harness.advance(2.0)
    [core] = hk_reports(harness.downlink(), CORE_SID)
    assert core["health.loop_lag_ms"] == 750.0
    harness.advance(2.0)
    [core] = hk_reports(harness.downlink(), CORE_SID)
    assert core["health.loop_lag_ms"] == 0.0

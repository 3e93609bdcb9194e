"""Limit checks: one event per change of level, responses once on entry, configured responses checked."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import pytest

from flight.dictionary.model import Channel, Limits
from flight.dictionary.types import ValueType
from flight.link.errors import ConfigError
from flight.supervisor.health.limits import Level, LimitChecker, LimitResponse, level_of
from flight.supervisor.health.modes import Mode

from .._harness import DICTIONARY, Harness, events

TEMPERATURE = Limits(warning_low=-10.0, warning_high=50.0, critical_low=-20.0, critical_high=80.0)
# The dictionary, with one channel that has every kind of numeric limit.
WITH_TEMPERATURE = dataclasses.replace(
    DICTIONARY, telemetry=(*DICTIONARY.telemetry, Channel(999, "test.temperature", ValueType("f32"),
                                                           limits=TEMPERATURE)))


@pytest.mark.parametrize(("value", "expected"), [
    (20.0, (Level.NOMINAL, None)), (50.0, (Level.NOMINAL, None)), (50.5, (Level.WARNING, 50.0)),
    (-15.0, (Level.WARNING, -10.0)), (81, (Level.CRITICAL, 80.0)), (-21.0, (Level.CRITICAL, -20.0)),
    (math.inf, (Level.CRITICAL, 80.0)), (math.nan, (Level.NOMINAL, None)),
])
def test_level_of_a_number(value: float, expected: tuple[Level, Any]) -> None:
    assert level_of(TEMPERATURE, value) == expected


def test_level_of_a_state() -> None:
    limits = Limits(critical_values=("LOCKOUT",))
    assert level_of(limits, "LOCKOUT") == (Level.CRITICAL, "LOCKOUT")
    assert level_of(limits, "OPEN") == (Level.NOMINAL, None)


def run(harness: Harness, checker: LimitChecker, value: float) -> tuple[list[LimitResponse], list[str]]:
    """One check of the test channel: the responses due, and the events it raised."""
    harness.downlink()
    with harness.supervisor.unit():
        due = checker.check({"test.temperature": value})
    return due, [name for name, _ in events(harness.downlink())]


def test_each_change_of_level_raises_one_event(harness: Harness) -> None:
    checker = LimitChecker(WITH_TEMPERATURE, harness.supervisor.events)
    steps = [(20.0, []), (60.0, ["LIMIT_WARNING"]), (61.0, []), (90.0, ["LIMIT_CRITICAL"]), (95.0, []),
             (70.0, ["LIMIT_WARNING"]), (20.0, ["LIMIT_NOMINAL"]), (19.0, []), (-30.0, ["LIMIT_CRITICAL"])]
    for value, expected in steps:
        assert run(harness, checker, value)[1] == expected, value
    assert checker.counters["limit_violations"] == 4


def test_an_event_carries_the_channel_value_and_limit(harness: Harness) -> None:
    checker = LimitChecker(WITH_TEMPERATURE, harness.supervisor.events)
    with harness.supervisor.unit():
        checker.check({"test.temperature": 60.0})
        checker.check({"test.temperature": 90.0})
        checker.check({"test.temperature": 0.0})
    assert events(harness.downlink())[-3:] == [
        ("LIMIT_WARNING", {"channel": "test.temperature", "value": 60.0, "limit": 50.0}),
        ("LIMIT_CRITICAL", {"channel": "test.temperature", "value": "90.0", "limit": "80.0"}),
        ("LIMIT_NOMINAL", {"channel": "test.temperature", "value": "0.0"})]


def test_a_response_fires_once_on_entry_into_its_level(harness: Harness) -> None:
    critical = LimitResponse("test.temperature", "critical", "SAFE_MODE")
    warning = LimitResponse("test.temperature", "warning", "HK_REPORT_NOW", {"report": 1})
    checker = LimitChecker(WITH_TEMPERATURE, harness.supervisor.events, (critical, warning))
    assert run(harness, checker, 60.0) == ([warning], ["LIMIT_WARNING", "LIMIT_RESPONSE"])
    assert run(harness, checker, 62.0)[0] == []
    assert run(harness, checker, 90.0) == ([critical], ["LIMIT_CRITICAL", "LIMIT_RESPONSE"])  # warning: not again
    assert run(harness, checker, 99.0)[0] == []
    assert run(harness, checker, 60.0)[0] == []
    assert run(harness, checker, 90.0)[0] == [critical]  # entered again
    assert run(harness, checker, 0.0)[0] == []
    assert run(harness, checker, 90.0)[0] == [critical, warning]  # straight to critical: both levels entered


@pytest.mark.parametrize(("response", "message"), [
    (LimitResponse("no.such.channel"), "no.such.channel"),
    (LimitResponse("cmd.rejected", "warning", "NO_SUCH_COMMAND"), "NO_SUCH_COMMAND"),
    (LimitResponse("cmd.rejected", "warning", "HK_REPORT_NOW", {"report": "CORE"}), "HK_REPORT_NOW.report"),
    (LimitResponse("cmd.rejected", "warning", "HK_REPORT_NOW"), "HK_REPORT_NOW.report"),
    (LimitResponse("cmd.rejected", "critical"), "no critical limit"),  # it has a warning limit only
    (LimitResponse("cmd.accepted", "warning"), "no warning limit"),  # no limits at all
])
def test_a_response_that_could_never_run_is_a_config_error(response: LimitResponse, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LimitChecker(DICTIONARY, None, (response,))  # type: ignore[arg-type]


def test_a_response_level_must_be_warning_or_critical() -> None:
    with pytest.raises(ConfigError, match="level"):
        LimitResponse("cmd.rejected", "nominal")


def reject(harness: Harness, times: int) -> None:
    for _ in range(times):
        harness.send("PARAM_GET", {"name": "no.such"})


def test_the_supervisor_enters_safe_mode_once_on_a_limit_response(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness(responses=(LimitResponse("cmd.rejected", "warning", "SAFE_MODE"),))
    reject(harness, 11)  # cmd.rejected's warning limit is 10
    assert harness.supervisor.modes.mode is Mode.NOMINAL  # limits are checked on their period, not at once
    harness.advance(2.0)
    assert harness.supervisor.modes.mode is Mode.SAFE
    for _ in range(3):
        harness.advance(2.0)
    tms = harness.downlink()
    assert len(events(tms, "LIMIT_RESPONSE")) == 1 and len(events(tms, "SAFE_MODE_ENTERED")) == 1
    assert events(tms, "SAFE_MODE_ENTERED")[0][1]["reason"] == "limit response: cmd.rejected"


def test_a_command_response_runs_through_the_journal_once(make_harness: Callable[..., Harness]) -> None:
    disable = LimitResponse("cmd.rejected", "warning", "EVENT_DISABLE", {"event": 1})  # COMMAND_REJECTED
    harness = make_harness(responses=(disable,))
    reject(harness, 11)
    [outcome] = [o for o in harness.advance(0.0) if o.source == "health"]
    assert (outcome.name, outcome.source, outcome.failure) == ("EVENT_DISABLE", "health", None)
    assert harness.supervisor.events.disabled == {1}
    assert [o for o in harness.advance(2.0) if o.source == "health"] == []


def test_limits_are_checked_with_housekeeping_disabled(harness: Harness) -> None:
    for sid in (1, 2):
        harness.ok("HK_DISABLE", {"report": sid})
    for _ in range(11):  # cmd.rejected has a warning limit of 10
        harness.uplink(harness.command("PARAM_SET", {"name": "no.such.parameter", "value": 1}))
    harness.downlink()
    harness.mono += 2.0  # past the limit-check period (real time)
    harness.advance(0.1)
    raised = events(harness.downlink())
    assert ("LIMIT_WARNING", {"channel": "cmd.rejected", "value": 11.0, "limit": 10.0}) in raised


def test_the_supervisors_own_commands_keep_distinct_counts_across_restarts(make_harness: Callable[..., Harness]
                                                                           ) -> None:
    noop = LimitResponse("cmd.rejected", "warning", "NOOP")
    harness = make_harness(responses=(noop,))
    reject(harness, 11)
    [first] = [o for o in harness.advance(0.0) if o.source == "health"]
    harness.restart()  # the restarted checker finds the channel beyond its limit again, and responds again
    [second] = [o for o in harness.advance(0.0) if o.source == "health"]
    assert second.sequence_count == first.sequence_count + 1


def test_a_warning_response_on_a_channel_with_only_critical_limits_is_accepted() -> None:
    LimitChecker(DICTIONARY, None, (LimitResponse("health.mode", "warning"),))  # type: ignore[arg-type]

"""Modes: safe mode runs its safing actions, cuts power, takes only essential commands, and persists."""

from __future__ import annotations

import pytest

from flight.power.mode import PowerMode
from flight.supervisor.health.modes import Mode, Modes
from flight.supervisor.verification import FailureCode

from .._harness import DICTIONARY, FAILED, Harness, events, verdicts

ESSENTIAL = DICTIONARY.command("PING")
ORDINARY = DICTIONARY.command("TEST_EVENTS")


def test_modes_start_nominal_and_safe_mode_allows_only_essential_commands(harness: Harness) -> None:
    modes = Modes(harness.db)
    assert modes.mode is Mode.NOMINAL and modes.hold is None
    assert modes.allows(ESSENTIAL) and modes.allows(ORDINARY)
    with harness.db.transaction():
        modes.enter_safe("test")
    assert not modes.allows(ORDINARY) and modes.allows(ESSENTIAL)


def test_safing_actions_run_at_every_entry_but_entry_is_counted_once(harness: Harness) -> None:
    modes = Modes(harness.db)
    reasons: list[str] = []
    modes.on_safe(reasons.append)
    with harness.db.transaction():
        assert modes.enter_safe("first") is True
        assert modes.enter_safe("again") is False
    assert reasons == ["first", "again"]
    assert modes.counters["safe_entries"] == 1


def test_mode_and_hold_survive_a_restart(harness: Harness) -> None:
    modes = Modes(harness.db)
    with harness.db.transaction():
        modes.enter_safe("loop", hold="restart loop")
    again = Modes(harness.db)
    assert (again.mode, again.hold) == (Mode.SAFE, "restart loop")
    with harness.db.transaction():
        again.release_hold()
        again.exit_safe()
    assert (Modes(harness.db).mode, Modes(harness.db).hold) == (Mode.NOMINAL, None)


def test_safe_mode_by_command_cuts_power_and_exit_restores_nominal(harness: Harness) -> None:
    assert harness.supervisor.power.mode is PowerMode.BALANCED
    harness.ok("SAFE_MODE_ENTER", {"reason": "operator"})
    harness.ok("SAFE_MODE_ENTER", {"reason": "twice"})
    s = harness.supervisor
    assert (s.modes.mode, s.power.mode) == (Mode.SAFE, PowerMode.OFF)
    assert events(harness.downlink(), "SAFE_MODE_ENTERED") == [("SAFE_MODE_ENTERED", {"reason": "operator"})]
    assert harness.counter("health.safe_entries") == 1
    harness.ok("SAFE_MODE_EXIT")
    assert s.modes.mode is Mode.NOMINAL
    assert events(harness.downlink(), "SAFE_MODE_EXITED") == [("SAFE_MODE_EXITED", {"reason": "by command"})]
    harness.ok("SAFE_MODE_EXIT")  # already nominal: nothing to do, nothing to say
    assert events(harness.downlink(), "SAFE_MODE_EXITED") == []


def test_an_empty_reason_is_reported_as_by_command(harness: Harness) -> None:
    harness.ok("SAFE_MODE_ENTER", {"reason": ""})
    assert events(harness.downlink(), "SAFE_MODE_ENTERED") == [("SAFE_MODE_ENTERED", {"reason": "by command"})]


def test_a_failing_safing_action_leaves_mode_and_power_as_they_were(harness: Harness) -> None:
    def refuse(_reason: str) -> None:
        raise RuntimeError("a job would not stop")

    harness.supervisor.modes.on_safe(refuse)  # runs after the power action
    tc = harness.command("SAFE_MODE_ENTER", {"reason": "x"})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.EXECUTION_ERROR
    assert verdicts(harness.downlink(), tc)[-1].subtype == FAILED
    s = harness.supervisor
    assert (s.modes.mode, s.power.mode) == (Mode.NOMINAL, PowerMode.BALANCED)  # in memory as on disk
    assert harness.send("TEST_EVENTS", {"count": 1}).failure is None
    harness.restart()
    assert (harness.supervisor.modes.mode, harness.supervisor.power.mode) == (Mode.NOMINAL, PowerMode.BALANCED)


@pytest.mark.parametrize("name", [c.name for c in DICTIONARY.commands if not c.essential])
def test_every_non_essential_command_is_refused_in_safe_mode(harness: Harness, name: str) -> None:
    harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    arguments = {"TEST_EVENTS": {"count": 1},
                 "SCHEDULE_INSERT": {"time": 2e9, "command": harness.command("NOOP")},
                 "JOB_START": {"kind": "TRAIN", "config": ""}, "JOB_PAUSE": {"job": 1},
                 "JOB_RESUME": {"job": 1}}[name]
    assert harness.send(name, arguments).failure is FailureCode.NOT_ALLOWED

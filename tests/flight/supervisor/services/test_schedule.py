"""PUS 11 time-based schedule: insert checked at uplink, list, delete, shift, release in time order, once."""

from __future__ import annotations

import pytest

from flight.link.pus import build_tc
from flight.supervisor.verification import FailureCode

from .._harness import ACCEPT_FAILED, CORE, Harness, Verdict, events, records, verdicts


def insert(harness: Harness, delay: float, name: str, arguments: dict[str, object] | None = None) -> bytes:
    """Schedule a command ``delay`` seconds from now; its TC packet."""
    packet = harness.command(name, arguments)
    harness.ok("SCHEDULE_INSERT", {"time": harness.clock.now() + delay, "command": packet})
    return packet


def test_an_inserted_command_is_listed_in_tm_11_10(harness: Harness) -> None:
    packet = insert(harness, 60.0, "NOOP")
    harness.ok("SCHEDULE_LIST")
    [listing] = records(harness.downlink(), 11, 10)
    assert listing == [[1, harness.clock.now() + 60.0, "NOOP", packet]]
    assert harness.counter("schedule.inserted") == 1
    assert harness.supervisor.sample()["schedule.pending"] == 1


@pytest.mark.parametrize("embedded", [
    b"\x00\x01\x02",  # not a packet
    build_tc(CORE, 8, 1, b"\x03\xe7"),  # a packet, but no such command
    build_tc(CORE, 20, 3, b"\x92\xa1x"),  # a command with bad arguments
], ids=["garbage", "unknown command", "bad arguments"])
def test_a_bad_embedded_telecommand_is_refused_at_insert(harness: Harness, embedded: bytes) -> None:
    tc = harness.command("SCHEDULE_INSERT", {"time": 2e9, "command": embedded})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    assert verdicts(harness.downlink(), tc) == [
        Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, "SCHEDULE_INSERT.command")]
    assert harness.supervisor.schedule.pending() == 0


def test_due_commands_are_released_in_time_order_and_run_from_the_schedule(harness: Harness) -> None:
    insert(harness, 30.0, "PING")
    insert(harness, 10.0, "NOOP")
    insert(harness, 20.0, "PARAM_GET", {"name": "events.flood_limit"})
    assert harness.advance(9.9) == []
    outcomes = harness.advance(30.1)
    assert [(o.name, o.source, o.failure) for o in outcomes] == [
        ("NOOP", "schedule", None), ("PARAM_GET", "schedule", None), ("PING", "schedule", None)]
    released = events(harness.downlink(), "SCHEDULE_RELEASED")
    assert [a["command"] for _, a in released] == ["NOOP", "PARAM_GET", "PING"]
    assert harness.counter("schedule.executed") == 3 and harness.supervisor.schedule.pending() == 0
    assert harness.advance(100.0) == []  # once


def test_the_schedule_runs_out_of_contact_after_a_restart(harness: Harness) -> None:
    insert(harness, 600.0, "PING")
    harness.restart()  # nothing is ever heard on the uplink again
    for _ in range(10):
        harness.advance(59.0)
    [outcome] = harness.advance(10.0)
    assert (outcome.name, outcome.source) == ("PING", "schedule")


def test_a_released_command_runs_once_even_if_killed_before_running(harness: Harness,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    insert(harness, 5.0, "PING")
    monkeypatch.setattr(harness.supervisor, "run_journal", lambda: [])  # killed after the release
    harness.advance(5.0)
    restarted = harness.restart()
    [outcome] = restarted.run_journal()
    assert (outcome.name, outcome.source) == ("PING", "schedule")
    assert harness.advance(10.0) == [] and harness.restart().run_journal() == []
    assert sum(1 for tm in harness.stored() if (tm.service, tm.subtype) == (17, 2)) == 1


def test_delete_removes_an_activity_and_an_unknown_one_is_refused(harness: Harness) -> None:
    insert(harness, 5.0, "PING")
    insert(harness, 6.0, "NOOP")
    harness.ok("SCHEDULE_DELETE", {"activity": 1})
    assert [name for _, _, name, _ in harness.supervisor.schedule.activities()] == ["NOOP"]
    assert harness.counter("schedule.deleted") == 1
    tc = harness.command("SCHEDULE_DELETE", {"activity": 1})
    harness.uplink(tc)
    assert verdicts(harness.downlink(), tc) == [
        Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, "SCHEDULE_DELETE.activity")]
    assert [o.name for o in harness.advance(10.0)] == ["NOOP"]


def test_shift_moves_every_activity_but_never_before_zero(harness: Harness) -> None:
    insert(harness, 10.0, "PING")
    insert(harness, 20.0, "NOOP")
    harness.ok("SCHEDULE_SHIFT", {"offset": 100.0})
    assert harness.advance(50.0) == []
    assert [o.name for o in harness.advance(70.0)] == ["PING", "NOOP"]
    insert(harness, 10.0, "PING")
    for _ in range(2):  # mission time is 1.8e9 s: the second shift would make it negative
        harness.ok("SCHEDULE_SHIFT", {"offset": -1e9})
    assert harness.supervisor.schedule.next_time() == 0.0
    assert [o.name for o in harness.advance(0.0)] == ["PING"]


def test_a_released_non_essential_command_is_refused_in_safe_mode(harness: Harness) -> None:
    insert(harness, 5.0, "TEST_EVENTS", {"count": 1})
    harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    [outcome] = harness.advance(5.0)
    assert (outcome.name, outcome.source, outcome.failure) == ("TEST_EVENTS", "schedule", FailureCode.NOT_ALLOWED)


def test_an_embedded_command_for_another_apid_is_refused_at_insertion(harness: Harness) -> None:
    ping_elsewhere = build_tc(CORE + 1, 17, 1, seq_count=4)
    outcome = harness.send("SCHEDULE_INSERT", {"time": harness.clock.now() + 10, "command": ping_elsewhere})
    assert outcome.failure is FailureCode.BAD_ARGUMENT and "APID" in outcome.reason
    assert harness.supervisor.schedule.pending() == 0

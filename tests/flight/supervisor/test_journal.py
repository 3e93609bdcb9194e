"""The command journal, and the exactly-once execution it gives across a kill at any point of a unit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from flight.supervisor.journal import Entry, Journal

from ._harness import CORE, Crash, Harness, records


def test_entries_come_back_in_order_until_done(harness: Harness) -> None:
    db = harness.db
    journal = Journal(db)
    with db.transaction():
        first = journal.add(b"one", "ground", 1.0)
        second = journal.add(b"two", "schedule", 2.0)
    assert journal.pending() == [Entry(first, b"one", "ground"), Entry(second, b"two", "schedule")]
    assert journal.pending(limit=1) == [Entry(first, b"one", "ground")]
    with db.transaction():
        journal.done(journal.pending()[0])
    assert Journal(db).pending() == [Entry(second, b"two", "schedule")]  # it is the database, not memory
    assert journal.counters.snapshot() == {"journal.added": 2, "journal.done": 1}


def kill_before_running(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor dies right after journaling what it received, before running any of it."""
    monkeypatch.setattr(harness.supervisor, "run_journal", lambda: [])


def pings_stored(harness: Harness) -> int:
    return sum(1 for tm in harness.stored() if (tm.service, tm.subtype) == (17, 2))


def test_a_command_journaled_before_a_kill_runs_once_after_the_restart(harness: Harness,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    kill_before_running(harness, monkeypatch)
    assert harness.uplink(harness.command("PING")) == []
    assert pings_stored(harness) == 0
    assert len(harness.supervisor.journal.pending()) == 1

    restarted = harness.restart()
    [outcome] = restarted.run_journal()
    assert outcome.name == "PING" and outcome.failure is None and outcome.source == "ground"
    assert pings_stored(harness) == 1
    assert harness.counter("cmd.resumed") == 1
    assert restarted.run_journal() == []

    third = harness.restart()
    assert third.run_journal() == []
    assert pings_stored(harness) == 1
    assert harness.counter("test.pings") == 1 and harness.counter("cmd.resumed") == 1


def crash_in_done(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    def done(_entry: Entry) -> None:
        raise Crash("killed after the command ran, before the unit committed")

    monkeypatch.setattr(harness.supervisor.journal, "done", done)


def crash_in_handler(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    original = harness.supervisor.events.raise_event

    def raise_event(name: str, /, **arguments: object) -> None:
        original(name, **arguments)
        if name == "PARAMETER_CHANGED":
            raise Crash("killed in the middle of the handler")

    monkeypatch.setattr(harness.supervisor.events, "raise_event", raise_event)


@pytest.mark.parametrize("crash", [crash_in_done, crash_in_handler], ids=["in done", "in the handler"])
def test_a_kill_inside_a_unit_commits_nothing_of_it_and_the_restart_runs_it_once(
        harness: Harness, monkeypatch: pytest.MonkeyPatch, crash: Callable[[Harness, pytest.MonkeyPatch], None]) -> None:
    harness.ok("PING")
    harness.downlink()
    stored, sequences = len(harness.stored()), harness.sequences()
    counts = harness.supervisor.telemetry.sequence.state()
    crash(harness, monkeypatch)

    with pytest.raises(Crash):
        harness.uplink(harness.command("PARAM_SET", {"name": "events.flood_limit", "value": 7}))
    assert len(harness.stored()) == stored  # no report, no event
    assert harness.downlink() == []
    assert harness.sequences() == sequences
    assert harness.supervisor.telemetry.sequence.state() == counts
    assert harness.db.conn.execute("SELECT COUNT(*) FROM parameters").fetchone()[0] == 0
    assert len(harness.supervisor.journal.pending()) == 1

    restarted = harness.restart()
    [outcome] = restarted.run_journal()
    assert outcome.name == "PARAM_SET" and outcome.failure is None
    assert restarted.parameters.get("events.flood_limit") == 7
    assert harness.restart().run_journal() == []
    changed = [tm for tm in harness.stored() if tm.service == 5 and tm.data[:2] == (17).to_bytes(2, "big")]
    assert len(changed) == 1  # PARAMETER_CHANGED, once
    core = [tm.seq for tm in harness.stored() if tm.apid == CORE]
    assert core == list(range(len(core)))  # the killed unit left no hole in the counts


def test_the_journal_keeps_the_source_of_what_it_runs(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.ok("SCHEDULE_INSERT", {"time": harness.clock.now() + 5, "command": harness.command("SCHEDULE_LIST")})
    kill_before_running(harness, monkeypatch)
    harness.advance(5)
    assert [e.source for e in harness.supervisor.journal.pending()] == ["schedule"]
    [outcome] = harness.restart().run_journal()
    assert (outcome.name, outcome.source) == ("SCHEDULE_LIST", "schedule")
    assert records(harness.downlink(), 11, 10) == [[]]

"""PUS 5 events: reports by severity, flood suppression with one summary, enable and disable by ID."""

from __future__ import annotations

import pytest

from flight.supervisor.verification import FailureCode

from .._harness import ACCEPT_FAILED, DICTIONARY, Harness, Verdict, events, verdicts

TEST_EVENT = DICTIONARY.event("TEST_EVENT")
WINDOW = 10.0  # events.flood_window's default


def flood(harness: Harness, count: int) -> None:
    harness.ok("TEST_EVENTS", {"count": count})


def test_an_event_goes_down_with_its_severity_and_arguments(harness: Harness) -> None:
    harness.downlink()
    with harness.supervisor.unit():
        harness.supervisor.events.raise_event("SAFE_MODE_ENTERED", reason="why not")
    [tm] = harness.downlink()
    assert (tm.service, tm.subtype) == (5, 4)  # high severity
    assert events([tm]) == [("SAFE_MODE_ENTERED", {"reason": "why not"})]


def test_an_event_the_dictionary_does_not_know_is_a_bug(harness: Harness) -> None:
    with pytest.raises(KeyError, match="NO_SUCH_EVENT"), harness.supervisor.unit():
        harness.supervisor.events.raise_event("NO_SUCH_EVENT")


def test_a_flood_sends_the_limit_counts_the_rest_and_summarises_once_after_the_window(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "events.flood_limit", "value": 3})
    flood(harness, 10)
    tms = harness.downlink()
    assert events(tms, "TEST_EVENT") == [("TEST_EVENT", {"n": n}) for n in range(3)]
    assert harness.counter("events.suppressed") == 7
    assert events(tms, "EVENTS_SUPPRESSED") == []

    harness.advance(WINDOW - 0.5)  # the window is still open
    assert events(harness.downlink(), "EVENTS_SUPPRESSED") == []
    harness.advance(0.5)
    assert events(harness.downlink(), "EVENTS_SUPPRESSED") == [
        ("EVENTS_SUPPRESSED", {"event": "TEST_EVENT", "count": 7, "window": WINDOW})]
    harness.advance(WINDOW)
    assert events(harness.downlink(), "EVENTS_SUPPRESSED") == []  # once

    flood(harness, 4)  # a new window: the limit again
    assert len(events(harness.downlink(), "TEST_EVENT")) == 3
    assert harness.counter("events.suppressed") == 8


def test_the_summary_also_comes_when_the_event_is_raised_again_after_its_window(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "events.flood_limit", "value": 1})
    flood(harness, 3)
    harness.downlink()
    harness.clock.advance(WINDOW)  # no tick: the next raise closes the window
    flood(harness, 1)
    assert [name for name, _ in events(harness.downlink())] == ["EVENTS_SUPPRESSED", "TEST_EVENT"]


def test_floods_of_different_events_are_held_apart(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "events.flood_limit", "value": 2})
    flood(harness, 5)
    for _ in range(3):
        harness.send("PARAM_GET", {"name": "no.such"})  # COMMAND_REJECTED, its own window
    tms = harness.downlink()
    assert len(events(tms, "TEST_EVENT")) == 2 and len(events(tms, "COMMAND_REJECTED")) == 2
    harness.advance(WINDOW)
    summaries = events(harness.downlink(), "EVENTS_SUPPRESSED")
    assert sorted((a["event"], a["count"]) for _, a in summaries) == [("COMMAND_REJECTED", 1), ("TEST_EVENT", 3)]


def test_a_disabled_event_is_counted_not_sent_until_enabled_again(harness: Harness) -> None:
    harness.ok("EVENT_DISABLE", {"event": TEST_EVENT.id})
    flood(harness, 4)
    assert events(harness.downlink(), "TEST_EVENT") == []
    assert harness.counter("events.disabled") == 4 and harness.counter("events.suppressed") == 0
    harness.ok("EVENT_ENABLE", {"event": TEST_EVENT.id})
    flood(harness, 1)
    assert events(harness.downlink(), "TEST_EVENT") == [("TEST_EVENT", {"n": 0})]


def test_disabled_events_survive_a_restart(harness: Harness) -> None:
    harness.ok("EVENT_DISABLE", {"event": TEST_EVENT.id})
    harness.restart()
    flood(harness, 2)
    assert events(harness.downlink(), "TEST_EVENT") == []
    assert harness.counter("events.disabled") == 2


@pytest.mark.parametrize("command", ["EVENT_DISABLE", "EVENT_ENABLE"])
def test_an_unknown_event_id_is_a_bad_argument(harness: Harness, command: str) -> None:
    tc = harness.command(command, {"event": 999})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, f"{command}.event")]
    assert harness.supervisor.events.disabled == set()

"""PUS 20 parameters: get, set checked against the dictionary, announced, and kept across restarts."""

from __future__ import annotations

from typing import Any

import pytest

from flight.link.errors import StorageError
from flight.supervisor.services.parameters import Parameters
from flight.supervisor.state_db import StateDb
from flight.supervisor.verification import FailureCode

from .._harness import ACCEPT_FAILED, DICTIONARY, Harness, Verdict, events, records, verdicts


def test_every_parameter_starts_at_its_dictionary_default(harness: Harness) -> None:
    parameters = harness.supervisor.parameters
    assert {p.name: parameters.get(p.name) for p in DICTIONARY.parameters} == \
        {p.name: p.default for p in DICTIONARY.parameters}


def test_get_reports_the_value_in_tm_20_2(harness: Harness) -> None:
    harness.ok("PARAM_GET", {"name": "health.heartbeat_timeout"})
    assert records(harness.downlink(), 20, 2) == [["health.heartbeat_timeout", 5.0]]


def test_set_checks_stores_announces_and_applies_at_once(harness: Harness) -> None:
    harness.downlink()
    harness.ok("PARAM_SET", {"name": "health.heartbeat_timeout", "value": 2})  # an integer for an f32
    assert harness.supervisor.parameters.get("health.heartbeat_timeout") == 2.0
    assert events(harness.downlink(), "PARAMETER_CHANGED") == [
        ("PARAMETER_CHANGED", {"name": "health.heartbeat_timeout", "value": "2.0"})]
    assert harness.counter("params.set") == 1
    harness.ok("PARAM_GET", {"name": "health.heartbeat_timeout"})
    assert records(harness.downlink(), 20, 2) == [["health.heartbeat_timeout", 2.0]]
    harness.restart()
    assert harness.supervisor.parameters.get("health.heartbeat_timeout") == 2.0


BAD_VALUES = [
    ("events.flood_limit", "20", "PARAM_SET.value"),
    ("events.flood_limit", 20.0, "PARAM_SET.value"),
    ("events.flood_limit", True, "PARAM_SET.value"),
    ("events.flood_limit", 0, "PARAM_SET.value"),
    ("events.flood_limit", 10_001, "PARAM_SET.value"),
    ("store.max_packets", 999, "PARAM_SET.value"),
    ("health.restart_window", 0.5, "PARAM_SET.value"),
    ("health.heartbeat_timeout", False, "PARAM_SET.value"),
    ("link.tm_frame_interval", 10.5, "PARAM_SET.value"),
    ("no.such.parameter", 1, "PARAM_SET.name"),
]


@pytest.mark.parametrize(("name", "value", "field"), BAD_VALUES)
def test_set_refuses_a_wrong_type_or_range_naming_the_field(harness: Harness, name: str, value: Any,
                                                            field: str) -> None:
    tc = harness.command("PARAM_SET", {"name": name, "value": value})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    tms = harness.downlink()
    assert verdicts(tms, tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, field)]
    assert events(tms, "PARAMETER_CHANGED") == []
    assert harness.db.conn.execute("SELECT COUNT(*) FROM parameters").fetchone()[0] == 0


def test_get_of_an_unknown_parameter_is_a_bad_argument(harness: Harness) -> None:
    tc = harness.command("PARAM_GET", {"name": "nope"})
    harness.uplink(tc)
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, "PARAM_GET.name")]


def test_a_stored_value_that_no_longer_checks_is_a_storage_error(harness: Harness) -> None:
    db = harness.db
    with db.transaction():
        db.conn.execute("INSERT INTO parameters (name, value) VALUES ('events.flood_limit', '\"lots\"')")
    with pytest.raises(StorageError, match="events.flood_limit"):
        Parameters(db, DICTIONARY)


def test_a_stored_parameter_the_dictionary_dropped_is_ignored_and_kept(harness: Harness) -> None:
    db: StateDb = harness.db
    with db.transaction():
        db.conn.execute("INSERT INTO parameters (name, value) VALUES ('retired.parameter', '1')")
    assert Parameters(db, DICTIONARY).get("events.flood_limit") == 20
    assert db.conn.execute("SELECT COUNT(*) FROM parameters").fetchone()[0] == 1

"""FlightRecord: the verdict read from a real supervisor's state database, checked against a ground archive."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ground.archive import Archive
from hil.verdict import FlightRecord


def _load_harness() -> ModuleType:
    # The supervisor tests' harness (one supervisor in this process, no sockets), loaded by path:
    # tests/ is not a package, and a second copy of it here would drift.
    path = Path(__file__).resolve().parents[1] / "flight" / "supervisor" / "_harness.py"
    spec = importlib.util.spec_from_file_location("zenith_tests_supervisor_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


harness_module = _load_harness()
Harness = harness_module.Harness
DICTIONARY = harness_module.DICTIONARY
TIME = DICTIONARY.mission.tm_time


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Any]:
    h = Harness(tmp_path / "flight-state.db")
    yield h
    h.close()


def _record(tmp_path: Path) -> FlightRecord:
    return FlightRecord.read(tmp_path / "flight-state.db", TIME)


def test_completions_are_counted_per_request_id_in_order(harness: Any, tmp_path: Path) -> None:
    ping, noop = harness.command("PING"), harness.command("NOOP")
    rejected = harness.command("SCHEDULE_DELETE", {"activity": 99})  # no such activity: a failure report
    harness.uplink(ping)
    harness.advance(1.0)
    harness.uplink(noop)
    harness.advance(1.0)
    harness.uplink(ping)  # the same packet again, in a new frame: it runs again
    harness.advance(1.0)
    harness.uplink(rejected)
    failures = [tm for tm in harness.stored() if tm.service == 1 and tm.data[:4] == rejected[:4]]
    assert [tm.subtype for tm in failures] == [2]  # reported, but not completed
    record = _record(tmp_path)
    assert record.completions[ping[:4]] == 2
    assert record.completions[noop[:4]] == 1
    assert record.completions[rejected[:4]] == 0
    assert record.completion_order == (ping[:4], noop[:4], ping[:4])
    # Every packet in the store, each with its APID, count and time.
    stored = harness.stored()
    assert record.packets == {(p.apid, p.seq, round(p.time, 4)) for p in stored}
    assert len(record.packets) == len(stored)
    # The counters, as the supervisor last committed them.
    assert record.counters["cmd"]["completed"] == 3 and record.counters["cmd"]["rejected"] == 1


def test_missing_from_finds_holes_but_ignores_what_is_newer_than_the_archive(harness: Any,
                                                                             tmp_path: Path) -> None:
    for _ in range(4):
        harness.send("PING")
        harness.advance(1.0)
    stored = sorted(harness.stored(), key=lambda p: (p.time, p.seq))
    times = sorted({p.time for p in stored})
    assert len(times) >= 4
    newest_archived = times[-2]
    hole = next(p for p in stored if p.time == times[1])
    sent = [p for p in stored if p.time <= newest_archived and p is not hole]
    with Archive(tmp_path / "ground.db", DICTIONARY) as archive:
        result = archive.ingest([(p.raw, 0) for p in sent], received=times[-1] + 10)
        assert result.new == len(sent)
        record = _record(tmp_path)
        assert record.missing_from(archive) == {(hole.apid, hole.seq, round(hole.time, 4))}
        # With the hole filled, nothing is missing: the newest packets were still on their way.
        archive.ingest([(hole.raw, 1)], received=times[-1] + 11)
        assert record.missing_from(archive) == set()
        assert any(p.time > newest_archived for p in stored)


def test_read_is_read_only_and_sees_a_running_supervisors_database(harness: Any, tmp_path: Path) -> None:
    harness.send("PING")
    before = (tmp_path / "flight-state.db").read_bytes()
    record = _record(tmp_path)
    assert sum(record.completions.values()) == 1
    assert (tmp_path / "flight-state.db").read_bytes() == before
    harness.send("NOOP")  # the supervisor carries on after being read
    assert sum(_record(tmp_path).completions.values()) == 2

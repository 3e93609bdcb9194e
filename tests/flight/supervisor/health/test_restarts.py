"""The restart record: a restart loop holds safe mode until the operator clears it."""

from __future__ import annotations

from pathlib import Path

from flight.power.mode import PowerMode
from flight.supervisor.health.modes import Mode
from flight.supervisor.health.restarts import KEPT_BOOTS, RestartRecord
from flight.supervisor.state_db import StateDb
from flight.supervisor.verification import FailureCode

from .._harness import ACCEPTED, FAILED, STARTED, Harness, Verdict, events, verdicts

WINDOW, MAX_RESTARTS = 600.0, 5  # the parameters' defaults


def test_boots_are_counted_and_recent_ones_are_those_within_the_window(tmp_path: Path) -> None:
    db = StateDb(tmp_path / "state.db")
    try:
        record = RestartRecord(db, lambda: 100.0, lambda: 2)
        with db.transaction():
            assert record.boot(1000.0) == 0  # the first start is no restart
            assert record.boot(1050.0) == 1  # the first life did not stop cleanly: a restart
        assert record.boots == 2 and RestartRecord(db, lambda: 100.0, lambda: 2).boots == 2
        with db.transaction():
            assert record.boot(1120.0) == 2  # both restarts are within the window
        assert not record.looping(2) and record.looping(3)
        with db.transaction():
            record.clear()
        assert record.recent(1120.0) == 0 and record.boots == 3  # the count of boots goes on
        with db.transaction():
            for n in range(KEPT_BOOTS + 10):
                record.boot(float(n))
        assert db.conn.execute("SELECT COUNT(*) FROM boots").fetchone()[0] == KEPT_BOOTS
    finally:
        db.close()


def restart(harness: Harness, times: int) -> None:
    for _ in range(times):
        harness.restart()


def test_restarts_spread_beyond_the_window_are_not_a_loop(harness: Harness) -> None:
    for _ in range(MAX_RESTARTS + 3):
        harness.clock.advance(WINDOW / 2)
        harness.restart()
    assert harness.supervisor.modes.mode is Mode.NOMINAL and harness.supervisor.restarts.boots == MAX_RESTARTS + 4


def test_a_restart_loop_holds_safe_mode_until_the_record_is_cleared(harness: Harness) -> None:
    restart(harness, MAX_RESTARTS)
    assert harness.supervisor.modes.mode is Mode.NOMINAL  # five restarts: allowed
    restart(harness, 1)
    s = harness.supervisor
    assert (s.modes.mode, s.modes.hold, s.power.mode) == (Mode.SAFE, "restart loop", PowerMode.OFF)
    tms = harness.downlink()
    assert events(tms, "RESTART_LOOP") == [("RESTART_LOOP", {"recent": 6, "window": WINDOW})]
    assert events(tms, "SUPERVISOR_BOOT") == [("SUPERVISOR_BOOT", {"boots": 7, "recent": 6, "window": WINDOW})]

    tc = harness.command("SAFE_MODE_EXIT")
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.EXECUTION_ERROR and "RESTARTS_CLEAR" in outcome.reason
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPTED), Verdict(STARTED),
                                                Verdict(FAILED, FailureCode.EXECUTION_ERROR, "hold")]
    assert s.modes.mode is Mode.SAFE

    restart(harness, 1)  # the hold survives a restart, and the loop goes on
    assert harness.supervisor.modes.hold == "restart loop"
    assert harness.send("SAFE_MODE_EXIT").failure is FailureCode.EXECUTION_ERROR

    harness.ok("RESTARTS_CLEAR")
    assert harness.supervisor.modes.mode is Mode.SAFE  # cleared, not left: that is the operator's call
    harness.ok("SAFE_MODE_EXIT")
    assert harness.supervisor.modes.mode is Mode.NOMINAL
    restart(harness, 1)
    assert harness.supervisor.modes.mode is Mode.NOMINAL  # one start since the clear: no loop
    assert harness.supervisor.sample()["health.recent_restarts"] == 1


def test_the_loop_threshold_is_a_parameter(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "health.max_restarts", "value": 1})
    restart(harness, 1)
    assert harness.supervisor.modes.mode is Mode.NOMINAL
    restart(harness, 1)
    assert harness.supervisor.modes.mode is Mode.SAFE


def test_clean_stops_and_starts_are_not_restarts(harness: Harness) -> None:
    for _ in range(MAX_RESTARTS + 3):
        harness.supervisor.stop()  # an operator stopping it, or the bench shutting down
        harness.restart()
    s = harness.supervisor
    assert s.modes.mode is Mode.NOMINAL and s.restarts.recent(harness.clock.now()) == 0
    assert s.restarts.boots == MAX_RESTARTS + 4
    harness.restart()  # but a kill is
    assert harness.supervisor.restarts.recent(harness.clock.now()) == 1

"""The supervisor as a whole: uplink to downlink, stored before sent, SDLS, state across restarts, garbage in."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.link.config import DEFAULT_ASSOCIATION
from flight.link.farm import FarmState
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls
from flight.link.tcframe import TcFrame, Unlock
from flight.power.mode import PowerMode
from flight.supervisor.health.modes import Mode
from flight.supervisor.supervisor import PLAYBACK_VC, REALTIME_VC

from ._harness import (
    ACCEPT_FAILED,
    ACCEPTED,
    COMPLETED,
    CORE,
    DICTIONARY,
    FAILED,
    SCID,
    STARTED,
    Harness,
    events,
    hk_reports,
    verdicts,
)

TEST_EVENT = DICTIONARY.event("TEST_EVENT").id


def test_a_ping_goes_up_and_its_reply_comes_down_with_the_clcw(secure: Harness) -> None:
    tc = secure.command("PING")
    [outcome] = secure.uplink(tc)
    assert (outcome.name, outcome.apid, outcome.sequence_count, outcome.failure) == ("PING", CORE, 0, None)
    tms = secure.downlink()
    assert secure.demux.last_clcw is not None and secure.demux.last_clcw.report_value == 1  # V(R)
    assert [(tm.vcid, tm.apid, tm.service, tm.subtype) for tm in tms if tm.service == 17] == [(0, CORE, 17, 2)]
    assert [v.subtype for v in verdicts(tms, tc)] == [ACCEPTED, STARTED, COMPLETED]
    assert secure.counter("sdls.verified") == 1 and secure.counter("test.pings") == 1


def test_every_packet_is_committed_to_the_store_before_it_is_queued_for_the_downlink(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    s = harness.supervisor
    reader = sqlite3.connect(harness.path)  # another connection sees only what is committed
    queued: list[tuple[int, bytes]] = []
    push = s.mux.push

    def checked_push(vcid: int, packet: bytes) -> None:
        assert reader.execute("SELECT COUNT(*) FROM store WHERE packet = ?", (packet,)).fetchone()[0] == 1
        queued.append((vcid, packet))
        push(vcid, packet)

    monkeypatch.setattr(s.mux, "push", checked_push)
    try:
        harness.ok("PING")
        harness.send("PARAM_GET", {"name": "no.such"})
        harness.ok("TEST_EVENTS", {"count": 3})
        harness.advance(2.0)
        harness.ok("STORE_PLAYBACK_TIME", {"start": 0.0, "end": 3e9})
        for _ in range(3):
            harness.advance(0.1)
    finally:
        reader.close()
    realtime = [p for vcid, p in queued if vcid == REALTIME_VC]
    played = [p for vcid, p in queued if vcid == PLAYBACK_VC]
    assert played and realtime
    stored = [tm.raw for tm in harness.stored()]
    # The boot's packets were queued before the spy: the rest of the store is exactly what went to VC 0.
    assert stored[len(stored) - len(realtime):] == realtime
    assert s.counters()["tm_mux.packets_vc0"] == len(stored) == s.store.count


def test_the_realtime_downlink_is_the_store_in_order(harness: Harness) -> None:
    harness.ok("PING")
    harness.send("SAFE_MODE_EXIT")
    harness.uplink(build_tc(CORE, 8, 1, b"\x03\xe7"))
    harness.advance(10.0)
    sent = [tm for tm in harness.downlink() if tm.vcid == REALTIME_VC]
    assert [tm.raw for tm in sent] == [tm.raw for tm in harness.stored()]


# --- SDLS: nobody commands the spacecraft without the key ------------------------------------------

def not_run(secure: Harness, cltu: bytes) -> None:
    assert secure.supervisor.on_uplink(cltu) == []
    assert secure.supervisor.journal.pending() == []


def test_a_forged_command_is_never_run_and_is_counted(secure: Harness) -> None:
    forger = Sdls([DEFAULT_ASSOCIATION], KeyRing.generate([DEFAULT_ASSOCIATION.key_id]))
    not_run(secure, secure.cltu(secure.command("PING"), protect=forger, n_s=0))
    assert secure.counter("sdls.rejected_bad_mac") == 1 and secure.counter("tc.rejected") == 1
    assert secure.counter("test.pings") == 0 and secure.counter("journal.added") == 0
    assert secure.supervisor.receiver.farms[0].v_r == 0
    secure.ok("PING")  # the real ground, with the same frame sequence number, still gets through
    assert secure.counter("test.pings") == 1


def test_an_unauthenticated_command_is_never_run_and_is_counted(secure: Harness) -> None:
    not_run(secure, secure.cltu(secure.command("PING"), protect=False, n_s=0))
    sdls = {k: v for k, v in secure.supervisor.counters().items() if k.startswith("sdls.rejected")}
    assert sum(sdls.values()) == 1, sdls
    assert secure.counter("tc.rejected") == 1 and secure.counter("test.pings") == 0


def test_a_replayed_command_is_never_run_again_even_after_a_restart(secure: Harness) -> None:
    cltu = secure.cltu(secure.command("PARAM_SET", {"name": "events.flood_limit", "value": 4}))
    assert len(secure.supervisor.on_uplink(cltu)) == 1
    not_run(secure, cltu)
    assert secure.counter("sdls.rejected_replay") == 1
    secure.advance(0.0)  # counters are saved with the next unit of work (here housekeeping)
    secure.restart()
    not_run(secure, cltu)
    assert secure.counter("sdls.rejected_replay") == 2
    assert secure.counter("params.set") == 1
    assert sum(1 for _ in secure.db.conn.execute("SELECT 1 FROM journal")) == 0


# --- state across a restart -----------------------------------------------------------------------

def test_every_state_survives_a_restart(secure: Harness) -> None:
    s = secure.supervisor
    secure.ok("PING")
    replay = secure.cltu(secure.command("NOOP"))
    s.on_uplink(replay)
    secure.ok("PARAM_SET", {"name": "events.flood_limit", "value": 5})
    activity = secure.command("NOOP")
    secure.ok("SCHEDULE_INSERT", {"time": secure.clock.now() + 1000, "command": activity})
    secure.ok("EVENT_DISABLE", {"event": TEST_EVENT})
    secure.ok("HK_DISABLE", {"report": 2})
    secure.ok("HK_SET_INTERVAL", {"report": 1, "interval": 7.0})
    secure.send("PARAM_GET", {"name": "no.such"})
    secure.ok("SAFE_MODE_ENTER", {"reason": "before the restart"})
    farm, sdls = s.receiver.farms[0].state_dict(), s.receiver.sdls.state_dict()
    link_counters = {k: v for k, v in s.counters().items() if k.split(".")[0] in ("cmd", "farm", "sdls", "tc")}
    schedule = s.schedule.activities()

    r = secure.restart()
    assert r.receiver.farms[0].state_dict() == farm and farm["v_r"] == 9
    assert r.receiver.sdls.state_dict() == sdls
    assert {k: v for k, v in r.counters().items() if k in link_counters} == link_counters
    assert link_counters["cmd.rejected"] == 1 and link_counters["cmd.completed"] == 8
    assert r.parameters.get("events.flood_limit") == 5
    assert r.schedule.activities() == schedule and schedule[0][3] == activity
    assert r.events.disabled == {TEST_EVENT}
    assert (r.housekeeping.enabled, r.housekeeping.interval) == ({1: True, 2: False, 3: True, 4: True, 5: True},
                                                                 {1: 7.0, 2: 10.0, 3: 2.0, 4: 2.0, 5: 2.0})
    assert (r.modes.mode, r.power.mode) == (Mode.SAFE, PowerMode.OFF)

    not_run(secure, replay)  # the anti-replay value survived
    secure.advance(0.0)
    tms = secure.downlink()
    assert len(hk_reports(tms, 1)) == 1 and hk_reports(tms, 2) == []
    secure.ok("SAFE_MODE_EXIT")  # and the next frame in sequence is taken: V(R) survived
    secure.ok("TEST_EVENTS", {"count": 2})
    assert events(secure.downlink(), "TEST_EVENT") == []
    assert r.counters()["events.disabled"] == 2


def test_farm_lockout_and_unlock_survive_a_restart(secure: Harness) -> None:
    secure.ok("PING")
    assert secure.supervisor.on_uplink(secure.cltu(secure.command("PING"), n_s=100)) == []  # far ahead
    assert secure.restart().receiver.farms[0].state is FarmState.LOCKOUT
    assert secure.supervisor.on_uplink(secure.cltu(secure.command("PING"))) == []  # discarded in Lockout
    secure.supervisor.on_uplink(secure.codec.encode(TcFrame.bc(SCID, 0, Unlock()).pack()))  # in clear
    assert secure.restart().receiver.farms[0].state is FarmState.OPEN
    secure.n_s = secure.supervisor.receiver.farms[0].v_r
    secure.ok("PING")
    assert secure.counter("test.pings") == 2


def test_reset_counters_zeroes_one_group_and_says_so(harness: Harness) -> None:
    harness.ok("PING")
    harness.send("PARAM_GET", {"name": "no.such"})
    assert harness.counter("tc.received") == 2
    harness.downlink()
    harness.ok("RESET_COUNTERS", {"service": "TC_LINK"})
    counters = harness.supervisor.counters()
    assert not any(k.startswith("tc.") for k in counters)
    assert counters["cmd.rejected"] == 1 and counters["cmd.accepted"] == 2  # other groups untouched
    assert events(harness.downlink(), "COUNTERS_RESET") == [("COUNTERS_RESET", {"service": "TC_LINK"})]
    harness.restart()
    assert harness.counter("tc.received") == 0 and harness.counter("cmd.rejected") == 1  # saved as reset


# --- garbage in: counted, never a crash -----------------------------------------------------------

def fresh(secure: bool = False) -> tuple[Harness, tempfile.TemporaryDirectory[str]]:
    """A supervisor on a state file of its own, for one hypothesis example."""
    directory = tempfile.TemporaryDirectory()
    return Harness(Path(directory.name) / "state.db", secure=secure), directory


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5), st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_uplink_octets_never_raise_and_are_counted(blobs: list[bytes], secure: bool) -> None:
    harness, directory = fresh(secure)
    try:
        for blob in blobs:
            harness.supervisor.on_uplink(blob)
        counters = harness.supervisor.counters()
        assert counters["tc.received"] == counters["tc.rejected"] == len(blobs)
        assert counters.get("journal.added", 0) == 0
    finally:
        harness.close()
        directory.cleanup()


@given(st.binary(min_size=1, max_size=200))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_arbitrary_octets_in_a_good_frame_never_raise(data: bytes) -> None:
    harness, directory = fresh()
    try:
        outcomes = harness.uplink(data)
        counters = harness.supervisor.counters()
        assert counters["farm.accepted_ad"] == 1
        assert counters.get("journal.added", 0) == len(outcomes)
        assert all(o.failure is not None for o in outcomes)  # not one of them a command
        assert counters.get("cmd.rejected", 0) + counters.get("cmd.failed", 0) == len(outcomes)
    finally:
        harness.close()
        directory.cleanup()


OPCODES = sorted({(c.service, c.subtype) for c in DICTIONARY.commands} | {(17, 99), (200, 1)})
MSGPACK_VALUES = st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=20), st.booleans(),
                           st.none(), st.binary(max_size=20))
# Garbage, and well-formed msgpack arrays of values of the wrong kinds (closer to what the decoder checks).
APP_DATA = st.one_of(st.binary(min_size=1, max_size=120),
                     st.lists(MSGPACK_VALUES, max_size=4).map(lambda values: msgpack.packb(values)))


@given(st.sampled_from(OPCODES), APP_DATA)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_pus_tc_with_garbage_application_data_gets_a_failure_report_and_never_raises(
        opcode: tuple[int, int], app_data: bytes) -> None:
    harness, directory = fresh()
    try:
        tc = build_tc(CORE, *opcode, app_data, seq_count=3)
        [outcome] = harness.uplink(tc)
        got = verdicts(harness.downlink(), tc)
        if outcome.failure is None:  # garbage that happens to be a valid command: it ran, and said so
            assert [v.subtype for v in got] == [ACCEPTED, STARTED, COMPLETED]
        else:
            assert got[-1].subtype in (ACCEPT_FAILED, FAILED) and got[-1].code == outcome.failure
            assert got[-1].field
    finally:
        harness.close()
        directory.cleanup()


def test_the_counts_of_garbage_are_housekeeping(harness: Harness) -> None:
    harness.supervisor.on_uplink(b"\x00" * 10)
    harness.uplink(b"\xff" * 12)
    harness.advance(0.0)
    [link] = hk_reports(harness.downlink(), 2)
    assert link["tc.received"] == 2 and link["tc.rejected"] == 1 and link["farm.accepted_ad"] == 1

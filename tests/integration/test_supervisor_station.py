"""The supervisor and the ground station as real processes over the real emulator, under faults.

Every verdict is read from the records: the payload's onboard store (read-only, after the run) says
what ran and how often; the ground's archive says what reached the ground.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from flight.dictionary import encode_command, load_dictionary
from flight.link.cltu import CltuCodec
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, TcFrame
from flight.link.transport import FrameSender
from flight.supervisor.verification import FailureCode
from ground.api import StationClient
from hil.link.capture import read_capture
from hil.stack import Stack, StackOptions
from hil.verdict import FlightRecord

pytestmark = pytest.mark.integration
DICTIONARY = load_dictionary()
TIME = DICTIONARY.mission.tm_time
FAULTS = {"loss": "0.1", "duplicate": "0.05", "reorder": "0.1", "delay": "0.003", "jitter": "0.003"}
QUICK_GROUND = "gap_settle = 1.0\ngap_retry = 8.0\nlos_after = 1.5\n"
# COP-1 sized for this bench link (milliseconds of round trip), as a mission would size it for its own.
BENCH_FOP = "[link.fop]\nwindow = 5\nt1 = 0.2\n"


def _record(stack: Stack) -> FlightRecord:
    return FlightRecord.read(stack.out / "flight-state.db", TIME)


def _wait_complete(gs: StationClient, ids: list[int], timeout: float) -> None:
    """Until every command has its completion report in the archive (gap fill brings the lost ones)."""
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if not any(s.stage == "completion" for s in gs.archive.stages(c))]
        time.sleep(0.2)
    assert not pending, f"{len(pending)} of {len(ids)} commands have no completion report in the archive"


def _wait_gapless(gs: StationClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = gs.status()
        if status["in_contact"] and status["missing"] == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"the archive still misses {gs.status()['missing']} packets")


def test_a_thousand_commands_run_exactly_once_in_order_through_faults_and_an_outage(tmp_path: Path) -> None:
    faults = {**FAULTS, "pass": "0:6,10:100000"}  # one loss of signal, from 6 s to 10 s
    options = StackOptions(out=tmp_path, faults=faults, seed=3, ground_toml=QUICK_GROUND, link_toml=BENCH_FOP)
    with Stack(options) as stack, stack.client() as gs:
        ids = []
        for i in range(1000):
            name = ("NOOP", "PING", "LINK_TEST")[i % 3]
            arguments = {"payload": i.to_bytes(2, "big")} if name == "LINK_TEST" else {}
            ids.append(gs.send(name, arguments, wait="none").command_id)
        _wait_complete(gs, ids, timeout=240)
        _wait_gapless(gs, timeout=60)
        sent = [gs.archive.command_by_id(c) for c in ids]
        stages = {c: gs.archive.stages(c) for c in ids}
        stack.stop()
        link = json.loads((tmp_path / "link-stats.json").read_text())["counters"]
        record = _record(stack)
        missing = record.missing_from(gs.archive)
    requests = [c.request_id.to_bytes(4, "big") for c in sent if c is not None]
    assert all(record.completions[r] == 1 for r in requests), "a command ran twice, or not at all"
    assert [r for r in record.completion_order if r in set(requests)] == requests, "commands ran out of order"
    assert all(s[-1].stage == "completion" and all(x.ok for x in s) for s in stages.values())
    assert missing == set()
    # The faults really happened: frames lost both ways, and the outage cut the downlink.
    assert link["link.up.dropped_loss"] > 0 and link["link.down.dropped_loss"] > 0
    assert link["link.down.dropped_link_down"] > 0


def test_twenty_kills_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    options = StackOptions(out=tmp_path, faults={"loss": "0.05", "reorder": "0.05"}, seed=5, ground_toml=QUICK_GROUND)
    with Stack(options) as stack, stack.client() as gs:
        gs.send("PARAM_SET", name="health.max_restarts", value=100)  # a kill test is not a restart loop
        far = time.time() + 86400
        scheduled = [gs.send("NOOP", at=far + i, timeout=60) for i in range(3)]
        assert all(r.ok for r in scheduled)
        kills = 0
        stop = threading.Event()
        rng = random.Random(20)

        def killer() -> None:
            nonlocal kills
            while not stop.is_set() and kills < 22:
                while stack.flight_starts <= kills and not stop.is_set():  # each kill hits a running supervisor
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.05, 0.8))
                stack.kill_flight()
                kills += 1

        thread = threading.Thread(target=killer)
        thread.start()
        ids = []
        try:
            while thread.is_alive():
                ids.append(gs.send(("NOOP", "PING", "LINK_TEST")[len(ids) % 3],
                                   {"payload": b"k"} if len(ids) % 3 == 2 else {}, wait="none").command_id)
                time.sleep(0.02)
        finally:
            stop.set()
            thread.join()
        assert kills >= 20 and stack.restarts >= 20
        _wait_complete(gs, ids, timeout=240)
        sent = [gs.archive.command_by_id(c) for c in ids]
        stack.stop()
        record = _record(stack)
    requests = [c.request_id.to_bytes(4, "big") for c in sent if c is not None]
    doubled = [r.hex() for r in requests if record.completions[r] != 1]
    assert doubled == [], f"{len(doubled)} commands did not run exactly once"
    db = sqlite3.connect(f"{(tmp_path / 'flight-state.db').resolve().as_uri()}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM schedule").fetchone()[0] == 3  # the schedule is intact
    assert db.execute("SELECT COUNT(*) FROM journal").fetchone()[0] == 0
    seqs = sorted(seq for apid, seq in db.execute("SELECT apid, seq FROM store") if apid == 16)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "the store's sequence counts have holes"
    boots = db.execute("SELECT value FROM kv WHERE key = 'health.boots'").fetchone()[0]
    assert int(boots) >= 21


def test_forged_replayed_and_unauthenticated_commands_never_run_and_are_counted(tmp_path: Path) -> None:
    options = StackOptions(out=tmp_path, seed=1, capture=True)
    with Stack(options) as stack, stack.client() as gs:
        assert gs.send("PING").ok
        link = stack.mission.link
        genuine = [r for r in read_capture(tmp_path / "capture.jsonl") if r.direction == "up"]
        assert genuine
        codec = CltuCodec()
        safe = encode_command(DICTIONARY, "SAFE_MODE_ENTER", {"reason": "attack"})
        forger = Sdls(list(link.sdls.associations), KeyRing.generate(["tc-0"]))
        attacks = {
            "forged": codec.encode(forger.apply(TcFrame(link.spacecraft_id, 0, FrameType.BD, 0, safe)).pack()),
            "unauthenticated": codec.encode(TcFrame(link.spacecraft_id, 0, FrameType.BD, 0, safe).pack()),
            "replayed": genuine[0].frame,
        }
        ctx = zmq.Context()
        attacker = FrameSender(ctx, stack.mission.ports.ground_uplink(), "attacker")
        time.sleep(0.3)
        for raw in attacks.values():
            attacker.send(raw)
        attacker.close()
        ctx.term()
        gs.send("HK_REPORT_NOW", report=1)
        counts = gs.await_tlm("health.mode", timeout=10)
        assert counts == "NOMINAL"

        def counted(name: str) -> int:
            return gs.latest([name]).get(name, (0, 0))[1]

        gs.send("HK_REPORT_NOW", report=2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                counted("sdls.rejected_bad_mac") >= 1 and counted("sdls.rejected_replay") >= 1
                and counted("sdls.rejected_unprotected") + counted("tc.rejected") >= 1):
            gs.send("HK_REPORT_NOW", report=2)
        assert counted("sdls.rejected_bad_mac") >= 1
        assert counted("sdls.rejected_replay") >= 1
        assert counted("tc.rejected") >= 3
        assert not [e for e in gs.events() if e.name == "SAFE_MODE_ENTERED"], "an attacker's command ran"
        stack.stop()
    db = sqlite3.connect(f"{(tmp_path / 'flight-state.db').resolve().as_uri()}?mode=ro", uri=True)
    assert db.execute("SELECT value FROM kv WHERE key = 'health.mode'").fetchone() in (None, ('"NOMINAL"',))


@pytest.mark.parametrize(("label", "app_data", "code", "field"), [
    ("unknown opcode", (77, 1, b""), FailureCode.UNKNOWN_COMMAND, "opcode"),
    ("wrong type", (20, 3, b"\x92\xa9nope.nope\x01"), FailureCode.BAD_ARGUMENT, "PARAM_SET.name"),
    ("out of range", (17, 130, b"\x91\xcd\xff\xff"), FailureCode.BAD_ARGUMENT, "TEST_EVENTS.count"),
    ("wrong type of value", (3, 31, b"\x92\x01\xa3one"), FailureCode.BAD_ARGUMENT, "HK_SET_INTERVAL.interval"),
    ("truncated arguments", (20, 3, b"\x92\xb2events.flo"), FailureCode.BAD_ARGUMENT, "PARAM_SET"),
])
def test_bad_commands_get_a_failure_report_with_the_reason(tmp_path: Path, label: str, app_data: tuple,
                                                           code: FailureCode, field: str) -> None:
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        service, subtype, data = app_data
        result = gs.send_raw(build_tc(16, service, subtype, data, seq_count=9000), timeout=20)
        assert result.failure is not None, label
        assert (result.failure.stage, result.failure.code) == ("acceptance", int(code)), label
        assert result.failure.field == field, label
        stack.stop()


def test_out_of_contact_a_scheduled_command_runs_and_the_telemetry_comes_down_later(tmp_path: Path) -> None:
    faults = {"pass": "0:5,13:100000"}  # the ground hears nothing from 5 s to 13 s
    options = StackOptions(out=tmp_path, faults=faults, seed=2, ground_toml=QUICK_GROUND)
    with Stack(options) as stack, stack.client() as gs:
        gs.send("HK_SET_INTERVAL", report=1, interval=0.5)
        link_start = stack.link_epoch()
        at = link_start + 9.0
        assert time.time() < link_start + 5.0, "the bench was too slow to schedule before the outage"
        result = gs.send("TEST_EVENTS", {"count": 1}, at=at, wait="completed", timeout=60)
        assert result.ok
        scheduled = result.scheduled_id
        assert scheduled is not None
        _wait_complete(gs, [scheduled], timeout=60)  # its reports were made out of contact, and came later
        _wait_gapless(gs, timeout=60)
        stages = gs.archive.stages(scheduled)
        assert stages[-1].stage == "completion" and 5.0 < stages[-1].time - link_start < 13.0
        event = gs.assert_event("TEST_EVENT", timeout=5)
        assert 5.0 < event.time - link_start < 13.0
        stack.stop()
        record = _record(stack)
        missing = record.missing_from(gs.archive)
    assert missing == set()


def test_an_event_flood_is_suppressed_and_counted(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        gs.send("PARAM_SET", name="events.flood_window", value=2.0)
        before = gs.archive.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
        assert gs.send("TEST_EVENTS", count=500).ok
        summary = gs.assert_event("EVENTS_SUPPRESSED", timeout=15, after_id=before, event="TEST_EVENT")
        assert summary.arguments["count"] == 500 - 20  # events.flood_limit: 20 by default
        sent = [e for e in gs.events(before) if e.name == "TEST_EVENT"]
        assert len(sent) == 20
        assert gs.await_tlm("events.suppressed", lambda n: n >= 480, timeout=10) >= 480
        stack.stop()


def test_a_silent_managed_process_is_reported_and_its_return_too(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        ctx = zmq.Context()
        worker = FrameSender(ctx, stack.mission.ports.heartbeats(), "worker")
        for _ in range(5):
            worker.send(msgpack.packb({"process": "worker", "timeout": 1.0}))
            time.sleep(0.1)
        missed = gs.assert_event("HEARTBEAT_MISSED", timeout=15, process="worker")
        assert missed.arguments["timeout"] == 1.0 and missed.arguments["silence"] > 1.0
        worker.send(b"\xc1 not msgpack")  # garbage on the heartbeat socket: counted, not fatal
        worker.send(msgpack.packb({"process": "worker"}))
        gs.assert_event("HEARTBEAT_RESTORED", timeout=15, after_id=missed.id, process="worker")
        worker.close()
        ctx.term()
        assert gs.send("PING").ok  # the supervisor is still there
        stack.stop()


def test_time_tags_come_from_the_scaled_spacecraft_clock(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path, clock_rate=60.0)) as stack, stack.client() as gs:
        gs.send("PING")
        mission_now = gs.await_tlm("clock.time", timeout=15)
        assert gs.await_tlm("clock.rate", timeout=15) == 60.0
        # Ten spacecraft minutes ahead: a few real seconds on this clock.
        result = gs.send("NOOP", at=mission_now + 600.0, timeout=30)
        assert result.scheduled_id is not None
        _wait_complete(gs, [result.scheduled_id], timeout=60)
        release = gs.archive.stages(result.scheduled_id)[-1].time
        assert release >= mission_now + 600.0
        stack.stop()


def test_the_ground_knows_the_spacecraft_clock_from_its_housekeeping(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path, clock_rate=60.0)) as stack, stack.client() as gs:
        gs.await_tlm("clock.rate", lambda r: r == 60.0, timeout=15, since=0.0)
        estimate = gs.mission_time()
        reported = gs.await_tlm("clock.time", timeout=15)  # the newest report (perhaps the estimate's own)
        assert abs(reported - estimate) < 60.0 * 5  # within a few real seconds of spacecraft time
        assert estimate > time.time()  # at rate 60 from a shared start, the spacecraft clock runs ahead
        stack.stop()

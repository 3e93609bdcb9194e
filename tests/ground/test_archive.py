"""The ground archive: real TM packets in, decoded rows out; garbage counted, never raised."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacepackets.ecss.pus_1_verification import (
    ErrorCode,
    FailureNotice,
    MessageSubtype,
    RequestId,
    Service1Tm,
    StepId,
    VerificationParams,
)

from flight.dictionary import Dictionary, encode_command, load_dictionary, parse_dictionary
from flight.dictionary.loader import default_dictionary_path
from flight.dictionary.model import Severity
from flight.dictionary.packing import pack_event, pack_record, pack_report
from flight.link.errors import StorageError
from flight.link.pus import build_tm, idle_packet, parse_tc, request_id
from ground.archive import SCHEMA_VERSION, Archive, StoredPacket

ZD = load_dictionary()
CUC = ZD.mission.tm_time
CORE = ZD.mission.apids["core"]
T0 = 1_750_000_000.0
NOW = T0 + 5.0  # ground time of reception


# --- packets, built with the project's own code -------------------------------------------------

def tm(service: int, subtype: int, data: bytes = b"", seq: int = 0, t: float = T0, apid: int = CORE) -> bytes:
    return build_tm(apid, service, subtype, data, CUC.encode(t), seq)


def hk(values: dict[str, Any], seq: int = 0, t: float = T0, sid: int = 1) -> bytes:
    return tm(3, 25, pack_report(ZD.report(sid), values), seq, t)


def event(name: str, arguments: dict[str, Any], seq: int = 0, t: float = T0) -> bytes:
    ev = ZD.event(name)
    return tm(5, int(ev.severity), pack_event(ev, arguments), seq, t)


def verification(tc: bytes, subtype: MessageSubtype, seq: int, t: float = T0, step: int | None = None,
                 failure: tuple[int, bytes] | None = None) -> bytes:
    notice = FailureNotice(ErrorCode(8, failure[0]), failure[1]) if failure else None
    params = VerificationParams(RequestId.from_pus_tc(parse_tc(tc)),
                                step_id=StepId(8, step) if step is not None else None, failure_notice=notice)
    return bytes(Service1Tm(CORE, subtype, CUC.encode(t), params, seq_count=seq).pack())


def request_int(tc: bytes) -> int:
    return int.from_bytes(request_id(tc), "big")


def ping(seq: int) -> bytes:
    return encode_command(ZD, "PING", seq_count=seq)


def realtime(*packets: bytes) -> list[tuple[bytes, int]]:
    return [(p, 0) for p in packets]


# --- decoded kinds ----------------------------------------------------------------------------

def test_housekeeping_stores_one_row_per_channel(archive: Archive) -> None:
    values = {"cmd.accepted": 7, "health.mode": "SAFE", "clock.rate": 1.5, "health.uptime": math.nan}
    result = archive.ingest(realtime(hk(values, seq=3)), NOW)
    assert result.stored == (StoredPacket(CORE, 3, 0),) and result.new == 1
    rows = archive.query("SELECT count(*) FROM hk")[0][0]
    assert rows == len(ZD.report(1).channels)
    latest = archive.latest(["cmd.accepted", "health.mode", "clock.rate", "cmd.rejected", "tc.received"])
    assert latest["cmd.accepted"] == (T0, 7)
    assert latest["health.mode"] == (T0, "SAFE")
    assert latest["clock.rate"] == (T0, 1.5)
    assert latest["cmd.rejected"] == (T0, 0)
    assert "tc.received" not in latest  # a LINK channel: no report carried it yet
    assert math.isnan(archive.latest(["health.uptime"])["health.uptime"][1])
    assert set(archive.latest()) == {c.name for c in ZD.report(1).channels}


def test_latest_is_newest_by_packet_time_not_arrival(archive: Archive) -> None:
    archive.ingest(realtime(hk({"cmd.accepted": 9}, seq=10, t=T0 + 10)), NOW)
    archive.ingest([(hk({"cmd.accepted": 5}, seq=5, t=T0 + 5), 1)], NOW + 1)  # a playback, later
    assert archive.latest(["cmd.accepted"]) == {"cmd.accepted": (T0 + 10, 9)}


def test_values_window_and_limit(archive: Archive) -> None:
    archive.ingest(realtime(*(hk({"cmd.accepted": n}, seq=n, t=T0 + n) for n in range(10))), NOW)
    assert archive.values("cmd.accepted") == [(T0 + n, n) for n in range(10)]
    assert archive.values("cmd.accepted", since=T0 + 3, until=T0 + 5) == [(T0 + n, n) for n in (3, 4, 5)]
    assert archive.values("cmd.accepted", limit=2) == [(T0 + 8, 8), (T0 + 9, 9)]
    assert archive.values("cmd.accepted", since=T0 + 2, limit=3, until=T0 + 6) == [(T0 + n, n) for n in (4, 5, 6)]
    assert archive.values("no.such.channel") == []


def test_events_store_name_severity_message_and_arguments(archive: Archive) -> None:
    archive.ingest(realtime(event("COMMAND_REJECTED", {"command": "PING", "reason": "busy"}, seq=1),
                            event("SAFE_MODE_ENTERED", {"reason": "thermal"}, seq=2, t=T0 + 1),
                            event("TEST_EVENT", {"n": 4}, seq=3, t=T0 + 2)), NOW)
    events = archive.events()
    assert [e.name for e in events] == ["COMMAND_REJECTED", "SAFE_MODE_ENTERED", "TEST_EVENT"]
    first = events[0]
    assert first.severity is Severity.LOW and first.event_id == ZD.event("COMMAND_REJECTED").id
    assert first.message == "command PING rejected: busy"
    assert first.arguments == {"command": "PING", "reason": "busy"}
    assert first.time == T0
    assert [e.name for e in archive.events(min_severity=Severity.HIGH)] == ["SAFE_MODE_ENTERED"]
    assert [e.name for e in archive.events(after_id=first.id)] == ["SAFE_MODE_ENTERED", "TEST_EVENT"]
    assert len(archive.events(limit=1)) == 1


@pytest.mark.parametrize(("service", "subtype"), [(11, 10), (15, 13), (20, 2)])
def test_service_reports_are_stored_as_json(archive: Archive, service: int, subtype: int) -> None:
    body = {"packets": 12, "tc": [["release", 1.5, "PING", ping(4)]], 7: b"\x01\xff", b"\x02": None}
    archive.ingest(realtime(tm(service, subtype, pack_record(body), seq=1)), NOW)
    [report] = archive.reports(service, subtype)
    assert (report.service, report.subtype, report.time) == (service, subtype, T0)
    # bytes as hex, at any depth; map keys as strings
    assert report.body == {"packets": 12, "tc": [["release", 1.5, "PING", ping(4).hex()]], "7": "01ff",
                           "02": None}
    assert archive.reports(service, subtype, after_packet_id=report.packet_id) == []
    assert archive.reports(service, subtype + 1) == []


def test_ping_answer_and_other_services_keep_the_packet_only(archive: Archive) -> None:
    result = archive.ingest(realtime(tm(17, 2, seq=1), tm(200, 7, b"anything", seq=2)), NOW)
    assert result.new == 2 and result.undecoded == 0
    assert archive.packet_count() == 2
    for table in ("hk", "events", "verification", "reports"):
        assert archive.query(f"SELECT count(*) FROM {table}")[0][0] == 0
    result = archive.ingest(realtime(tm(17, 2, b"\x00", seq=3)), NOW)  # a ping answer carries nothing
    assert result.new == 1 and result.undecoded == 1
    assert archive.counters["rejected_telemetry"] == 1


def test_the_packet_row_keeps_header_times_vc_and_raw(archive: Archive) -> None:
    raw = hk({}, seq=77, t=T0 + 0.5)
    archive.ingest([(raw, 1)], NOW)
    assert archive.query("SELECT apid, seq, service, subtype, time, received, vcid, raw FROM packets") == [
        (CORE, 77, 3, 25, T0 + 0.5, NOW, 1, raw)]


def test_the_high_water_mark_moves_with_every_packet_and_command_and_not_with_a_duplicate(archive: Archive) -> None:
    assert archive.high_water() == (0, 0)
    archive.ingest(realtime(hk({}, seq=1)), NOW)
    first = archive.high_water()
    assert first[0] > 0 and first[1] == 0
    archive.ingest(realtime(hk({}, seq=1)), NOW + 1)  # the same packet again: nothing new to read
    assert archive.high_water() == first
    command = archive.record_command("PING", {}, CORE, 0, 1, NOW)
    assert archive.high_water() == (first[0], command)


# --- duplicates ---------------------------------------------------------------------------------

def test_duplicates_are_dropped_and_counted(archive: Archive) -> None:
    packet = hk({"cmd.accepted": 1}, seq=5)
    first = archive.ingest(realtime(packet, packet), NOW)  # within one batch
    second = archive.ingest([(packet, 1)], NOW + 1)  # played back later
    assert (first.new, first.duplicates) == (1, 1)
    assert (second.new, second.duplicates, second.stored) == (0, 1, ())
    assert archive.packet_count() == 1
    assert archive.values("cmd.accepted") == [(T0, 1)]
    assert archive.counters["duplicates"] == 2 and archive.counters["packets"] == 1


def test_same_count_at_another_time_is_a_new_packet(archive: Archive) -> None:
    # The 14-bit count wraps: (apid, seq) alone would drop the next lap's packet.
    archive.ingest(realtime(hk({}, seq=5, t=T0), hk({}, seq=5, t=T0 + 3000)), NOW)
    assert archive.packet_count() == 2
    assert archive.sequence_counts(CORE) == [5, 5]


# --- commands and verification -------------------------------------------------------------------

def test_verification_stages_link_to_the_command_in_order(archive: Archive) -> None:
    tc = ping(5)
    command_id = archive.record_command("PING", {}, CORE, 5, request_int(tc), NOW, "operator")
    reports = [verification(tc, MessageSubtype.TM_COMPLETION_SUCCESS, 14, T0 + 4),
               verification(tc, MessageSubtype.TM_ACCEPTANCE_SUCCESS, 10, T0 + 1),
               verification(tc, MessageSubtype.TM_STEP_SUCCESS, 13, T0 + 3, step=2),
               verification(tc, MessageSubtype.TM_START_SUCCESS, 11, T0 + 2),
               verification(tc, MessageSubtype.TM_STEP_SUCCESS, 12, T0 + 2.5, step=1)]
    archive.ingest(realtime(*reports), NOW + 1)
    stages = archive.stages(command_id)
    assert [(s.stage, s.step) for s in stages] == [("acceptance", None), ("start", None), ("progress", 1),
                                                   ("progress", 2), ("completion", None)]
    assert all(s.ok and s.code is None and s.field is None and s.command_id == command_id for s in stages)
    assert [s.time for s in stages] == [T0 + 1, T0 + 2, T0 + 2.5, T0 + 3, T0 + 4]
    assert {s.received for s in stages} == {NOW + 1}
    assert archive.counters["unmatched_verification"] == 0


def test_stages_with_equal_times_keep_the_stage_order(archive: Archive) -> None:
    tc = ping(6)
    command_id = archive.record_command("PING", {}, CORE, 6, request_int(tc), NOW, "script")
    archive.ingest(realtime(verification(tc, MessageSubtype.TM_COMPLETION_SUCCESS, 3),
                            verification(tc, MessageSubtype.TM_START_SUCCESS, 2),
                            verification(tc, MessageSubtype.TM_ACCEPTANCE_SUCCESS, 1)), NOW)
    assert [s.stage for s in archive.stages(command_id)] == ["acceptance", "start", "completion"]


@pytest.mark.parametrize(("subtype", "stage", "step"), [
    (MessageSubtype.TM_ACCEPTANCE_FAILURE, "acceptance", None),
    (MessageSubtype.TM_START_FAILURE, "start", None),
    (MessageSubtype.TM_STEP_FAILURE, "progress", 3),
    (MessageSubtype.TM_COMPLETION_FAILURE, "completion", None),
])
def test_failure_reports_keep_code_and_field(archive: Archive, subtype: MessageSubtype, stage: str,
                                             step: int | None) -> None:
    tc = encode_command(ZD, "PARAM_GET", {"name": "x"}, seq_count=9)
    command_id = archive.record_command("PARAM_GET", {"name": "x"}, CORE, 9, request_int(tc), NOW, "operator")
    archive.ingest(realtime(verification(tc, subtype, 1, step=step, failure=(3, b"name"))), NOW)
    [report] = archive.stages(command_id)
    assert (report.stage, report.ok, report.code, report.field, report.step) == (stage, False, 3, "name", step)


def test_a_cut_utf8_field_name_is_kept_readable(archive: Archive) -> None:
    tc = ping(2)
    command_id = archive.record_command("PING", {}, CORE, 2, request_int(tc), NOW, "operator")
    archive.ingest(realtime(verification(tc, MessageSubtype.TM_COMPLETION_FAILURE, 1,
                                         failure=(5, "température".encode()[:5]))), NOW)
    assert archive.stages(command_id)[0].field == "temp\ufffd"


def test_a_report_goes_to_the_latest_command_with_its_request_id(archive: Archive) -> None:
    tc = ping(7)
    old = archive.record_command("PING", {}, CORE, 7, request_int(tc), NOW, "operator")
    new = archive.record_command("PING", {}, CORE, 7, request_int(tc), NOW + 100, "operator")  # the count wrapped
    archive.ingest(realtime(verification(tc, MessageSubtype.TM_ACCEPTANCE_SUCCESS, 1)), NOW + 101)
    assert archive.stages(old) == [] and len(archive.stages(new)) == 1


def test_unmatched_reports_are_kept_and_counted(archive: Archive) -> None:
    archive.record_command("PING", {}, CORE, 1, request_int(ping(1)), NOW, "operator")
    result = archive.ingest(realtime(verification(ping(2), MessageSubtype.TM_ACCEPTANCE_SUCCESS, 1)), NOW)
    assert result.new == 1
    assert archive.counters["unmatched_verification"] == 1
    assert archive.query("SELECT command_id, request_id, stage FROM verification") == [
        (None, request_int(ping(2)), "acceptance")]


def test_commands_are_journaled(archive: Archive) -> None:
    ids = [archive.record_command("HK_SET_INTERVAL", {"report": 1, "interval": 2.5, "blob": b"\x01"}, CORE, n,
                                  request_int(ping(n)), NOW + n, "gapfill") for n in range(3)]
    assert ids == sorted(ids)
    commands = archive.commands(2)
    assert [c.id for c in commands] == ids[1:]
    assert len(archive.commands()) == 3
    command = archive.command_by_id(ids[0])
    assert command is not None
    assert (command.name, command.apid, command.seq, command.sent, command.source) == (
        "HK_SET_INTERVAL", CORE, 0, NOW, "gapfill")
    assert command.arguments == {"report": 1, "interval": 2.5, "blob": "01"}
    assert command.request_id == request_int(ping(0))
    assert archive.command_by_id(ids[-1] + 1) is None


# --- garbage ------------------------------------------------------------------------------------

def test_idle_and_telecommand_packets(archive: Archive) -> None:
    result = archive.ingest([(idle_packet(20), 0), (ping(1), 0), (b"", 0), (b"\x00", 0)], NOW)
    assert (result.new, result.rejected) == (0, 3)
    assert archive.counters["idle"] == 1 and archive.counters["rejected_packet"] == 3


def test_a_corrupted_packet_is_rejected(archive: Archive) -> None:
    good = bytearray(hk({"cmd.accepted": 1}, seq=1))
    good[20] ^= 0x10  # the CRC catches it
    result = archive.ingest(realtime(bytes(good), hk({}, seq=2)), NOW)
    assert (result.new, result.rejected) == (1, 1)
    assert archive.sequence_counts(CORE) == [2]


GARBAGE_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@GARBAGE_SETTINGS
@given(raw=st.binary(max_size=300), vcid=st.integers(0, 7))
def test_garbage_never_raises_and_is_counted(archive: Archive, raw: bytes, vcid: int) -> None:
    before = archive.counters.snapshot()
    result = archive.ingest([(raw, vcid)], NOW)
    assert result.new + result.duplicates + result.rejected + (archive.counters["idle"] -
                                                               before.get("archive.idle", 0)) == 1
    after = archive.counters.snapshot()
    assert after.get("archive.rejected_packet", 0) - before.get("archive.rejected_packet", 0) == result.rejected


DECODED_KINDS = [(1, n) for n in range(1, 9)] + [(3, 25)] + [(5, n) for n in range(1, 5)] + [
    (11, 10), (15, 13), (20, 2), (17, 2)]


@GARBAGE_SETTINGS
@given(kind=st.sampled_from(DECODED_KINDS), body=st.binary(max_size=200), seq=st.integers(0, 16383))
def test_valid_headers_with_garbage_bodies_are_stored_and_counted(archive: Archive, kind: tuple[int, int],
                                                                  body: bytes, seq: int) -> None:
    undecoded = archive.counters["rejected_telemetry"]
    result = archive.ingest(realtime(tm(*kind, body, seq=seq)), NOW)
    assert result.rejected == 0 and result.new + result.duplicates == 1
    assert archive.counters["rejected_telemetry"] - undecoded == result.undecoded


def test_garbage_bodies_of_every_kind_are_counted(archive: Archive) -> None:
    # The property test above only shows nothing raises; this shows each decoder's rejection counts.
    bodies = [tm(service, subtype, b"\xc1", seq=n) for n, (service, subtype) in enumerate(DECODED_KINDS)]
    result = archive.ingest(realtime(*bodies), NOW)
    assert result.new == len(DECODED_KINDS)
    assert result.undecoded == len(DECODED_KINDS) == archive.counters["rejected_telemetry"]
    for table in ("hk", "events", "verification", "reports"):
        assert archive.query(f"SELECT count(*) FROM {table}")[0][0] == 0


def test_a_record_too_deep_for_json_is_counted_not_raised(archive: Archive) -> None:
    deep = b"\x91" * 1000 + b"\xc0"  # msgpack allows it; JSON encoding would overflow the stack
    assert msgpack.unpackb(deep) is not None
    result = archive.ingest(realtime(tm(20, 2, deep, seq=1)), NOW)
    assert (result.new, result.undecoded) == (1, 1)
    assert archive.reports(20, 2) == []


def _dictionary_with(change: Callable[[dict[str, Any]], None]) -> Dictionary:
    doc = json.loads(default_dictionary_path().read_text())
    change(doc)
    return parse_dictionary(doc)


def test_a_boolean_channel_reads_back_as_a_boolean(path: Path) -> None:
    def make_bool(doc: dict[str, Any]) -> None:
        next(c for c in doc["telemetry"] if c["name"] == "health.boots")["type"] = "bool"
    changed = _dictionary_with(make_bool)
    with Archive(path, changed) as archive:
        archive.ingest(realtime(tm(3, 25, pack_report(changed.report(1), {"health.boots": True}), seq=1)), NOW)
        assert archive.latest(["health.boots"])["health.boots"][1] is True
        assert archive.values("health.boots")[0][1] is True


def test_a_u64_beyond_sqlite_integers_is_kept_as_a_float(path: Path) -> None:
    def widen(doc: dict[str, Any]) -> None:
        next(c for c in doc["telemetry"] if c["name"] == "cmd.accepted")["type"] = "u64"
    wide = _dictionary_with(widen)
    with Archive(path, wide) as archive:
        raw = tm(3, 25, pack_report(wide.report(1), {"cmd.accepted": 2**64 - 1}), seq=1)
        assert archive.ingest(realtime(raw), NOW).undecoded == 0
        assert archive.latest(["cmd.accepted"])["cmd.accepted"][1] == float(2**64 - 1)


# --- state, durability, readers -------------------------------------------------------------------

def test_state_survives_reopening(path: Path) -> None:
    with Archive(path, ZD) as archive:
        assert archive.get_state("tc_seq", {}) == {}
        archive.set_state("tc_seq", {"16": 41})
        archive.set_state("tc_seq", {"16": 42, "17": 3})
    with Archive(path, ZD) as archive:
        assert archive.get_state("tc_seq") == {"16": 42, "17": 3}
        assert archive.get_state("other") is None


def test_reopening_keeps_everything(path: Path) -> None:
    tc = ping(3)
    packets = realtime(hk({"cmd.accepted": 3}, seq=1), event("COUNTERS_RESET", {"service": "SDLS"}, seq=2),
                       verification(tc, MessageSubtype.TM_ACCEPTANCE_SUCCESS, 3),
                       tm(15, 13, pack_record({"packets": 1}), seq=4))
    with Archive(path, ZD) as archive:
        command_id = archive.record_command("PING", {}, CORE, 3, request_int(tc), NOW, "operator")
        archive.ingest(packets, NOW)
    with Archive(path, ZD) as archive:
        assert archive.packet_count() == 4
        assert archive.latest(["cmd.accepted"]) == {"cmd.accepted": (T0, 3)}
        assert [e.name for e in archive.events()] == ["COUNTERS_RESET"]
        assert [s.stage for s in archive.stages(command_id)] == ["acceptance"]
        assert archive.reports(15, 13)[0].body == {"packets": 1}
        # the dedup key is in the file, not in memory
        assert archive.ingest(packets, NOW + 1).duplicates == 4


def test_a_reader_sees_committed_batches_while_the_writer_is_open(path: Path) -> None:
    with Archive(path, ZD) as writer, Archive(path, ZD, readonly=True) as reader:
        assert reader.packet_count() == 0
        writer.ingest(realtime(hk({"cmd.accepted": 1}, seq=1)), NOW)
        assert reader.packet_count() == 1
        assert reader.latest(["cmd.accepted"]) == {"cmd.accepted": (T0, 1)}
        # WAL: a reader in the middle of a read transaction blocks no writer, and keeps its snapshot.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN")
        assert other.execute("SELECT count(*) FROM packets").fetchone()[0] == 1
        writer.ingest(realtime(hk({}, seq=2)), NOW)
        assert other.execute("SELECT count(*) FROM packets").fetchone()[0] == 1
        other.execute("COMMIT")
        assert other.execute("SELECT count(*) FROM packets").fetchone()[0] == 2
        other.close()
        with pytest.raises(StorageError):
            reader.set_state("x", 1)


def test_the_file_is_wal_with_full_sync(archive: Archive, path: Path) -> None:
    assert archive.query("PRAGMA journal_mode") == [("wal",)]
    assert archive.query("PRAGMA synchronous") == [(2,)]  # FULL
    assert archive.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_another_schema_version_is_refused(path: Path) -> None:
    Archive(path, ZD).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    for readonly in (False, True):
        with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION + 1}"):
            Archive(path, ZD, readonly=readonly)


def test_another_sqlite_database_is_refused(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE mine (x)")
    with pytest.raises(StorageError, match="not a Zenith archive"):
        Archive(path, ZD)


def test_a_file_that_is_not_sqlite_is_refused(path: Path) -> None:
    path.write_bytes(b"this is a capture file, not a database\n" * 100)
    with pytest.raises(StorageError, match="not a usable archive"):
        Archive(path, ZD)


def test_a_reader_does_not_create_an_archive(path: Path) -> None:
    with pytest.raises(StorageError):
        Archive(path, ZD, readonly=True)
    assert not path.exists()


def test_transactions_roll_back_and_do_not_nest(archive: Archive) -> None:
    with pytest.raises(RuntimeError), archive.transaction() as conn:
        conn.execute("INSERT INTO state (key, value) VALUES ('k', '1')")
        raise RuntimeError("abandon")
    assert archive.get_state("k") is None
    with archive.transaction(), pytest.raises(StorageError, match="nest"), archive.transaction():
        pass


def test_counters_name_what_happened(archive: Archive) -> None:
    packet = hk({}, seq=1)
    archive.ingest(realtime(packet, packet, b"junk", tm(17, 2, b"x", seq=2),
                            verification(ping(9), MessageSubtype.TM_ACCEPTANCE_SUCCESS, 3)), NOW)
    assert archive.counters.snapshot() == {"archive.duplicates": 1, "archive.packets": 3,
                                           "archive.rejected_packet": 1, "archive.rejected_telemetry": 1,
                                           "archive.unmatched_verification": 1}


def test_ingest_rate(archive: Archive) -> None:
    # A pass's worth of mixed telemetry in batches of 100, fsync per batch: far above what the link
    # carries. The floor is loose for busy CI machines; the measured figure is printed.
    tc = ping(1)
    archive.record_command("PING", {}, CORE, 1, request_int(tc), NOW, "operator")
    makers = [lambda n: hk({"cmd.accepted": n}, seq=n, t=T0 + n),
              lambda n: tm(3, 25, pack_report(ZD.report(2), {"farm.v_r": n % 256}), seq=n, t=T0 + n),
              lambda n: event("TEST_EVENT", {"n": n}, seq=n, t=T0 + n),
              lambda n: verification(tc, MessageSubtype.TM_STEP_SUCCESS, n, T0 + n, step=n % 256)]
    packets = realtime(*(makers[n % len(makers)](n) for n in range(4000)))
    start = time.perf_counter()
    for i in range(0, len(packets), 100):
        archive.ingest(packets[i:i + 100], NOW)
    rate = len(packets) / (time.perf_counter() - start)
    print(f"archive ingest: {rate:.0f} packets/s")
    assert archive.packet_count() == len(packets)
    assert rate > 1500

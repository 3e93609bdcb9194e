"""The supervisor and the ground station as operators feel them: round trip, CPU, archive rate.

- **Command round trip**, send → completion report, over the emulator with no delay: from the time
  the station records the command to the time it archives the completion report (both ground
  clock). Every step that makes a command safe is on that path: the station's record, the payload's
  journal commit, its execution commit, the station's archive commit: four fsynced SQLite commits.
  The baseline is one such commit on this disk, measured in the same run, so the ratio says how
  many commits' worth the whole round trip costs.
- **Supervisor CPU**, idle and under a sustained 100 commands/s: CPU seconds per wall second of the
  ``flight run`` process (from /proc), against one core.
- **Archive insert rate**: realistic telemetry (housekeeping, events, verification) ingested in
  batches of 100, against a bare SQLite table taking the same packets with the same durability.
  For information: the archive decodes every packet and writes a row per housekeeping value (31 per
  report), so it does an order of magnitude more work than the bare table; what matters is that the
  absolute rate stays far above what the downlink can bring (about 200 frames/s).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from spacepackets.ecss.pus_1_verification import MessageSubtype, RequestId, Service1Tm, VerificationParams

from bench.harness import Record
from flight.dictionary import encode_command, load_dictionary
from flight.dictionary.packing import pack_event, pack_report
from flight.link.pus import build_tm, parse_tc
from ground.archive import Archive
from hil.stack import Stack, StackOptions

ROUND_TRIPS = 200
CPU_WINDOW = 5.0
LOAD_RATE = 100  # commands per second
BATCH = 100
BATCHES = 40
DICTIONARY = load_dictionary()


def _commit_seconds(workdir: Path, n: int = 200) -> float:
    """Median time of one fsynced (WAL, synchronous=FULL) SQLite commit of one small row."""
    db = sqlite3.connect(workdir / "commit.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x BLOB)")
    times = []
    for _ in range(n):
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (os.urandom(64),))
        db.execute("COMMIT")
        times.append(time.perf_counter() - start)
    db.close()
    return statistics.median(times)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _cpu_share(pid: int, during: float) -> float:
    start_cpu, start = _cpu_seconds(pid), time.monotonic()
    time.sleep(during)
    return (_cpu_seconds(pid) - start_cpu) / (time.monotonic() - start)


def _stack_figures(workdir: Path) -> tuple[list[float], float, float]:
    with Stack(StackOptions(out=workdir / "stack")) as stack, stack.client() as gs:
        gs.send("PING")  # COP-1 synchronised, everything warm
        trips = []
        for _ in range(ROUND_TRIPS):
            result = gs.send("PING", wait="completed", timeout=30)
            command = gs.archive.command_by_id(result.command_id)
            completion = next(s for s in result.stages if s.stage == "completion")
            assert command is not None
            trips.append(completion.received - command.sent)
        flight = stack.group.child("flight")
        assert flight is not None
        time.sleep(1.0)
        idle = _cpu_share(flight.pid, CPU_WINDOW)
        done_before = gs.await_tlm("cmd.completed", lambda n: n >= ROUND_TRIPS + 1, timeout=30)
        start_cpu, start = _cpu_seconds(flight.pid), time.monotonic()
        sent = 0
        while time.monotonic() - start < CPU_WINDOW:
            while sent < (time.monotonic() - start) * LOAD_RATE:
                gs.send("NOOP", wait="none")
                sent += 1
            time.sleep(0.002)
        # The load was carried, not queued: every one of these commands completed too.
        gs.await_tlm("cmd.completed", lambda n: n >= done_before + sent, timeout=60)
        loaded = (_cpu_seconds(flight.pid) - start_cpu) / (time.monotonic() - start)
    return trips, idle, loaded


def _telemetry(n: int) -> list[bytes]:
    """A realistic mix: housekeeping, events and verification reports."""
    time_format = DICTIONARY.mission.tm_time
    report = DICTIONARY.report(1)
    event = DICTIONARY.event("TEST_EVENT")
    assert report is not None and event is not None
    tc = parse_tc(encode_command(DICTIONARY, "PING"))
    packets = []
    for i in range(n):
        stamp = time_format.encode(1.8e9 + i * 0.01)
        kind = i % 3
        if kind == 0:
            packets.append(build_tm(16, 3, 25, pack_report(report, {"cmd.accepted": i}), stamp, i % 16384))
        elif kind == 1:
            packets.append(build_tm(16, 5, 1, pack_event(event, {"n": i}), stamp, i % 16384))
        else:
            params = VerificationParams(RequestId.from_pus_tc(tc))
            packets.append(bytes(Service1Tm(16, MessageSubtype.TM_COMPLETION_SUCCESS, stamp, params,
                                            seq_count=i % 16384).pack()))
    return packets


def _archive_rate(workdir: Path) -> tuple[float, float]:
    packets = _telemetry(BATCH * BATCHES)
    batches = [packets[i:i + BATCH] for i in range(0, len(packets), BATCH)]
    archive = Archive(workdir / "archive.db", DICTIONARY)
    bare = sqlite3.connect(workdir / "bare.db", isolation_level=None)
    bare.execute("PRAGMA journal_mode=WAL")
    bare.execute("PRAGMA synchronous=FULL")
    bare.execute("CREATE TABLE packets (apid INTEGER, seq INTEGER, raw BLOB)")
    ours = base = 0.0
    for batch in batches:  # alternately, so both sides see the same machine
        start = time.perf_counter()
        bare.execute("BEGIN IMMEDIATE")
        bare.executemany("INSERT INTO packets VALUES (?, ?, ?)",
                         [((p[0] & 7) << 8 | p[1], (p[2] & 0x3F) << 8 | p[3], p) for p in batch])
        bare.execute("COMMIT")
        base += time.perf_counter() - start
        start = time.perf_counter()
        result = archive.ingest([(p, 0) for p in batch], time.time())
        ours += time.perf_counter() - start
        assert result.new == len(batch), result
    archive.close()
    bare.close()
    return len(packets) / ours, len(packets) / base


def run() -> list[Record]:
    with TemporaryDirectory(prefix="zenith-bench-") as tmp:
        workdir = Path(tmp)
        commit = _commit_seconds(workdir)
        trips, idle, loaded = _stack_figures(workdir)
        rate, bare_rate = _archive_rate(workdir)
    trips.sort()
    median = statistics.median(trips)
    p99 = trips[min(len(trips) - 1, int(0.99 * len(trips)))]
    ms = 1000.0
    return [
        Record("round trip PING → completion report, median (baseline: one fsynced commit)", median * ms, "ms",
               commit * ms, median / commit, "<= 25"),
        Record("round trip PING → completion report, p99 (baseline: one fsynced commit)", p99 * ms, "ms",
               commit * ms, p99 / commit, ""),
        Record("supervisor CPU, idle (share of one core)", idle, "core", 1.0, idle, "<= 0.05"),
        Record(f"supervisor CPU, {LOAD_RATE} commands/s (share of one core)", loaded, "core", 1.0, loaded, "<= 0.6"),
        Record("archive ingest, HK + events + verification (baseline: bare SQLite table)", rate, "packets/s",
               bare_rate, rate / bare_rate, ""),
    ]

"""Drive a whole supervisor without sockets: CLTUs in, frames out, a manual clock, a state file per test.

The ground side is built from the link's own encoders (CLTU, TC frame, SDLS ApplySecurity) and the
downlink is read back through the real TM demultiplexer, so a test sees what the ground would see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spacepackets.ecss.pus_1_verification import ManagedParams, ManagedParamsVerification, Service1Tm

from flight.dictionary import encode_command, load_dictionary
from flight.dictionary.packing import unpack_event, unpack_record, unpack_report
from flight.link.cltu import CltuCodec
from flight.link.config import DEFAULT_ASSOCIATION, LinkConfig, SdlsSettings
from flight.link.keys import KeyRing
from flight.link.pus import ACK_ALL, parse_tm
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, TcFrame
from flight.link.tmframe import TmChannelFormat
from flight.link.vcdemux import VirtualChannelDemux
from flight.supervisor.clock import ManualClock
from flight.supervisor.dispatch import Outcome
from flight.supervisor.health.limits import LimitResponse
from flight.supervisor.state_db import StateDb
from flight.supervisor.supervisor import Supervisor

DICTIONARY = load_dictionary()
CORE = DICTIONARY.mission.apids["core"]
TIME_LEN = DICTIONARY.mission.tm_time.length
SCID = 42

# PUS 1 report subtypes (ECSS-E-ST-70-41C 6.1).
ACCEPTED, ACCEPT_FAILED, STARTED, START_FAILED, PROGRESS, PROGRESS_FAILED, COMPLETED, FAILED = range(1, 9)


class Crash(BaseException):
    """A kill in the middle of a unit of work: not an Exception, so no handler catches it."""


@dataclass(frozen=True, slots=True)
class Tm:
    """One telemetry packet as the ground receives it (``vcid`` None: read from the onboard store)."""

    vcid: int | None
    apid: int
    seq: int
    service: int
    subtype: int
    data: bytes
    time: float
    raw: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """One PUS 1 report about a telecommand."""

    subtype: int
    code: int | None = None
    field: str | None = None
    step: int | None = None


def parse(raw: bytes, vcid: int | None) -> Tm:
    tm = parse_tm(raw, TIME_LEN)
    return Tm(vcid, tm.apid, tm.seq_count, tm.service, tm.message_subtype, bytes(tm.source_data),
              DICTIONARY.mission.tm_time.decode(bytes(tm.timestamp)), bytes(raw))


def verdicts(tms: list[Tm], tc: bytes) -> list[Verdict]:
    """The PUS 1 reports, in order, about the telecommand ``tc`` (matched by its request ID)."""
    out = []
    for tm in tms:
        if tm.service != 1 or tm.data[:4] != tc[:4]:
            continue
        report = Service1Tm.unpack(tm.raw, ManagedParams(timestamp_len=TIME_LEN), ManagedParamsVerification(1, 1))
        notice = report.failure_notice
        step = report.step_id.val if report.step_id is not None else None
        out.append(Verdict(tm.subtype, notice.code.val if notice else None,
                           bytes(notice.data).decode() if notice else None, step))
    return out


def events(tms: list[Tm], name: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The event reports among ``tms``, decoded, optionally only those of one event."""
    out = []
    for tm in tms:
        if tm.service == 5:
            event, arguments = unpack_event(DICTIONARY, tm.data)
            assert tm.subtype == int(event.severity)
            if name is None or event.name == name:
                out.append((event.name, arguments))
    return out


def hk_reports(tms: list[Tm], sid: int) -> list[dict[str, Any]]:
    out = []
    for tm in tms:
        if (tm.service, tm.subtype) == (3, 25):
            report, values = unpack_report(DICTIONARY, tm.data)
            if report.sid == sid:
                out.append(values)
    return out


def records(tms: list[Tm], service: int, subtype: int) -> list[Any]:
    return [unpack_record(tm.data) for tm in tms if (tm.service, tm.subtype) == (service, subtype)]


class Harness:
    """One supervisor on one state file, its ground end, and its downlink, all in this process."""

    def __init__(self, path: Path, *, secure: bool = False, responses: tuple[LimitResponse, ...] = (),
                 job_launcher: Callable[..., Any] | None = None, ecc_source: Any = None,
                 bench_key: bytes | None = None, gpu_power: Any = None) -> None:
        self.path = path
        self.gpu_power = gpu_power  # NVML's side of the GPU (None: the simulated model)
        self.bench_key = bench_key
        self.job_launcher = job_launcher
        self.ecc_source = ecc_source  # the same source across restarts, as the GPU is
        self.clock = ManualClock()
        self.mono = 1000.0  # what the supervisor's monotonic clock says
        self.responses = responses
        self.keys = KeyRing.generate([DEFAULT_ASSOCIATION.key_id]) if secure else None
        self.link = LinkConfig() if secure else LinkConfig(sdls=SdlsSettings(()))
        self.ground_sdls = Sdls([DEFAULT_ASSOCIATION], self.keys) if self.keys else None
        self.codec = CltuCodec()
        self.fmt = TmChannelFormat(self.link.spacecraft_id, self.link.tm.frame_length, self.link.tm.ocf,
                                   self.link.tm.fecf)
        self.n_s = 0  # the next TC frame sequence number
        self.tc_seq = 0  # the next TC packet sequence count
        self._dbs: list[StateDb] = []
        self.supervisor = self._start()
        self.demux = VirtualChannelDemux(self.fmt)

    # --- the supervisor's life ----------------------------------------------------------------

    def _start(self) -> Supervisor:
        db = StateDb(self.path)
        self._dbs.append(db)
        sdls = Sdls([DEFAULT_ASSOCIATION], self.keys) if self.keys else None
        return Supervisor(self.link, DICTIONARY, db, self.clock, sdls, self.responses, lambda: self.mono,
                          job_launcher=self.job_launcher, ecc_source=self.ecc_source, bench_key=self.bench_key,
                          gpu_power=self.gpu_power)

    def restart(self) -> Supervisor:
        """A kill and a restart: the old instance is abandoned as it is, a new one opens the same file.

        Whatever the old one had queued for the downlink is lost with it, as in a real kill.
        """
        self.supervisor = self._start()
        self.demux = VirtualChannelDemux(self.fmt)
        return self.supervisor

    def close(self) -> None:
        for db in self._dbs:
            db.close()

    @property
    def db(self) -> StateDb:
        return self.supervisor.db

    # --- uplink -------------------------------------------------------------------------------

    def command(self, name: str, arguments: dict[str, Any] | None = None, *, ack: int = ACK_ALL) -> bytes:
        """A dictionary command's TC packet, with the next sequence count (so a request ID is unique)."""
        packet = encode_command(DICTIONARY, name, arguments, seq_count=self.tc_seq, ack_flags=ack)
        self.tc_seq += 1
        return packet

    def cltu(self, data: bytes, *, protect: Sdls | None | bool = True, n_s: int | None = None) -> bytes:
        """The CLTU of an AD frame carrying ``data``; ``protect``: True for the ground's SA.

        Without ``n_s``, the frame takes the next sequence number, as FOP-1 would.
        """
        if n_s is None:
            n_s, self.n_s = self.n_s, self.n_s + 1
        frame = TcFrame(SCID, 0, FrameType.AD, n_s % 256, data)
        sdls = self.ground_sdls if protect is True else (protect or None)
        return self.codec.encode(sdls.protect(frame) if sdls is not None else frame.pack())

    def uplink(self, packet: bytes) -> list[Outcome]:
        return self.supervisor.on_uplink(self.cltu(packet))

    def send(self, name: str, arguments: dict[str, Any] | None = None, *, ack: int = ACK_ALL) -> Outcome:
        """Uplink one command and return what became of it."""
        outcomes = self.uplink(self.command(name, arguments, ack=ack))
        assert len(outcomes) == 1, outcomes
        return outcomes[0]

    def ok(self, name: str, arguments: dict[str, Any] | None = None) -> Outcome:
        outcome = self.send(name, arguments)
        assert outcome.failure is None, outcome
        return outcome

    # --- time ---------------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[Outcome]:
        self.clock.advance(seconds)
        return self.supervisor.tick()

    # --- downlink and state -------------------------------------------------------------------

    def downlink(self) -> list[Tm]:
        """Every packet the supervisor has queued, read from the frames it sends, in arrival order."""
        out = []
        while self.supervisor.mux.has_data():
            result = self.demux.feed(self.supervisor.next_frame())
            out += [parse(p, result.frame.virtual_channel_id) for p in result.packets]
        return out

    def stored(self) -> list[Tm]:
        return [parse(row[0], None) for row in self.db.conn.execute("SELECT packet FROM store ORDER BY id")]

    def counter(self, name: str) -> int:
        return self.supervisor.counters().get(name, 0)

    def sequences(self) -> dict[str, int]:
        return self.db.get("tm.sequence", {})


"""PUS 1 request verification: acceptance, start, progress and completion reports.

Success reports go down only as the telecommand's acknowledgement flags ask; failure reports always,
with a reason code (one octet) and the offending field's name as failure data. A :class:`RequestRef`
is all a later report needs, so a service that finishes a command later (a playback, say) keeps one,
packed, in its persisted state.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from spacepackets.ecss.pus_1_verification import (
    ErrorCode,
    FailureNotice,
    MessageSubtype,
    RequestId,
    Service1Tm,
    StepId,
    VerificationParams,
)

from flight.counters import Counters
from flight.supervisor.telemetry import Telemetry

FAILURE_CODE_BITS = 8
STEP_ID_OCTETS = 1
FAILURE_DATA_MAX = 64
# PUS-C acknowledgement flags of a telecommand (ECSS-E-ST-70-41C 7.4.1).
ACK_ACCEPTANCE, ACK_START, ACK_PROGRESS, ACK_COMPLETION = 0b1000, 0b0100, 0b0010, 0b0001
_REF = struct.Struct(">4sHB")
QUIET = 0x80  # beside the four ack flags: a command the supervisor made itself; no reports at all


class FailureCode(enum.IntEnum):
    """Reason codes in PUS 1 failure reports."""

    MALFORMED_PACKET = 1
    UNKNOWN_COMMAND = 2
    BAD_ARGUMENT = 3
    NOT_ALLOWED = 4
    EXECUTION_ERROR = 5


@dataclass(frozen=True, slots=True)
class RequestRef:
    """Which telecommand a report is about, and which success reports it asked for."""

    request_id: bytes  # the TC's first four octets
    apid: int
    ack_flags: int  # the TC's acknowledgement flags, and QUIET for the supervisor's own commands

    def pack(self) -> bytes:
        return _REF.pack(self.request_id, self.apid, self.ack_flags)

    @classmethod
    def unpack(cls, raw: bytes) -> RequestRef:
        request_id, apid, flags = _REF.unpack(raw)
        return cls(request_id, apid, flags)


class Verifier:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.counters = Counters("verification")

    def accepted(self, ref: RequestRef) -> None:
        self._success(ref, ACK_ACCEPTANCE, MessageSubtype.TM_ACCEPTANCE_SUCCESS)

    def started(self, ref: RequestRef) -> None:
        self._success(ref, ACK_START, MessageSubtype.TM_START_SUCCESS)

    def progress(self, ref: RequestRef, step: int) -> None:
        self._success(ref, ACK_PROGRESS, MessageSubtype.TM_STEP_SUCCESS, step)

    def completed(self, ref: RequestRef) -> None:
        self._success(ref, ACK_COMPLETION, MessageSubtype.TM_COMPLETION_SUCCESS)

    def acceptance_failed(self, ref: RequestRef, code: FailureCode, field: str) -> None:
        self._report(ref, MessageSubtype.TM_ACCEPTANCE_FAILURE, failure=(code, field))

    def completion_failed(self, ref: RequestRef, code: FailureCode, field: str) -> None:
        self._report(ref, MessageSubtype.TM_COMPLETION_FAILURE, failure=(code, field))

    def _success(self, ref: RequestRef, flag: int, subtype: MessageSubtype, step: int | None = None) -> None:
        if ref.ack_flags & flag:
            self._report(ref, subtype, step)

    def _report(self, ref: RequestRef, subtype: MessageSubtype, step: int | None = None,
                failure: tuple[FailureCode, str] | None = None) -> None:
        if ref.ack_flags & QUIET:
            # The supervisor's own command: its request ID can equal a ground command's (the same
            # APID and count), so a report would be credited to that one. Events tell its story.
            self.counters.inc("onboard_unreported")
            return
        notice = None
        if failure is not None:
            code, field = failure
            notice = FailureNotice(ErrorCode(FAILURE_CODE_BITS, int(code)), field.encode()[:FAILURE_DATA_MAX])
        step_id = StepId.with_byte_size(STEP_ID_OCTETS, step % 256) if step is not None else None
        params = VerificationParams(RequestId.unpack(ref.request_id), step_id=step_id, failure_notice=notice)
        telemetry = self.telemetry
        now = telemetry.clock.now()
        tm = Service1Tm(ref.apid, subtype, telemetry.time_format.encode(now), params,
                        seq_count=telemetry.next_count(ref.apid))
        telemetry.record(tm.pack(), now)
        self.counters.inc(subtype.name.lower().removeprefix("tm_"))

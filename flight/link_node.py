"""The payload's end of the link, without sockets: uplink in, commands decoded, telemetry out.

It runs CLTUs through the uplink stack, decodes each telecommand against the dictionary, reports
PUS 1 acceptance (or failure, with a reason code and the offending field) and completion, answers
PING with TM[17,2], and builds the downlink frames whose OCF carries FARM-1's CLCW. The supervisor
grows from here; the ``flight link`` command runs it over ZeroMQ.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from spacepackets.ecss.pus_1_verification import (
    ErrorCode,
    FailureNotice,
    MessageSubtype,
    RequestId,
    Service1Tm,
    VerificationParams,
)

from flight.counters import Counters, merged
from flight.dictionary import Dictionary, decode_app_data
from flight.dictionary.types import json_value
from flight.link.config import LinkConfig
from flight.link.errors import CommandError, LinkError
from flight.link.pus import SequenceCounter, build_tm, parse_tc
from flight.link.sdls import Sdls
from flight.link.tmframe import TmChannelFormat
from flight.link.uplink_receiver import UplinkReceiver
from flight.link.vcmux import VirtualChannelMux
from flight.link_state import LinkStateFile

REALTIME_VC = 0
FAILURE_CODE_BITS = 8
# PUS-C acknowledgement flags of a telecommand (ECSS-E-ST-70-41C 7.4.1).
ACK_ACCEPTANCE, ACK_START, ACK_PROGRESS, ACK_COMPLETION = 0b1000, 0b0100, 0b0010, 0b0001


class FailureCode(enum.IntEnum):
    """Reason codes in PUS 1 failure reports."""

    MALFORMED_PACKET = 1
    UNKNOWN_COMMAND = 2
    BAD_ARGUMENT = 3
    NOT_ALLOWED = 4
    EXECUTION_ERROR = 5


@dataclass(frozen=True, slots=True)
class Arrival:
    """A telecommand as it reached the payload, accepted or not."""

    apid: int
    sequence_count: int
    name: str | None
    arguments: dict[str, Any] = field(default_factory=dict)
    failure: FailureCode | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"apid": self.apid, "sequence_count": self.sequence_count, "name": self.name,
                "arguments": json_value(self.arguments), "accepted": self.failure is None,
                "failure": self.failure.name.lower() if self.failure else None, "reason": self.reason}


class LinkNode:
    def __init__(self, config: LinkConfig, dictionary: Dictionary, sdls: Sdls | None,
                 clock: Callable[[], float], state: LinkStateFile | None = None) -> None:
        self.dictionary = dictionary
        self.clock = clock
        self.receiver = UplinkReceiver(config, sdls)
        self.state = state
        journal = state.restore(self.receiver) if state is not None else None
        self.restored = journal is not None
        self._journal = journal or []
        fmt = TmChannelFormat(config.spacecraft_id, config.tm.frame_length, config.tm.ocf, config.tm.fecf)
        self.mux = VirtualChannelMux(fmt, ocf_source=self.receiver.clcw_bytes)
        self.sequence = SequenceCounter()
        self.counters = Counters("cmd")
        self._time = dictionary.mission.tm_time
        # The commands this node runs, by dictionary name: handler(apid, arguments).
        self.handlers: dict[str, Callable[[int, dict[str, Any]], None]] = {
            "PING": self._ping, "NOOP": self._noop, "RESET_COUNTERS": self._reset_counters, "LINK_TEST": self._noop}

    def on_uplink(self, raw: bytes) -> list[Arrival]:
        """Take one CLTU or frame from the radio; return the commands it completed."""
        self.receiver.receive(raw)
        packets = [d.packet for d in self.receiver.take_packets()]
        return self._act_on(packets)

    def resume(self) -> list[Arrival]:
        """Run the commands a restart interrupted: journaled as accepted, not yet acted on."""
        journal, self._journal = self._journal, []
        return self._act_on(journal)

    def _act_on(self, packets: list[bytes]) -> list[Arrival]:
        if self.state is not None:
            # V(R), the anti-replay values and the packets, on disk before any command is acted on.
            self.state.save(self.receiver, packets)
        arrivals = [self._dispatch(packet) for packet in packets]
        if self.state is not None and packets:
            self.state.save(self.receiver, [])
        return arrivals

    def next_frame(self) -> bytes:
        return self.mux.next_frame()

    def _timestamp(self) -> bytes:
        return self._time.encode(self.clock())

    def _dispatch(self, packet: bytes) -> Arrival:
        try:
            tc = parse_tc(packet)
        except LinkError as exc:
            self.counters.inc("rejected")
            apid = ((packet[0] & 0x07) << 8 | packet[1]) if len(packet) >= 2 else 0
            if len(packet) >= 4:  # a request ID can still be read: tell the ground what became of it
                self._report(RequestId.unpack(packet[:4]), apid, MessageSubtype.TM_ACCEPTANCE_FAILURE,
                             FailureCode.MALFORMED_PACKET, exc.field)
            return Arrival(apid, 0, None, failure=FailureCode.MALFORMED_PACKET, reason=str(exc))
        request = RequestId.from_pus_tc(tc)
        flags = tc.pus_tc_sec_header.ack_flags
        try:
            decoded = decode_app_data(self.dictionary, tc.service, tc.message_subtype, tc.app_data)
        except CommandError as exc:
            code = FailureCode.UNKNOWN_COMMAND if exc.field == "opcode" else FailureCode.BAD_ARGUMENT
            self.counters.inc("rejected")
            self._report(request, tc.apid, MessageSubtype.TM_ACCEPTANCE_FAILURE, code, exc.field)
            return Arrival(tc.apid, tc.seq_count, None, failure=code, reason=str(exc))
        self.counters.inc("accepted")
        # Success reports only as the command's acknowledgement flags ask; failures always.
        if flags & ACK_ACCEPTANCE:
            self._report(request, tc.apid, MessageSubtype.TM_ACCEPTANCE_SUCCESS)
        if flags & ACK_START:
            self._report(request, tc.apid, MessageSubtype.TM_START_SUCCESS)
        handler = self.handlers.get(decoded.command.name)
        if handler is None:
            self._report(request, tc.apid, MessageSubtype.TM_COMPLETION_FAILURE, FailureCode.EXECUTION_ERROR,
                         "no handler on this node")
            return Arrival(tc.apid, tc.seq_count, decoded.command.name, decoded.arguments,
                           FailureCode.EXECUTION_ERROR, "no handler on this node")
        handler(tc.apid, decoded.arguments)
        if flags & ACK_COMPLETION:
            self._report(request, tc.apid, MessageSubtype.TM_COMPLETION_SUCCESS)
        return Arrival(tc.apid, tc.seq_count, decoded.command.name, decoded.arguments)

    # --- commands ------------------------------------------------------------------------------

    def _ping(self, apid: int, _arguments: dict[str, Any]) -> None:
        self._send(apid, 17, 2, b"")

    def _noop(self, _apid: int, _arguments: dict[str, Any]) -> None:
        pass

    def _reset_counters(self, _apid: int, arguments: dict[str, Any]) -> None:
        chosen = arguments["service"]
        for name, counters in self._services().items():
            if chosen in ("ALL", name):
                for each in counters:
                    each.reset()

    def housekeeping(self) -> dict[str, int]:
        """Every counter of the payload's link end, named as the dictionary's channels."""
        return merged(*(c for group in self._services().values() for c in group))

    def _services(self) -> dict[str, list[Counters]]:
        """The counters RESET_COUNTERS can zero, by the dictionary's enum labels."""
        receiver = self.receiver
        return {
            "COMMANDS": [self.counters],
            "TC_LINK": [receiver.counters],
            "FARM": [farm.counters for farm in receiver.farms.values()],
            "SDLS": [receiver.sdls.counters] if receiver.sdls else [],
            "TM_LINK": [self.mux.counters],
            "CLTU": [receiver.cltu.counters] if receiver.cltu else [],
        }

    def _report(self, request: RequestId, apid: int, subtype: MessageSubtype, code: FailureCode | None = None,
                field_name: str = "") -> None:
        notice = None
        if code is not None:
            notice = FailureNotice(ErrorCode(FAILURE_CODE_BITS, int(code)), field_name.encode()[:64])
        tm = Service1Tm(apid, subtype, self._timestamp(), VerificationParams(request, failure_notice=notice),
                        seq_count=self.sequence.next(apid))
        self.mux.push(REALTIME_VC, tm.pack())

    def _send(self, apid: int, service: int, subtype: int, data: bytes) -> None:
        self.mux.push(REALTIME_VC, build_tm(apid, service, subtype, data, self._timestamp(),
                                            self.sequence.next(apid)))

"""The payload's link end without sockets: a CLTU in, PUS 1 reports and TM[17,2] out in TM frames."""

from __future__ import annotations

import json

import msgpack
import pytest
from spacepackets.ecss.pus_1_verification import ManagedParams, ManagedParamsVerification, Service1Tm

from flight.dictionary import encode_command, load_dictionary
from flight.link.clcw import Clcw
from flight.link.cltu import CltuCodec
from flight.link.config import LinkConfig
from flight.link.crc import crc16
from flight.link.keys import KeyRing
from flight.link.pus import build_tc, parse_tm, request_id
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, TcFrame
from flight.link.tmframe import TmChannelFormat
from flight.link.vcdemux import VirtualChannelDemux
from flight.link_node import Arrival, FailureCode, LinkNode

ZD = load_dictionary()
NOW = 1_750_000_000.25
TIME_LEN = 6


class Bench:
    """Ground side (SDLS + CLTU) and the node, with a demux for everything that comes down."""

    def __init__(self) -> None:
        self.config = LinkConfig()
        keys = KeyRing.generate(["tc-0"])
        self.ground_sdls = Sdls(list(self.config.sdls.associations), keys)
        self.node = LinkNode(self.config, ZD, Sdls(list(self.config.sdls.associations), keys), lambda: NOW)
        self.codec = CltuCodec()
        self.n_s = 0
        tm = self.config.tm
        self.demux = VirtualChannelDemux(TmChannelFormat(self.config.spacecraft_id, tm.frame_length, tm.ocf, tm.fecf))
        self.clcws: list[Clcw] = []

    def uplink(self, packet: bytes) -> list[Arrival]:
        frame = TcFrame(self.config.spacecraft_id, 0, FrameType.AD, self.n_s, packet)
        self.n_s += 1
        return self.node.on_uplink(self.codec.encode(self.ground_sdls.protect(frame)))

    def downlink(self, frames: int = 6) -> list[bytes]:
        packets: list[bytes] = []
        for _ in range(frames):
            raw = self.node.next_frame()
            assert len(raw) == self.config.tm.frame_length
            result = self.demux.feed(raw)
            assert result.clcw is not None
            # the OCF of every frame carries FARM-1's CLCW, as it stands now
            assert result.clcw == self.node.receiver.farms[0].clcw()
            self.clcws.append(result.clcw)
            packets += result.packets
        return packets


def service1(raw: bytes) -> Service1Tm:
    return Service1Tm.unpack(raw, ManagedParams(TIME_LEN), ManagedParamsVerification())


def test_ping_is_accepted_answered_and_completed() -> None:
    bench = Bench()
    tc = encode_command(ZD, "PING", seq_count=5)
    (arrival,) = bench.uplink(tc)
    assert arrival == Arrival(apid=16, sequence_count=5, name="PING", arguments={})
    assert arrival.as_dict() == {"apid": 16, "sequence_count": 5, "name": "PING", "arguments": {},
                                 "accepted": True, "failure": None, "reason": ""}
    packets = bench.downlink()
    assert len(packets) == 4
    tms = [parse_tm(p, TIME_LEN) for p in packets]
    assert [(t.service, t.message_subtype) for t in tms] == [(1, 1), (1, 3), (17, 2), (1, 7)]
    assert all(t.apid == 16 for t in tms)
    assert [t.seq_count for t in tms] == [0, 1, 2, 3]
    assert all(ZD.mission.tm_time.decode(bytes(t.timestamp)) == NOW for t in tms)
    for raw in (packets[0], packets[1], packets[3]):
        report = service1(raw)
        assert report.tc_req_id.pack() == request_id(tc)
        assert not report.has_failure_notice
    assert tms[2].source_data == b""
    assert bench.node.counters["accepted"] == 1
    assert bench.clcws[-1].report_value == 1


def test_noop_and_reset_counters() -> None:
    bench = Bench()
    assert [a.name for a in bench.uplink(encode_command(ZD, "NOOP", seq_count=1))] == ["NOOP"]
    (arrival,) = bench.uplink(encode_command(ZD, "RESET_COUNTERS", {"service": "FARM"}, seq_count=2))
    assert arrival.name == "RESET_COUNTERS" and arrival.arguments == {"service": "FARM"}
    subtypes = [(t.service, t.message_subtype) for t in (parse_tm(p, TIME_LEN) for p in bench.downlink())]
    assert subtypes == [(1, 1), (1, 3), (1, 7), (1, 1), (1, 3), (1, 7)]
    assert bench.node.receiver.farms[0].counters["accepted_ad"] == 0  # RESET_COUNTERS really reset FARM-1's
    assert bench.node.receiver.counters["received"] == 2  # ... and only FARM-1's


def test_success_reports_follow_the_acknowledgement_flags() -> None:
    bench = Bench()
    bench.uplink(build_tc(16, 17, 1, seq_count=1, ack_flags=0b0000))
    assert [(t.service, t.message_subtype) for t in (parse_tm(p, TIME_LEN) for p in bench.downlink())] == [(17, 2)]
    bench.uplink(build_tc(16, 17, 1, seq_count=2, ack_flags=0b0001))
    assert [(t.service, t.message_subtype) for t in (parse_tm(p, TIME_LEN) for p in bench.downlink())] == [
        (17, 2), (1, 7)]
    bench.uplink(build_tc(16, 17, 3, seq_count=3, ack_flags=0b0000))  # failures are reported all the same
    assert [(t.service, t.message_subtype) for t in (parse_tm(p, TIME_LEN) for p in bench.downlink())] == [(1, 2)]


@pytest.mark.parametrize(("packet", "code", "field"), [
    (build_tc(16, 8, 1, b"\x00\x02" + msgpack.packb([99]), seq_count=9), FailureCode.BAD_ARGUMENT,
     "RESET_COUNTERS.service"),
    (build_tc(16, 8, 1, b"\x00\x02\xc1", seq_count=9), FailureCode.BAD_ARGUMENT, "RESET_COUNTERS"),
    (build_tc(16, 17, 1, b"\x01", seq_count=9), FailureCode.BAD_ARGUMENT, "PING"),
    (build_tc(16, 17, 3, seq_count=9), FailureCode.UNKNOWN_COMMAND, "opcode"),
    (build_tc(16, 8, 1, b"\x00\x07", seq_count=9), FailureCode.UNKNOWN_COMMAND, "opcode"),
    (build_tc(16, 8, 1, b"\x00", seq_count=9), FailureCode.BAD_ARGUMENT, "function_id"),
])
def test_rejected_commands_get_an_acceptance_failure(packet: bytes, code: FailureCode, field: str) -> None:
    bench = Bench()
    (arrival,) = bench.uplink(packet)
    assert arrival.name is None and arrival.failure is code
    assert arrival.sequence_count == 9 and arrival.apid == 16
    assert arrival.reason.startswith(f"command.{field}")
    assert arrival.as_dict()["accepted"] is False
    assert arrival.as_dict()["failure"] == code.name.lower()
    (raw,) = bench.downlink()
    report = service1(raw)
    assert (report.service, report.message_subtype) == (1, 2)
    assert report.tc_req_id.pack() == request_id(packet)
    assert report.has_failure_notice
    assert report.failure_notice.code.val == int(code)
    assert report.failure_notice.data == field.encode()
    assert bench.node.counters["rejected"] == 1


@pytest.mark.parametrize("packet", [
    build_tc(16, 17, 1)[:-1] + bytes([build_tc(16, 17, 1)[-1] ^ 0xFF]),  # CRC broken
    bytes([0x08, 0x10, 0xC0, 0x00, 0x00, 0x00, 0x00]),  # a TM packet on the uplink
    bytes([0x10, 0x10, 0xC0, 0x00, 0x00, 0x00, 0x00]),  # no secondary header
])
def test_malformed_packet(packet: bytes) -> None:
    bench = Bench()
    (arrival,) = bench.uplink(packet)
    assert arrival.failure is FailureCode.MALFORMED_PACKET
    assert arrival.name is None and arrival.apid == 16 and arrival.sequence_count == 0
    assert arrival.reason.startswith("packet.")
    (raw,) = bench.downlink()  # the request ID is still readable: the ground hears of it
    report = service1(raw)
    assert (report.service, report.message_subtype) == (1, 2)
    assert report.tc_req_id.pack() == packet[:4]
    assert report.failure_notice.code.val == int(FailureCode.MALFORMED_PACKET)
    assert bench.node.counters["rejected"] == 1


def test_several_commands_in_order_and_rejected_frames_give_nothing() -> None:
    bench = Bench()
    names = []
    for i, name in enumerate(["PING", "NOOP", "PING"]):
        names += [a.name for a in bench.uplink(encode_command(ZD, name, seq_count=i))]
    assert names == ["PING", "NOOP", "PING"]
    assert bench.node.on_uplink(b"\x00" * 40) == []  # not a CLTU
    forged = TcFrame(42, 0, FrameType.AD, bench.n_s, encode_command(ZD, "PING"))
    assert bench.node.on_uplink(bench.codec.encode(forged.pack())) == []  # no SDLS
    assert bench.node.receiver.counters["rejected"] == 2
    packets = bench.downlink(10)
    assert [(t.service, t.message_subtype) for t in (parse_tm(p, TIME_LEN) for p in packets)] == [
        (1, 1), (1, 3), (17, 2), (1, 7), (1, 1), (1, 3), (1, 7), (1, 1), (1, 3), (17, 2), (1, 7)]
    assert bench.clcws[-1].report_value == 3


def test_idle_downlink_still_carries_the_clcw() -> None:
    bench = Bench()
    assert bench.downlink(3) == []
    assert all(c.report_value == 0 and not c.lockout for c in bench.clcws)
    bench.uplink(encode_command(ZD, "PING"))
    bench.downlink(2)
    assert bench.clcws[-1].report_value == 1


def test_housekeeping_counters_are_named_as_the_dictionary_channels() -> None:
    bench = Bench()
    bench.uplink(encode_command(ZD, "PING"))
    bench.uplink(build_tc(16, 17, 3))  # unknown command
    forged = bytearray(bench.ground_sdls.protect(TcFrame(42, 0, FrameType.AD, bench.n_s, encode_command(ZD, "PING"))))
    forged[-3] ^= 1
    body = bytes(forged[:-2])
    bench.node.on_uplink(bench.codec.encode(body + crc16(body).to_bytes(2, "big")))
    bench.downlink(6)
    node = bench.node
    counters = node.housekeeping()
    expected = {"cmd.accepted": 1, "cmd.rejected": 1, "tc.received": 3, "tc.rejected": 1, "tc.packets": 2,
                "cltu.decoded": 3, "farm.accepted_ad": 2, "sdls.verified": 2, "sdls.rejected_bad_mac": 1,
                "tm_mux.frames": 6}
    for name, value in expected.items():
        assert ZD.channel(name) is not None, name
        assert counters.get(name) == value, (name, counters.get(name))
    assert counters.get("tm_mux.idle_frames", 0) >= 1


def test_an_arrival_with_a_bytes_argument_is_reported_as_json() -> None:
    bench = Bench()
    (arrival,) = bench.uplink(encode_command(ZD, "LINK_TEST", {"payload": b"\x01\xff"}))
    assert arrival.name == "LINK_TEST"
    assert json.loads(json.dumps(arrival.as_dict()))["arguments"] == {"payload": "01ff"}

"""Space packets and PUS-C: hand layouts, interop with spacepackets in both directions, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds.spacepacket import PacketType, SequenceFlags, SpacePacketHeader
from spacepackets.ecss import PusTc, PusTm

from flight.link.errors import PacketError
from flight.link.pus import (
    IDLE_APID,
    MAX_PACKET_LEN,
    MIN_PACKET_LEN,
    PacketHeader,
    SequenceCounter,
    build_tc,
    build_tm,
    idle_packet,
    parse_tc,
    parse_tm,
    request_id,
)

from ._helpers import GARBAGE, bits, crc16_ref, from_bits, only_zenith_errors

apids = st.integers(0, 0x7FE)
seq_counts = st.integers(0, 0x3FFF)
octet = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
payloads = st.binary(max_size=300)
TIMESTAMP_LEN = 6


def test_primary_header_by_hand():
    # 000 | 1 | 1 | 000 0010 1010 || 11 | 00 0000 0000 0101 || 0x0009
    raw = from_bits("000 1 1 00000101010" + "11 00000000000101" + bits(9, 16))
    assert raw == bytes.fromhex("182ac0050009")
    header = PacketHeader.unpack(raw)
    assert header == PacketHeader(packet_type=1, secondary_header_flag=True, apid=0x2A, sequence_flags=3,
                                  sequence_count=5, data_length=10)
    assert header.total_length == 16
    assert not header.is_idle


def test_build_tc_by_hand():
    raw = build_tc(0x12, 17, 1, b"ab", seq_count=7, source_id=0x1234, ack_flags=0b1010)
    # header: TC, sec header, APID 0x12; unsegmented, count 7; data length 5 + 2 + 2 - 1 = 8
    assert raw[:6] == bytes.fromhex("1812c0070008")
    # PUS-C TC data field header: version 2 | ack 1010, service 17, subtype 1, source ID 0x1234
    assert raw[6:11] == bytes.fromhex("2a11011234")
    assert raw[11:13] == b"ab"
    assert crc16_ref(raw) == 0
    assert request_id(raw) == bytes.fromhex("1812c007")


def test_build_tm_by_hand():
    raw = build_tm(0x12, 3, 25, b"xyz", bytes(range(6)), seq_count=9, message_counter=300,
                   destination_id=0x4321)
    # TM, sec header, APID 0x12; count 9; data length 7 + 6 + 3 + 2 - 1 = 17
    assert raw[:6] == bytes.fromhex("0812c0090011")
    # version 2 | time ref 0, service 3, subtype 25, message counter 300, destination 0x4321, time
    assert raw[6:13] == bytes.fromhex("2003190" + "12c4321")
    assert raw[13:19] == bytes(range(6))
    assert raw[19:22] == b"xyz"
    assert crc16_ref(raw) == 0


@given(st.integers(0, 1), st.booleans(), st.integers(0, 0x7FF), st.integers(0, 3), seq_counts,
       st.integers(0, 0xFFFF))
@settings(max_examples=500, deadline=None)
def test_header_matches_spacepackets(ptype, sec, apid, flags, count, length_field):
    theirs = SpacePacketHeader(PacketType(ptype), apid, count, length_field, sec_header_flag=sec,
                               seq_flags=SequenceFlags(flags))
    raw = theirs.pack()
    ours = PacketHeader.unpack(raw)
    assert (ours.packet_type, ours.secondary_header_flag, ours.apid) == (ptype, sec, apid)
    assert (ours.sequence_flags, ours.sequence_count) == (flags, count)
    assert ours.data_length == length_field + 1
    assert ours.total_length == theirs.packet_len
    assert ours.is_idle == (apid == IDLE_APID)


@given(st.integers(MIN_PACKET_LEN, 3000), octet)
@settings(max_examples=300, deadline=None)
def test_idle_packet_parses_with_spacepackets(length, pattern):
    raw = idle_packet(length, pattern)
    assert len(raw) == length
    theirs = SpacePacketHeader.unpack(raw)
    assert theirs.apid == IDLE_APID == 0x7FF
    assert not theirs.sec_header_flag
    assert theirs.packet_type == PacketType.TM
    assert theirs.seq_flags == SequenceFlags.UNSEGMENTED
    assert theirs.packet_len == length
    assert raw[6:] == bytes([pattern]) * (length - 6)
    header = PacketHeader.unpack(raw)
    assert header.is_idle and header.total_length == length


def test_idle_packet_limits():
    assert len(idle_packet(MAX_PACKET_LEN)) == 65542
    assert idle_packet(7) == bytes.fromhex("07ffc000000055")
    for length in (0, 6, MAX_PACKET_LEN + 1):
        with pytest.raises(PacketError):
            idle_packet(length)


@given(apids, octet, octet, payloads, seq_counts, u16, st.integers(0, 15))
@settings(max_examples=300, deadline=None)
def test_spacepackets_reads_zenith_tc(apid, service, subtype, app_data, seq, source_id, ack):
    raw = build_tc(apid, service, subtype, app_data, seq_count=seq, source_id=source_id, ack_flags=ack)
    for tc in (PusTc.unpack(raw), parse_tc(raw)):
        assert (tc.apid, tc.service, tc.message_subtype, tc.seq_count) == (apid, service, subtype, seq)
        assert bytes(tc.app_data) == app_data
        assert tc.source_id == source_id
        assert tc.pus_tc_sec_header.ack_flags == ack
    header = PacketHeader.unpack(raw)
    assert header.total_length == len(raw)
    assert header.packet_type == 1 and header.secondary_header_flag and header.apid == apid


@given(apids, octet, octet, payloads, st.binary(min_size=TIMESTAMP_LEN, max_size=TIMESTAMP_LEN), seq_counts,
       u16, u16)
@settings(max_examples=300, deadline=None)
def test_spacepackets_reads_zenith_tm(apid, service, subtype, source_data, stamp, seq, counter, dest):
    raw = build_tm(apid, service, subtype, source_data, stamp, seq_count=seq, message_counter=counter,
                   destination_id=dest)
    for tm in (PusTm.unpack(raw, timestamp_len=TIMESTAMP_LEN), parse_tm(raw, TIMESTAMP_LEN)):
        assert (tm.apid, tm.service, tm.message_subtype, tm.seq_count) == (apid, service, subtype, seq)
        assert bytes(tm.source_data) == source_data
        assert bytes(tm.timestamp) == stamp
        assert tm.pus_tm_sec_header.message_counter == counter
        assert tm.pus_tm_sec_header.dest_id == dest
    assert SpacePacketHeader.unpack(raw).packet_len == len(raw)


@given(apids, octet, octet, payloads, seq_counts, u16, st.integers(0, 15))
@settings(max_examples=300, deadline=None)
def test_zenith_reads_spacepackets_tc(apid, service, subtype, app_data, seq, source_id, ack):
    raw = PusTc(service=service, message_subtype=subtype, apid=apid, app_data=app_data, seq_count=seq,
                source_id=source_id, ack_flags=ack).pack()
    tc = parse_tc(raw)
    assert (tc.apid, tc.service, tc.message_subtype, tc.seq_count, tc.source_id) == (
        apid, service, subtype, seq, source_id)
    assert bytes(tc.app_data) == app_data
    header = PacketHeader.unpack(raw)
    assert (header.packet_type, header.apid, header.sequence_count, header.sequence_flags) == (1, apid, seq, 3)
    assert header.total_length == len(raw)
    assert raw == build_tc(apid, service, subtype, app_data, seq, source_id, ack)


@given(apids, octet, octet, payloads, st.binary(min_size=TIMESTAMP_LEN, max_size=TIMESTAMP_LEN), seq_counts,
       u16, u16)
@settings(max_examples=300, deadline=None)
def test_zenith_reads_spacepackets_tm(apid, service, subtype, source_data, stamp, seq, counter, dest):
    raw = PusTm(service=service, message_subtype=subtype, timestamp=stamp, source_data=source_data, apid=apid,
                seq_count=seq, message_counter=counter, destination_id=dest).pack()
    tm = parse_tm(raw, TIMESTAMP_LEN)
    assert (tm.apid, tm.service, tm.message_subtype, tm.seq_count) == (apid, service, subtype, seq)
    assert bytes(tm.source_data) == source_data and bytes(tm.timestamp) == stamp
    header = PacketHeader.unpack(raw)
    assert (header.packet_type, header.secondary_header_flag, header.apid) == (0, True, apid)
    assert header.total_length == len(raw)


def test_parse_rejections():
    tc = build_tc(1, 17, 1)
    tm = build_tm(1, 17, 2, b"", bytes(TIMESTAMP_LEN))
    cases = [
        (lambda: parse_tc(tm), "packet_type"),
        (lambda: parse_tm(tc, TIMESTAMP_LEN), "packet_type"),
        (lambda: parse_tc(bytes([tc[0] & ~0x08]) + tc[1:]), "secondary_header_flag"),
        (lambda: parse_tm(bytes([tm[0] & ~0x08]) + tm[1:], TIMESTAMP_LEN), "secondary_header_flag"),
        (lambda: parse_tc(tc[:-1] + bytes([tc[-1] ^ 1])), "pus"),  # bad packet CRC
        (lambda: parse_tm(tm[:-1] + bytes([tm[-1] ^ 1]), TIMESTAMP_LEN), "pus"),
        (lambda: parse_tc(tc + b"\x00"), "data_length"),
        (lambda: parse_tc(tc[:-1]), "data_length"),
        (lambda: parse_tc(bytes([tc[0] | 0x20]) + tc[1:]), "version"),
        (lambda: PacketHeader.unpack(tc[:5]), "header"),
    ]
    for call, field in cases:
        with pytest.raises(PacketError) as info:
            call()
        assert info.value.field == field


def test_sequence_counter_wraps_per_apid():
    counter = SequenceCounter({5: 16382})
    assert [counter.next(5) for _ in range(4)] == [16382, 16383, 0, 1]
    assert [counter.next(6) for _ in range(2)] == [0, 1]
    assert counter.state() == {5: 2, 6: 2}
    state = counter.state()
    state[5] = 99  # a copy, not the live table
    assert counter.next(5) == 2


@given(GARBAGE, st.integers(0, 12))
@settings(max_examples=800, deadline=None)
def test_garbage_raises_only_packet_errors(raw, stamp_len):
    only_zenith_errors(PacketHeader.unpack, raw)
    only_zenith_errors(parse_tc, raw)
    only_zenith_errors(parse_tm, raw, stamp_len)


@given(st.binary(min_size=6, max_size=6), st.binary(min_size=1, max_size=200), st.integers(0, 12),
       st.booleans())
@settings(max_examples=800, deadline=None)
def test_structured_garbage_with_consistent_length(head, data, stamp_len, fix_crc):
    # A header whose length field matches, version 0, and optionally a valid packet CRC at the end,
    # so that spacepackets' own parsing is reached.
    raw = bytes([head[0] & 0x1F]) + head[1:4] + (len(data) - 1).to_bytes(2, "big") + data
    if fix_crc and len(data) >= 2:
        raw = raw[:-2] + crc16_ref(raw[:-2]).to_bytes(2, "big")
    assert PacketHeader.unpack(raw).total_length == len(raw)
    only_zenith_errors(parse_tc, raw)
    only_zenith_errors(parse_tm, raw, stamp_len)

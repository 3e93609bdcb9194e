"""TM Transfer Frames (CCSDS 132.0-B-3): bit layout, round trips, spacepackets interop, rejections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ccsds.tm_frame import (
    MasterChannelId,
    TmFramePrimaryHeader,
    TmTransferFrame,
    TransferFrameDataFieldStatus,
    TransferFrameSecondaryHeader,
)

from flight.link.errors import TmFrameError
from flight.link.tmframe import (
    FHP_IDLE,
    FHP_NO_PACKET_START,
    MAX_FRAME_LEN,
    TmChannelFormat,
    TmFrame,
)

from ._helpers import GARBAGE, bits, crc16_ref, from_bits, only_zenith_errors, with_fecf


@st.composite
def tm_frames(draw, max_len: int = MAX_FRAME_LEN):
    secondary = draw(st.none() | st.binary(min_size=1, max_size=63))
    ocf = draw(st.none() | st.binary(min_size=4, max_size=4))
    has_fecf = draw(st.booleans())
    sync = draw(st.booleans())
    overhead = 6 + (1 + len(secondary) if secondary is not None else 0) + 4 * (ocf is not None) + 2 * has_fecf
    room = max_len - overhead
    size = draw(st.one_of(st.integers(0, 60), st.integers(0, room), st.just(room)))
    data = draw(st.binary(min_size=size, max_size=size))
    if sync:
        fhp = draw(st.integers(0, 0x7FF))
    else:
        choices = [st.just(FHP_NO_PACKET_START), st.just(FHP_IDLE)]
        if data:
            choices.append(st.integers(0, len(data) - 1))
        fhp = draw(st.one_of(*choices))
    frame = TmFrame(
        spacecraft_id=draw(st.integers(0, 0x3FF)),
        virtual_channel_id=draw(st.integers(0, 7)),
        master_channel_frame_count=draw(st.integers(0, 255)),
        virtual_channel_frame_count=draw(st.integers(0, 255)),
        first_header_pointer=fhp,
        data=data,
        ocf=ocf,
        secondary_header=secondary,
        sync_flag=sync,
        packet_order_flag=draw(st.booleans()),
        segment_length_id=draw(st.integers(0, 3)),
    )
    return frame, has_fecf


def reference_pack(f: TmFrame, has_fecf: bool) -> bytes:
    text = (
        "00" + bits(f.spacecraft_id, 10) + bits(f.virtual_channel_id, 3) + bits(f.ocf is not None, 1)
        + bits(f.master_channel_frame_count, 8) + bits(f.virtual_channel_frame_count, 8)
        + bits(f.secondary_header is not None, 1) + bits(f.sync_flag, 1) + bits(f.packet_order_flag, 1)
        + bits(f.segment_length_id, 2) + bits(f.first_header_pointer, 11)
    )
    raw = from_bits(text)
    if f.secondary_header is not None:
        # ID octet: version 00, length = total secondary header octets - 1 = data octets.
        raw += from_bits("00" + bits(len(f.secondary_header), 6)) + f.secondary_header
    raw += f.data + (f.ocf or b"")
    return with_fecf(raw) if has_fecf else raw


# --- exact layouts --------------------------------------------------------------------------------

def test_primary_header_by_hand():
    frame = TmFrame(0x2A, 3, 0x12, 0x34, FHP_NO_PACKET_START, bytes(10), ocf=b"\x01\x02\x03\x04")
    raw = frame.pack()
    # 00 00 0010 1010 | 011 | 1 ; MC 0x12 ; VC 0x34 ; 0 0 0 11 111 1111 1111
    assert raw[:6] == bytes.fromhex("02a712341fff")
    assert raw[-6:-2] == b"\x01\x02\x03\x04"
    assert crc16_ref(raw) == 0
    assert len(raw) == 6 + 10 + 4 + 2


def test_fhp_special_values_are_11_bit():
    assert FHP_NO_PACKET_START == 0x7FF
    assert FHP_IDLE == 0x7FE
    raw = TmFrame(1, 7, 0, 0, FHP_IDLE, bytes(8)).pack()
    assert raw[4:6] == bytes.fromhex("1ffe")
    raw = TmFrame(1, 0, 0, 0, 0, bytes(8)).pack()
    assert raw[4:6] == bytes.fromhex("1800")
    raw = TmFrame(1, 0, 0, 0, 0x123, bytes(0x200)).pack()
    assert raw[4:6] == bytes.fromhex("1923")


def test_secondary_header_by_hand():
    frame = TmFrame(0x3FF, 7, 0xFF, 0x00, 0, b"pkt", secondary_header=b"\xaa\xbb\xcc")
    raw = frame.pack(has_fecf=False)
    # 00 11 1111 1111 | 111 | 0 ; then secondary header flag 1
    assert raw[:2] == bytes.fromhex("3ffe")
    assert raw[4:6] == bytes.fromhex("9800")
    assert raw[6:10] == bytes.fromhex("03aabbcc")  # ID octet: version 00, length 4 - 1 = 3
    assert raw[10:] == b"pkt"


def test_flags_by_hand():
    frame = TmFrame(0, 0, 0, 0, 5, bytes(8), sync_flag=True, packet_order_flag=True, segment_length_id=0b01)
    assert frame.pack(has_fecf=False)[4:6] == from_bits("0 1 1 01 000 0000 0101")


# --- round trips ----------------------------------------------------------------------------------

@given(tm_frames())
@settings(max_examples=500, deadline=None)
def test_round_trip_all_fields(case):
    frame, has_fecf = case
    raw = frame.pack(has_fecf)
    assert raw == reference_pack(frame, has_fecf)
    assert TmFrame.unpack(raw, has_fecf=has_fecf, frame_length=len(raw)) == frame


@given(tm_frames(max_len=MAX_FRAME_LEN - 1))
@settings(max_examples=400, deadline=None)
def test_spacepackets_reads_what_zenith_writes(case):
    frame, has_fecf = case
    raw = frame.pack(has_fecf)
    theirs = TmTransferFrame.unpack(raw, len(raw), has_error_control_field=has_fecf)
    head = theirs.primary_header
    status = head.frame_datafield_status
    assert head.master_channel_id.transfer_frame_version == 0
    assert head.master_channel_id.spacecraft_id == frame.spacecraft_id
    assert head.vc_id == frame.virtual_channel_id
    assert head.ocf_flag == (frame.ocf is not None)
    assert head.master_ch_frame_count == frame.master_channel_frame_count
    assert head.vc_frame_count == frame.virtual_channel_frame_count
    assert status.secondary_header_flag == (frame.secondary_header is not None)
    assert status.sync_flag == frame.sync_flag
    assert status.packet_order_flag == frame.packet_order_flag
    assert status.segment_len_id == frame.segment_length_id
    assert status.first_header_pointer == frame.first_header_pointer
    if frame.secondary_header is not None:
        assert theirs.secondary_header.version_number == 0
        assert theirs.secondary_header.data_field == frame.secondary_header
    assert bytes(theirs.data_field) == frame.data
    assert (bytes(theirs.op_ctrl_field) if theirs.op_ctrl_field is not None else None) == frame.ocf


@given(tm_frames(max_len=MAX_FRAME_LEN - 1))
@settings(max_examples=300, deadline=None)
def test_zenith_reads_what_spacepackets_writes(case):
    frame, has_fecf = case
    length = len(frame.pack(has_fecf))
    secondary = None
    if frame.secondary_header is not None:
        secondary = TransferFrameSecondaryHeader(0, len(frame.secondary_header), frame.secondary_header)
    theirs = TmTransferFrame(
        length=length,
        primary_header=TmFramePrimaryHeader(
            MasterChannelId(0, frame.spacecraft_id), frame.virtual_channel_id, frame.ocf is not None,
            frame.master_channel_frame_count, frame.virtual_channel_frame_count,
            TransferFrameDataFieldStatus(frame.secondary_header is not None, frame.sync_flag,
                                         frame.packet_order_flag, frame.segment_length_id,
                                         frame.first_header_pointer),
        ),
        secondary_header=secondary,
        data_field=frame.data,
        op_ctrl_field=frame.ocf,
        frame_error_control=b"\x00\x00" if has_fecf else None,
    )
    raw = theirs.pack()
    if has_fecf:  # spacepackets leaves the FECF to the caller
        raw = with_fecf(raw[:-2])
    assert TmFrame.unpack(raw, has_fecf=has_fecf, frame_length=length) == frame


# --- channel format -------------------------------------------------------------------------------

def test_channel_format_data_field_length():
    assert TmChannelFormat(1).data_field_len == 1115 - 6 - 4 - 2
    assert TmChannelFormat(1, 100, has_ocf=False, has_fecf=False).data_field_len == 94
    assert TmChannelFormat(1, 100, secondary_header_len=9).data_field_len == 100 - 6 - 10 - 4 - 2
    assert TmChannelFormat(1, 2048).data_field_len == 2048 - 12


@pytest.mark.parametrize("kwargs", [
    {"spacecraft_id": 1024},
    {"spacecraft_id": -1},
    {"spacecraft_id": 1, "secondary_header_len": 64},
    {"spacecraft_id": 1, "secondary_header_len": -1},
    {"spacecraft_id": 1, "frame_length": 2049},
    {"spacecraft_id": 1, "frame_length": 19},  # 6 + 4 + 2 + 7 data octets: too small
])
def test_channel_format_rejects(kwargs):
    with pytest.raises(TmFrameError):
        TmChannelFormat(**kwargs)


# --- rejections ------------------------------------------------------------------------------------

def test_pack_rejects():
    with pytest.raises(TmFrameError) as info:
        TmFrame(1, 8, 0, 0, 0, b"x").pack()
    assert info.value.field == "virtual_channel_id"
    for secondary in (b"", bytes(64)):
        with pytest.raises(TmFrameError) as info:
            TmFrame(1, 0, 0, 0, 0, b"x", secondary_header=secondary).pack()
        assert info.value.field == "secondary_header"
    for ocf in (b"", b"\x00\x00\x00", bytes(5)):
        with pytest.raises(TmFrameError) as info:
            TmFrame(1, 0, 0, 0, 0, b"x", ocf=ocf).pack()
        assert info.value.field == "ocf"
    with pytest.raises(TmFrameError) as info:
        TmFrame(1, 0, 0, 0, 0, bytes(2048 - 7)).pack()
    assert info.value.field == "frame_length"
    assert len(TmFrame(1, 0, 0, 0, 0, bytes(2048 - 8)).pack()) == 2048


@pytest.mark.parametrize("kwargs", [{"spacecraft_id": 0x400}, {"first_header_pointer": 0x800},
                                    {"first_header_pointer": 0x10000}, {"spacecraft_id": -1},
                                    {"first_header_pointer": -1}])
def test_pack_range_checks_header_fields(kwargs):
    # Regression: these used to corrupt the TFVN / segment length ID bits or leak struct.error.
    args = {"spacecraft_id": 1, "virtual_channel_id": 0, "master_channel_frame_count": 0,
            "virtual_channel_frame_count": 0, "first_header_pointer": 0, "data": bytes(8)} | kwargs
    with pytest.raises(TmFrameError):
        TmFrame(**args).pack()


def _frame(**kwargs) -> bytes:
    args = {"spacecraft_id": 5, "virtual_channel_id": 1, "master_channel_frame_count": 0,
            "virtual_channel_frame_count": 0, "first_header_pointer": 0, "data": bytes(10)} | kwargs
    return TmFrame(**args).pack()


def test_unpack_rejections():
    raw = _frame()
    cases = [
        (raw, {"frame_length": len(raw) + 1}, "frame_length"),
        (raw[:7], {}, "frame_length"),
        (b"", {"has_fecf": False}, "frame_length"),
        (bytes(2049), {"has_fecf": False}, "frame_length"),
        (with_fecf(bytes([0x40]) + raw[1:-2]), {}, "version"),
        (with_fecf(bytes([0xC0]) + raw[1:-2]), {}, "version"),
        (raw[:-1] + bytes([raw[-1] ^ 1]), {}, "fecf"),
        # OCF flag set but no room for it
        (with_fecf(bytes.fromhex("0051000018")), {}, "frame_length"),
        (with_fecf(bytes.fromhex("005100001800")), {}, "ocf"),
        # secondary header: flag set, data field empty / version 01 / length past the end
        (with_fecf(bytes.fromhex("005000009800")), {}, "secondary_header"),
        (with_fecf(bytes.fromhex("00500000980040aabb")), {}, "secondary_header"),
        (with_fecf(bytes.fromhex("00500000980005aabb")), {}, "secondary_header"),
        # FHP beyond the data field
        (with_fecf(bytes.fromhex("0050000018030000")), {}, "first_header_pointer"),
        (with_fecf(bytes.fromhex("005000001802aabb")), {}, "first_header_pointer"),
        (with_fecf(bytes.fromhex("0050000018000000")[:6]), {}, "first_header_pointer"),
    ]
    for data, kwargs, field in cases:
        with pytest.raises(TmFrameError) as info:
            TmFrame.unpack(data, **kwargs)
        assert info.value.field == field, (data.hex(), field)


def test_lenient_fecf():
    raw = bytearray(_frame())
    raw[8] ^= 0xFF
    frame = TmFrame.unpack(bytes(raw), strict=False)
    assert not frame.fecf_ok
    assert frame.data[2] == 0xFF
    assert TmFrame.unpack(bytes(raw), has_fecf=False).fecf_ok


def test_fhp_pointing_at_last_octet_and_sync_flag_fhp():
    assert TmFrame.unpack(with_fecf(bytes.fromhex("005000001801aabb"))).first_header_pointer == 1
    # With the synchronisation flag set the FHP is not a packet pointer and is not bounds-checked.
    assert TmFrame.unpack(with_fecf(bytes.fromhex("005000005fffaabb"))).first_header_pointer == 0x7FF
    assert TmFrame.unpack(with_fecf(bytes.fromhex("0050000040ffaabb"))).first_header_pointer == 0xFF


# --- garbage in -------------------------------------------------------------------------------------

@given(GARBAGE, st.booleans(), st.booleans())
@settings(max_examples=600, deadline=None)
def test_garbage_raises_only_tm_frame_errors(raw, has_fecf, strict):
    only_zenith_errors(TmFrame.unpack, raw, has_fecf=has_fecf, strict=strict)
    only_zenith_errors(TmFrame.unpack, raw, has_fecf=has_fecf, frame_length=len(raw))


@given(st.binary(min_size=6, max_size=6), st.binary(max_size=300))
@settings(max_examples=600, deadline=None)
def test_structured_garbage_with_valid_fecf(head, rest):
    head = bytes([head[0] & 0x3F]) + head[1:]  # version 0, so decoding goes past the first check
    raw = with_fecf(head + rest)
    frame = only_zenith_errors(TmFrame.unpack, raw)
    if frame is not None:
        assert frame.pack() == raw


def test_unpack_rejects_empty_secondary_header():
    # Regression: a length field of 0 (a lone ID octet) was accepted, though pack() cannot produce it.
    raw = with_fecf(bytes.fromhex("005000009800") + b"\x00" + b"data")
    with pytest.raises(TmFrameError):
        TmFrame.unpack(raw)

"""TC Transfer Frames (CCSDS 232.0-B-4): bit layout, round trips, rejection of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.errors import TcFrameError
from flight.link.tcframe import (
    MAX_FRAME_LEN,
    FrameType,
    SegmentHeader,
    SequenceFlags,
    SetVr,
    TcFrame,
    Unlock,
    declared_length,
    decode_control,
    encode_control,
)

from ._helpers import GARBAGE, bits, crc16_ref, from_bits, only_zenith_errors, with_fecf

FLAGS = {FrameType.AD: (0, 0), FrameType.BD: (1, 0), FrameType.BC: (1, 1)}


@st.composite
def control_commands(draw):
    return draw(st.one_of(st.just(Unlock()), st.builds(SetVr, st.integers(0, 255))))


@st.composite
def tc_frames(draw, segmented: bool | None = None, max_len: int = MAX_FRAME_LEN):
    frame_type = draw(st.sampled_from(FrameType))
    scid = draw(st.integers(0, 0x3FF))
    vcid = draw(st.integers(0, 0x3F))
    seq = draw(st.integers(0, 0xFF))
    if frame_type is FrameType.BC:
        return TcFrame(scid, vcid, FrameType.BC, seq, encode_control(draw(control_commands())))
    use_segment = draw(st.booleans()) if segmented is None else segmented
    segment = None
    if use_segment:
        segment = SegmentHeader(draw(st.sampled_from(SequenceFlags)), draw(st.integers(0, 0x3F)))
    room = max_len - 7 - use_segment
    size = draw(st.one_of(st.integers(0, 40), st.integers(0, room), st.just(room)))
    return TcFrame(scid, vcid, frame_type, seq, draw(st.binary(min_size=size, max_size=size)), segment)


def reference_pack(frame: TcFrame) -> bytes:
    """The frame built bit by bit from the 232.0-B table, independently of TcFrame.pack."""
    bypass, ctrl = FLAGS[frame.frame_type]
    total = 5 + (frame.segment is not None) + len(frame.data) + 2
    text = (
        "00" + bits(bypass, 1) + bits(ctrl, 1) + "00" + bits(frame.spacecraft_id, 10)
        + bits(frame.virtual_channel_id, 6) + bits(total - 1, 10) + bits(frame.frame_sequence_number, 8)
    )
    if frame.segment is not None:
        text += bits(int(frame.segment.sequence_flags), 2) + bits(frame.segment.map_id, 6)
    return with_fecf(from_bits(text) + frame.data)


# --- exact layouts computed by hand ------------------------------------------------------------

def test_bc_unlock_scid_0x2a_vc1_by_hand():
    # 00 | bypass 1 | ctrl 1 | spare 00 | SCID 00 0010 1010 || VC 000001 | length 7 = 00 0000 0111 || N(S) 0
    header = from_bits("0011_0000 0010_1010 0000_0100 0000_0111 0000_0000")
    assert header == bytes.fromhex("302a040700")
    raw = TcFrame.bc(0x2A, 1, Unlock()).pack()
    assert raw[:5] == header
    assert raw[5:6] == b"\x00"  # Unlock directive
    assert len(raw) == 8
    assert raw[6:] == crc16_ref(raw[:6]).to_bytes(2, "big")


def test_bc_set_vr_by_hand():
    raw = TcFrame.bc(0x2A, 1, SetVr(0x9C)).pack()
    assert raw[:5] == bytes.fromhex("302a040900")  # 10 octets: length field 9
    assert raw[5:8] == bytes.fromhex("82009c")
    assert TcFrame.unpack(raw).control == SetVr(0x9C)


def test_ad_frame_with_segment_header_by_hand():
    frame = TcFrame(0x3FF, 63, FrameType.AD, 0xAB, b"\x01\x02", SegmentHeader(SequenceFlags.LAST, 5))
    raw = frame.pack()
    # 00 0 0 00 11 1111 1111 | 111111 00 0000 1001 | 1010 1011 | 10 000101
    assert raw[:6] == bytes.fromhex("03fffc09ab85")
    assert raw[6:8] == b"\x01\x02"
    assert crc16_ref(raw) == 0


def test_bd_frame_by_hand():
    raw = TcFrame(0x155, 0x2A, FrameType.BD, 0, b"abc").pack()
    # 00 1 0 00 01 0101 0101 | 101010 00 0000 1001 | 0
    assert raw[:5] == bytes.fromhex("2155a80900")


@pytest.mark.parametrize(
    ("flags", "frame_type"), [((0, 0), FrameType.AD), ((1, 0), FrameType.BD), ((1, 1), FrameType.BC)]
)
def test_flag_combinations_decode_to_types(flags, frame_type):
    bypass, ctrl = flags
    data = b"\x00" if frame_type is FrameType.BC else b"xyz"
    total = 7 + len(data)
    raw = with_fecf(from_bits("00" + bits(bypass, 1) + bits(ctrl, 1) + "00" + bits(7, 10) + bits(3, 6)
                              + bits(total - 1, 10) + bits(9, 8)) + data)
    frame = TcFrame.unpack(raw)
    assert frame.frame_type is frame_type
    assert frame.bypass == bool(bypass)
    assert frame.control_command == bool(ctrl)
    assert (frame.spacecraft_id, frame.virtual_channel_id, frame.frame_sequence_number) == (7, 3, 9)


def test_control_command_encodings():
    assert encode_control(Unlock()) == b"\x00"
    for value in (0, 1, 0x7F, 0xFF):
        assert encode_control(SetVr(value)) == bytes([0x82, 0x00, value])
        assert decode_control(bytes([0x82, 0x00, value])) == SetVr(value)
    assert decode_control(b"\x00") == Unlock()


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00\x00", b"\x82\x00", b"\x82\x01\x05", b"\x83\x00\x05",
                                  b"\x82\x00\x05\x00", b"\xff"])
def test_invalid_control_commands(data):
    with pytest.raises(TcFrameError) as info:
        decode_control(data)
    assert info.value.field == "control"
    frame = TcFrame.unpack(TcFrame(1, 1, FrameType.BC, 0, data).pack())
    with pytest.raises(TcFrameError):
        _ = frame.control


@pytest.mark.parametrize("value", [-1, 256])
def test_set_vr_out_of_range(value):
    with pytest.raises(TcFrameError):
        encode_control(SetVr(value))


def test_control_of_a_data_frame_raises():
    with pytest.raises(TcFrameError) as info:
        _ = TcFrame(1, 1, FrameType.AD, 0, b"\x00").control
    assert info.value.field == "control_command"


# --- round trips ---------------------------------------------------------------------------------

@given(tc_frames())
@settings(max_examples=500, deadline=None)
def test_round_trip_all_fields(frame):
    raw = frame.pack()
    assert raw == reference_pack(frame)
    assert len(raw) == frame.length() <= MAX_FRAME_LEN
    assert declared_length(raw) == len(raw)
    back = TcFrame.unpack(raw, segmented=frame.segment is not None)
    assert back == frame
    assert back.fecf_ok


@given(tc_frames(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_bc_frames_never_carry_a_segment_header(frame, segmented):
    if frame.frame_type is not FrameType.BC:
        return
    back = TcFrame.unpack(frame.pack(), segmented=segmented)
    assert back.segment is None
    assert back.data == frame.data
    assert isinstance(back.control, Unlock | SetVr)


def test_header_for_a_longer_frame():
    frame = TcFrame(5, 2, FrameType.AD, 1, b"ab", SegmentHeader(SequenceFlags.FIRST, 3))
    head = frame.header(total_length=100)
    assert len(head) == 6
    assert (int.from_bytes(head[2:4], "big") & 0x3FF) + 1 == 100
    assert head[5] == 0b01_000011


def test_maximum_frame_is_1024_octets():
    frame = TcFrame(1, 1, FrameType.AD, 0, bytes(1024 - 7))
    raw = frame.pack()
    assert len(raw) == 1024
    assert raw[2:4] == bytes.fromhex("07ff")  # VC 000001, length 1023 = 11 1111 1111
    assert TcFrame.unpack(raw) == frame
    with pytest.raises(TcFrameError) as info:
        TcFrame(1, 1, FrameType.AD, 0, bytes(1024 - 6)).pack()
    assert info.value.field == "frame_length"
    with pytest.raises(TcFrameError):
        TcFrame(1, 1, FrameType.AD, 0, bytes(1024 - 7), SegmentHeader()).pack()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"spacecraft_id": 1024}, "spacecraft_id"),
        ({"spacecraft_id": -1}, "spacecraft_id"),
        ({"virtual_channel_id": 64}, "virtual_channel_id"),
        ({"frame_sequence_number": 256}, "frame_sequence_number"),
        ({"segment": SegmentHeader(SequenceFlags.FIRST, 64)}, "segment.map_id"),
        ({"frame_type": FrameType.BC, "data": b"\x00", "segment": SegmentHeader()}, "segment"),
    ],
)
def test_pack_rejects_out_of_range_fields(kwargs, field):
    args = {"spacecraft_id": 1, "virtual_channel_id": 1, "frame_type": FrameType.AD, "data": b"x"} | kwargs
    with pytest.raises(TcFrameError) as info:
        TcFrame(**args).pack()
    assert info.value.field == field


# --- rejection of bad frames ------------------------------------------------------------------------

def _raw(first_bits: str, data: bytes = b"abc", length_delta: int = 0) -> bytes:
    total = 7 + len(data)
    return with_fecf(from_bits(first_bits + bits(1, 6) + bits(total - 1 + length_delta, 10) + bits(0, 8)) + data)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (_raw("01" + "0000" + bits(5, 10)), "version"),
        (_raw("10" + "0000" + bits(5, 10)), "version"),
        (_raw("00" + "00" + "01" + bits(5, 10)), "spare"),
        (_raw("00" + "00" + "10" + bits(5, 10)), "spare"),
        (_raw("00" + "01" + "00" + bits(5, 10)), "control_command"),  # ctrl without bypass: reserved
        (_raw("00" + "00" + "00" + bits(5, 10), length_delta=1), "frame_length"),
        (_raw("00" + "00" + "00" + bits(5, 10), length_delta=-1), "frame_length"),
        (b"\x00" * 6, "frame_length"),
        (b"", "frame_length"),
    ],
)
def test_unpack_rejects(raw, field):
    with pytest.raises(TcFrameError) as info:
        TcFrame.unpack(raw)
    assert info.value.field == field


def test_bad_fecf_strict_and_lenient():
    raw = bytearray(TcFrame(3, 4, FrameType.AD, 5, b"payload").pack())
    raw[6] ^= 0x10
    with pytest.raises(TcFrameError) as info:
        TcFrame.unpack(bytes(raw))
    assert info.value.field == "fecf"
    frame = TcFrame.unpack(bytes(raw), strict=False)
    assert not frame.fecf_ok
    assert frame.data[1:2] == bytes([ord("a") ^ 0x10])


def test_segmented_frame_too_short_for_its_segment_header():
    raw = with_fecf(from_bits("00000000" + bits(5, 8) + bits(1, 6) + bits(6, 10) + bits(0, 8)))
    assert TcFrame.unpack(raw).data == b""
    with pytest.raises(TcFrameError) as info:
        TcFrame.unpack(raw, segmented=True)
    assert info.value.field == "segment"


def test_declared_length():
    assert declared_length(bytes.fromhex("302a040700")) == 8
    with pytest.raises(TcFrameError):
        declared_length(b"\x30\x2a\x04\x07")


# --- garbage in -------------------------------------------------------------------------------------

@given(GARBAGE, st.booleans(), st.booleans())
@settings(max_examples=600, deadline=None)
def test_garbage_raises_only_tc_frame_errors(raw, segmented, strict):
    frame = only_zenith_errors(TcFrame.unpack, raw, segmented=segmented, strict=strict)
    if frame is not None and frame.frame_type is FrameType.BC:
        only_zenith_errors(lambda: frame.control)
    only_zenith_errors(declared_length, raw)
    only_zenith_errors(decode_control, raw[:4])


@given(st.binary(min_size=5, max_size=5), st.binary(max_size=1100), st.booleans())
@settings(max_examples=600, deadline=None)
def test_structured_garbage_with_consistent_length_and_fecf(head, data, segmented):
    # Arbitrary header bits, but with a matching length field and FECF so decoding goes all the way.
    total = 5 + len(data) + 2
    head = bytearray(head)
    head[2] = (head[2] & 0xFC) | (((total - 1) >> 8) & 0x03)
    head[3] = (total - 1) & 0xFF
    raw = with_fecf(bytes(head) + data)
    frame = only_zenith_errors(TcFrame.unpack, raw, segmented=segmented)
    if frame is not None:
        assert total <= MAX_FRAME_LEN
        assert frame.pack() == raw
        if frame.frame_type is FrameType.BC:
            only_zenith_errors(lambda: frame.control)

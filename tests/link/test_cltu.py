"""CLTUs (CCSDS 231.0-B-4): start/tail sequences, BCH(63,56) parity, fill, TC randomizer, error
correction, end-of-CLTU detection, garbage in."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.cltu import (
    FILL,
    START_SEQUENCE,
    TAIL_SEQUENCE,
    CltuCodec,
    CltuConfig,
    parity_octet,
    randomize,
)
from flight.link.errors import CltuError
from flight.link.tcframe import FrameType, TcFrame

from ._helpers import GARBAGE, only_zenith_errors

PLAIN = CltuConfig(randomize=False)
NO_CORRECTION = CltuConfig(randomize=False, correct_errors=False)


def bch_parity_ref(info: bytes) -> int:
    """Polynomial long division by g(x) = x^7 + x^6 + x^2 + 1, complemented, then a 0 filler bit."""
    value = int.from_bytes(info, "big") << 7  # m(x) * x^7
    generator = 0b11000101
    for shift in range(len(info) * 8 - 1, -1, -1):
        if value >> (shift + 7) & 1:
            value ^= generator << shift
    return ((~value) & 0x7F) << 1


def tc_randomizer_ref(length: int) -> bytes:
    """h(x) = x^8+x^6+x^4+x^3+x^2+x+1 from all ones, as a Fibonacci LFSR on an 8-bit register.

    Checked against the first 16 octets quoted in the notes (verified there against yamcs).
    """
    reg = 0xFF  # x^0 .. x^7 stages, output from the top
    out = bytearray()
    for _ in range(length):
        octet = 0
        for _ in range(8):
            bit = (reg >> 7) & 1
            octet = (octet << 1) | bit
            feedback = 0
            for tap in (7, 6, 5, 4, 3, 1):  # the terms x^0..x^4 and x^6 of h(x), oldest bit at the top
                feedback ^= (reg >> tap) & 1
            reg = ((reg << 1) | feedback) & 0xFF
        out.append(octet)
    return bytes(out)


@st.composite
def frames(draw, max_data: int = 1017):
    size = draw(st.one_of(st.integers(0, 30), st.integers(0, max_data)))
    frame_type = draw(st.sampled_from([FrameType.AD, FrameType.BD]))
    return TcFrame(draw(st.integers(0, 1023)), draw(st.integers(0, 63)), frame_type, draw(st.integers(0, 255)),
                   draw(st.binary(min_size=size, max_size=size))).pack()


# --- exact values ---------------------------------------------------------------------------------------

def test_start_and_tail_sequences():
    assert bytes.fromhex("eb90") == START_SEQUENCE
    assert bytes.fromhex("c5c5c5c5c5c5c579") == TAIL_SEQUENCE
    assert FILL == 0x55


def test_zero_codeblock_parity_is_0xfe():
    assert parity_octet(bytes(7)) == 0xFE
    assert bch_parity_ref(bytes(7)) == 0xFE


def test_encode_layout_without_randomizer():
    frame = bytes(7) + b"\x01"
    cltu = CltuCodec(PLAIN).encode(frame)
    assert cltu[:2] == START_SEQUENCE
    assert cltu[2:10] == bytes(7) + b"\xfe"
    assert cltu[10:17] == b"\x01" + b"\x55" * 6  # the last block is filled with 0x55
    assert cltu[17] == bch_parity_ref(cltu[10:17])
    assert cltu[18:] == TAIL_SEQUENCE
    assert len(cltu) == 2 + 2 * 8 + 8


def test_randomizer_first_16_octets():
    expected = bytes.fromhex("ff399e5a68e906f56c892fa1315e08c0")
    assert randomize(bytes(16)) == expected
    assert tc_randomizer_ref(16) == expected


def test_randomizer_matches_reference_and_has_period_255():
    stream = randomize(bytes(1031))
    assert stream == tc_randomizer_ref(1031)
    assert stream[:255] == stream[255:510] == stream[510:765]
    assert len(set(stream[:255])) > 200  # not degenerate


def test_randomized_cltu_layout():
    frame = TcFrame(0x2A, 1, FrameType.AD, 0, b"hello world").pack()
    cltu = CltuCodec().encode(frame)
    assert cltu[2:9] == bytes(a ^ b for a, b in zip(frame[:7], bytes.fromhex("ff399e5a68e906"), strict=True))
    assert cltu[9] == parity_octet(cltu[2:9])
    assert CltuCodec().decode(cltu) == frame


@given(st.binary(min_size=7, max_size=7))
@settings(max_examples=500, deadline=None)
def test_parity_matches_polynomial_division(info):
    assert parity_octet(info) == bch_parity_ref(info)
    assert parity_octet(info) & 1 == 0  # filler bit


@given(st.binary(max_size=1031))
@settings(max_examples=200, deadline=None)
def test_randomize_is_an_involution(data):
    assert randomize(randomize(data)) == data


def test_randomize_rejects_more_than_the_largest_frame():
    with pytest.raises(CltuError):
        randomize(bytes(1032))
    with pytest.raises(CltuError):
        CltuCodec().encode(bytes(1032))


# --- round trips ---------------------------------------------------------------------------------------

@given(frames(), st.booleans(), st.sampled_from([b"", b"\x55\xaa" * 4, b"\xaa"]))
@settings(max_examples=300, deadline=None)
def test_round_trip(frame, randomized, acquisition):
    codec = CltuCodec(CltuConfig(randomize=randomized))
    cltu = codec.encode(frame)
    assert cltu[:2] == START_SEQUENCE and cltu[-8:] == TAIL_SEQUENCE
    assert len(cltu) == 2 + 8 * -(-len(frame) // 7) + 8
    assert codec.decode(acquisition + cltu) == frame
    assert codec.decode(acquisition + cltu + b"\x55\x55") == frame  # idle after the tail
    assert codec.counters["decoded"] == 2


def test_maximum_frame():
    frame = TcFrame(1, 1, FrameType.AD, 0, bytes(1017)).pack()
    assert len(frame) == 1024
    for config in (PLAIN, CltuConfig()):
        codec = CltuCodec(config)
        assert codec.decode(codec.encode(frame)) == frame


# --- error correction -----------------------------------------------------------------------------------

def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


@given(frames(max_data=120), st.booleans(), st.data())
@settings(max_examples=300, deadline=None)
def test_single_bit_error_in_any_codeblock_is_corrected(frame, randomized, data):
    codec = CltuCodec(CltuConfig(randomize=randomized))
    cltu = codec.encode(frame)
    blocks = (len(cltu) - 10) // 8
    block = data.draw(st.integers(0, blocks - 1))
    bit = data.draw(st.integers(0, 62))
    assert codec.decode(_flip(cltu, 16 + 64 * block + bit)) == frame
    assert codec.counters["corrected_bits"] == 1


def test_every_single_bit_error_is_corrected_and_no_double_error_is_miscorrected():
    codec = CltuCodec(PLAIN)
    for info in (bytes(7), b"\xff" * 7, bytes.fromhex("0123456789abcd"), b"\x55" * 7):
        block = info + bytes([parity_octet(info)])
        assert codec._check_block(block) == info
        for bit in range(63):
            assert codec._check_block(_flip(block, bit)) == info, bit
        assert codec._check_block(_flip(block, 63)) == info  # the filler bit is not part of the code
        for a, b in itertools.combinations(range(63), 2):
            assert codec._check_block(_flip(_flip(block, a), b)) is None, (a, b)


def test_without_correction_a_corrupted_block_ends_decoding():
    frame = TcFrame(1, 1, FrameType.AD, 0, bytes(30)).pack()
    cltu = CltuCodec(NO_CORRECTION).encode(frame)
    with pytest.raises(CltuError) as info:
        CltuCodec(NO_CORRECTION).decode(_flip(cltu, 16 + 64 * 2 + 5))
    assert info.value.field == "frame_length"
    with pytest.raises(CltuError) as info:
        CltuCodec(NO_CORRECTION).decode(_flip(cltu, 16 + 5))
    assert info.value.field == "codeblocks"
    assert CltuCodec(PLAIN).decode(_flip(cltu, 16 + 64 * 2 + 5)) == frame


@pytest.mark.parametrize("bit", range(64))
@pytest.mark.parametrize("config", [PLAIN, CltuConfig()], ids=["plain", "randomized"])
def test_a_one_bit_corrupted_tail_still_ends_the_cltu(bit, config):
    frame = TcFrame(0x2A, 1, FrameType.AD, 3, b"abcdefghij").pack()
    codec = CltuCodec(config)
    cltu = codec.encode(frame)
    tail_start = len(cltu) - 8
    assert codec.decode(cltu[:tail_start] + _flip(TAIL_SEQUENCE, bit) + b"\x55" * 8) == frame


# --- rejections ------------------------------------------------------------------------------------------

def test_rejections():
    frame = TcFrame(1, 1, FrameType.AD, 0, b"0123456789").pack()
    good = CltuCodec(PLAIN).encode(frame)
    cases = [
        (b"", "start_sequence"),
        (good[2:], "start_sequence"),
        (b"\x00" + good, "start_sequence"),  # not an acquisition sequence before the start
        (good[:-8], "tail_sequence"),  # no tail
        (good[:-3], "tail_sequence"),
        (START_SEQUENCE + TAIL_SEQUENCE, "codeblocks"),
        (good[:-16] + TAIL_SEQUENCE, "frame_length"),  # a codeblock missing
        (good[:-8] + good[-16:-8] + TAIL_SEQUENCE, "frame_length"),  # a codeblock too many
        (CltuCodec(PLAIN).encode(b"\x00\x00\x00"), "frame_length"),  # too short for a frame header
    ]
    for cltu, field in cases:
        codec = CltuCodec(PLAIN)
        with pytest.raises(CltuError) as info:
            codec.decode(cltu)
        assert info.value.field == field, (cltu.hex(), field)
        assert codec.counters[f"rejected_{field}"] == 1


# --- garbage in --------------------------------------------------------------------------------------------

@given(GARBAGE, st.booleans(), st.booleans())
@settings(max_examples=500, deadline=None)
def test_garbage_raises_only_cltu_errors(raw, randomized, correct):
    codec = CltuCodec(CltuConfig(randomize=randomized, correct_errors=correct))
    only_zenith_errors(codec.decode, raw)
    only_zenith_errors(codec.decode, START_SEQUENCE + raw)
    only_zenith_errors(codec.decode, START_SEQUENCE + raw[: len(raw) // 8 * 8] + TAIL_SEQUENCE)


@given(st.binary(min_size=5, max_size=5), st.binary(max_size=900), st.booleans())
@settings(max_examples=300, deadline=None)
def test_valid_codeblocks_around_a_garbage_frame(head, body, randomized):
    """Codeblocks with right parity around an arbitrary frame image whose length field matches: the
    decoder returns exactly the frame, fill trimmed, and the frame decoder gets it whole."""
    total = 5 + len(body)
    image = head[:2] + bytes([(head[2] & 0xFC) | ((total - 1) >> 8), (total - 1) & 0xFF]) + head[4:] + body
    if total < 7:
        return
    data = randomize(image) if randomized else image
    data += bytes([0x55]) * (-len(data) % 7)  # fill, as the encoder adds it (randomized or not)
    cltu = START_SEQUENCE + b"".join(data[i : i + 7] + bytes([parity_octet(data[i : i + 7])])
                                     for i in range(0, len(data), 7)) + TAIL_SEQUENCE
    assert CltuCodec(CltuConfig(randomize=randomized)).decode(cltu) == image
    only_zenith_errors(TcFrame.unpack, image)


@pytest.mark.parametrize("declared", [1, 2, 5, 6])
def test_declared_length_below_the_minimum_frame_is_rejected(declared):
    info = bytes([0, 0, 0, declared - 1, 0, 0, 0])  # length field = declared - 1
    cltu = START_SEQUENCE + info + bytes([parity_octet(info)]) + TAIL_SEQUENCE
    codec = CltuCodec(PLAIN)
    with pytest.raises(CltuError) as info_:
        codec.decode(cltu)
    assert info_.value.field == "frame_length"
    assert codec.counters["decoded"] == 0

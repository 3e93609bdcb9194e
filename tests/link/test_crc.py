"""CRC-16/CCITT-FALSE: the TC/TM FECF and the PUS packet error control."""

from __future__ import annotations

import crcmod
import fastcrc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.crc import CHECK_VALUE, append_crc, crc16, crc_ok

from ._helpers import crc16_ref


def test_check_value_is_0x29b1():
    assert crc16(b"123456789") == 0x29B1
    assert CHECK_VALUE == 0x29B1
    assert crc16_ref(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    ("variant", "check"),
    [("kermit", 0x2189), ("x-25", 0x906E), ("xmodem", 0x31C3), ("aug-ccitt", 0xE5CC)],
)
def test_not_one_of_the_other_ccitt_variants(variant, check):
    assert crcmod.predefined.mkPredefinedCrcFun(variant)(b"123456789") == check
    assert crc16(b"123456789") != check


def test_empty_input_is_the_initial_value():
    assert crc16(b"") == 0xFFFF


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_matches_independent_bitwise_and_fastcrc(data):
    assert crc16(data) == crc16_ref(data) == fastcrc.crc16.ibm_3740(data)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_append_then_check_is_zero(data):
    block = append_crc(data)
    assert block[:-2] == data
    assert int.from_bytes(block[-2:], "big") == crc16_ref(data)
    assert crc_ok(block)
    assert crc16(block) == 0


@given(st.binary(min_size=1, max_size=200), st.data())
@settings(max_examples=300, deadline=None)
def test_every_single_bit_error_is_detected(data, draw):
    block = bytearray(append_crc(data))
    bit = draw.draw(st.integers(0, len(block) * 8 - 1))
    block[bit // 8] ^= 0x80 >> (bit % 8)
    assert not crc_ok(bytes(block))


@given(st.binary(min_size=2, max_size=200), st.data())
@settings(max_examples=300, deadline=None)
def test_every_burst_up_to_16_bits_is_detected(data, draw):
    block = bytearray(append_crc(data))
    nbits = len(block) * 8
    length = draw.draw(st.integers(1, 16))
    start = draw.draw(st.integers(0, nbits - length))
    # A burst of ``length`` bits: first and last flipped, the ones between arbitrary.
    pattern = draw.draw(st.integers(0, (1 << length) - 1)) | (1 << (length - 1)) | 1
    value = int.from_bytes(block, "big") ^ (pattern << (nbits - start - length))
    assert not crc_ok(value.to_bytes(len(block), "big"))

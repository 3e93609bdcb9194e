"""The CLCW (CCSDS 232.0-B-4 4.2): every field at its bit position, round trips, rejections."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.clcw import CLCW_LEN, COP_1, Clcw
from flight.link.errors import ClcwError

from ._helpers import SMALL_GARBAGE, bits, from_bits, only_zenith_errors

clcws = st.builds(
    Clcw,
    virtual_channel_id=st.integers(0, 63),
    report_value=st.integers(0, 255),
    lockout=st.booleans(),
    wait=st.booleans(),
    retransmit=st.booleans(),
    farm_b_counter=st.integers(0, 3),
    no_rf_available=st.booleans(),
    no_bitlock=st.booleans(),
    status_field=st.integers(0, 7),
    cop_in_effect=st.integers(0, 3),
)


def reference_word(c: Clcw) -> bytes:
    """The 32 bits laid out from the table: bit 0 is the MSB of the first octet."""
    return from_bits(
        "0" + "00" + bits(c.status_field, 3) + bits(c.cop_in_effect, 2) + bits(c.virtual_channel_id, 6) + "00"
        + bits(c.no_rf_available, 1) + bits(c.no_bitlock, 1) + bits(c.lockout, 1) + bits(c.wait, 1)
        + bits(c.retransmit, 1) + bits(c.farm_b_counter, 2) + "0" + bits(c.report_value, 8)
    )


def _bit(position: int) -> int:
    return 1 << (31 - position)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({}, 0x01000000),  # COP-1 in effect (bits 6-7 = 01) and nothing else
        ({"status_field": 0b101}, 0x01000000 | _bit(3) | _bit(5)),
        ({"cop_in_effect": 0b10}, _bit(6)),
        ({"virtual_channel_id": 1}, 0x01000000 | _bit(13)),
        ({"virtual_channel_id": 0b100000}, 0x01000000 | _bit(8)),
        ({"virtual_channel_id": 63}, 0x01000000 | 0x00FC0000),
        ({"no_rf_available": True}, 0x01000000 | _bit(16)),
        ({"no_bitlock": True}, 0x01000000 | _bit(17)),
        ({"lockout": True}, 0x01000000 | _bit(18)),
        ({"wait": True}, 0x01000000 | _bit(19)),
        ({"retransmit": True}, 0x01000000 | _bit(20)),
        ({"farm_b_counter": 0b10}, 0x01000000 | _bit(21)),
        ({"farm_b_counter": 0b01}, 0x01000000 | _bit(22)),
        ({"report_value": 0x80}, 0x01000000 | _bit(24)),
        ({"report_value": 0x01}, 0x01000000 | _bit(31)),
    ],
)
def test_each_field_at_its_bit_position(fields, word):
    args = {"virtual_channel_id": 0} | fields
    raw = Clcw(**args).pack()
    assert raw == word.to_bytes(4, "big")
    assert Clcw.unpack(raw) == Clcw(**args)


def test_hand_computed_words():
    # VC 1, COP-1, Retransmit, FARM-B = 2, V(R) = 0x2A:
    # 0 00 000 01 | 000001 00 | 0 0 0 0 1 10 0 | 0010 1010
    clcw = Clcw(1, 0x2A, retransmit=True, farm_b_counter=2)
    assert clcw.pack() == bytes.fromhex("01040c2a")
    # VC 7, Lockout, Wait, no RF, no bit lock, status 7, FARM-B 3, V(R) 0xFF
    clcw = Clcw(7, 0xFF, lockout=True, wait=True, no_rf_available=True, no_bitlock=True, farm_b_counter=3,
                status_field=7)
    assert clcw.pack() == bytes.fromhex("1d1cf6ff")
    assert len(clcw.pack()) == CLCW_LEN == 4
    assert COP_1 == 0b01


@given(clcws)
@settings(max_examples=500, deadline=None)
def test_round_trip_every_field(clcw):
    raw = clcw.pack()
    assert raw == reference_word(clcw)
    assert raw[0] >> 7 == 0  # control word type 0
    assert (raw[0] >> 5) & 0b11 == 0  # version 00
    assert raw[2] & 0x01 == 0  # bit 23 spare
    assert raw[1] & 0b11 == 0  # bits 14-15 spare
    assert Clcw.unpack(raw) == clcw


@given(clcws)
@settings(max_examples=50, deadline=None)
def test_as_dict(clcw):
    d = clcw.as_dict()
    assert d["virtual_channel_id"] == clcw.virtual_channel_id
    assert d["report_value"] == clcw.report_value
    assert (d["lockout"], d["wait"], d["retransmit"]) == (clcw.lockout, clcw.wait, clcw.retransmit)
    assert d["farm_b_counter"] == clcw.farm_b_counter


@pytest.mark.parametrize(("fields", "field"), [
    ({"virtual_channel_id": 64}, "virtual_channel_id"),
    ({"virtual_channel_id": -1}, "virtual_channel_id"),
    ({"virtual_channel_id": 0, "report_value": 256}, "report_value"),
    ({"virtual_channel_id": 0, "report_value": -1}, "report_value"),
])
def test_pack_rejects_out_of_range(fields, field):
    with pytest.raises(ClcwError) as info:
        Clcw(**fields).pack()
    assert info.value.field == field


@pytest.mark.parametrize(("raw", "field"), [
    (bytes.fromhex("81000000"), "control_word_type"),  # a Type-2 report, e.g. the SDLS FSR
    (bytes.fromhex("c0000000"), "control_word_type"),
    (bytes.fromhex("21000000"), "version"),
    (bytes.fromhex("41000000"), "version"),
    (b"", "length"),
    (b"\x01\x00\x00", "length"),
    (b"\x01\x00\x00\x00\x00", "length"),
])
def test_unpack_rejects(raw, field):
    with pytest.raises(ClcwError) as info:
        Clcw.unpack(raw)
    assert info.value.field == field


@given(SMALL_GARBAGE)
@settings(max_examples=500, deadline=None)
def test_garbage_raises_only_clcw_errors(raw):
    clcw = only_zenith_errors(Clcw.unpack, raw)
    if clcw is not None:
        assert len(raw) == 4
        # Spare bits are not checked on input, everything else survives a re-pack.
        assert clcw.pack() == bytes([raw[0], raw[1] & 0xFC, raw[2] & 0xFE, raw[3]])


@given(st.binary(min_size=4, max_size=4))
@settings(max_examples=300, deadline=None)
def test_every_word_with_type_and_version_zero_decodes(raw):
    if raw[0] >> 5:
        with pytest.raises(ClcwError):
            Clcw.unpack(raw)
    else:
        assert Clcw.unpack(raw).virtual_channel_id == (int.from_bytes(raw, "big") >> 18) & 0x3F

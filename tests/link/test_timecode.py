"""CUC time code (CCSDS 301.0-B-4 3.2): Zenith's 4+2 octet T-field with an implicit P-field."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.dictionary import load_dictionary
from flight.link.errors import TimeCodeError
from flight.link.timecode import CucFormat

from ._helpers import SMALL_GARBAGE, only_zenith_errors

MISSION_CUC = load_dictionary().mission.tm_time  # the TM time format, as the dictionary fixes it

# Times are floats (53-bit mantissa): formats of up to 6 octets hold exactly, longer ones are refused.
FORMATS = [CucFormat(c, f) for c in range(1, 5) for f in range(4) if c + f <= 6]


def test_zenith_format():
    assert (MISSION_CUC.coarse_octets, MISSION_CUC.fine_octets, MISSION_CUC.length) == (4, 2, 6)
    assert MISSION_CUC.p_field == 0x2E
    assert MISSION_CUC.resolution() == 2**-16


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f.coarse_octets}+{f.fine_octets}")
def test_p_field_layout(fmt):
    # ext 0 | time code id 010 (agency epoch) | coarse octets - 1 | fine octets
    assert fmt.p_field == (0b010 << 4) | ((fmt.coarse_octets - 1) << 2) | fmt.fine_octets
    assert fmt.p_field >> 7 == 0


@pytest.mark.parametrize(("coarse", "fine"), [(0, 0), (5, 0), (1, 4), (0, 2), (4, -1), (4, 3)])
def test_invalid_formats(coarse, fine):
    # 4 + 3 octets is legal CUC but 56 bits do not fit a float: refused (it used to round silently).
    with pytest.raises(TimeCodeError) as info:
        CucFormat(coarse, fine)
    assert info.value.field == "format"


@pytest.mark.parametrize(("seconds", "raw"), [
    (0.0, "000000000000"),
    (1.5, "000000018000"),
    (1.25, "000000014000"),
    (0x12345678 + 1 / 65536, "123456780001"),
    (2**32 - 2**-16, "ffffffffffff"),
    (1_700_000_000.75, "6553f100c000"),
])
def test_known_values(seconds, raw):
    assert MISSION_CUC.encode(seconds).hex() == raw
    assert MISSION_CUC.decode(bytes.fromhex(raw)) == seconds


def test_fine_part_is_truncated_never_rounded_up():
    assert MISSION_CUC.encode(1.0 - 1e-12).hex() == "00000000ffff"
    assert MISSION_CUC.encode(2.0 + 0.9 / 65536).hex() == "000000020000"


@pytest.mark.parametrize("seconds", [-1e-9, -1.0, 2.0**32, 2.0**40])
def test_encode_out_of_range(seconds):
    with pytest.raises(TimeCodeError) as info:
        MISSION_CUC.encode(seconds)
    assert info.value.field == "coarse"


@pytest.mark.parametrize("seconds", [math.nan, math.inf, -math.inf])
def test_encode_non_finite(seconds):
    # Regression: NaN and inf used to escape as ValueError / OverflowError.
    with pytest.raises(TimeCodeError) as info:
        MISSION_CUC.encode(seconds)
    assert info.value.field == "coarse"


@given(st.floats(min_value=0, max_value=2**32, exclude_max=True, allow_nan=False))
@settings(max_examples=500, deadline=None)
def test_encode_decode_within_one_tick(seconds):
    raw = MISSION_CUC.encode(seconds)
    assert len(raw) == 6
    back = MISSION_CUC.decode(raw)
    assert 0 <= seconds - back < MISSION_CUC.resolution()


@given(st.sampled_from(FORMATS), st.data())
@settings(max_examples=500, deadline=None)
def test_decode_encode_is_identity(fmt, data):
    raw = data.draw(st.binary(min_size=fmt.length, max_size=fmt.length))
    value = fmt.decode(raw)
    assert fmt.encode(value) == raw
    assert value == int.from_bytes(raw[: fmt.coarse_octets], "big") + int.from_bytes(
        raw[fmt.coarse_octets :], "big"
    ) / 2 ** (8 * fmt.fine_octets)


@given(st.sampled_from(FORMATS), SMALL_GARBAGE)
@settings(max_examples=500, deadline=None)
def test_garbage_raises_only_time_code_errors(fmt, raw):
    value = only_zenith_errors(fmt.decode, raw)
    if value is None:
        assert len(raw) != fmt.length
        with pytest.raises(TimeCodeError) as info:
            fmt.decode(raw)
        assert info.value.field == "length"
    else:
        assert value >= 0

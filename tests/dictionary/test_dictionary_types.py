"""ValueType: the checks shared by command arguments, channels, events and parameters."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.dictionary.types import FLOAT_LIMITS, INTEGER_RANGES, TYPE_NAMES, ValueType, json_value
from flight.link.errors import CommandError

WHERE = "CMD.arg"


def rejects(vt: ValueType, value, *, wire: bool = False, match: str | None = None) -> CommandError:
    with pytest.raises(CommandError, match=match) as info:
        (vt.from_wire if wire else vt.check)(value, WHERE)
    err = info.value
    assert err.field == WHERE
    assert err.layer == "command"
    assert str(err).startswith(f"command.{WHERE}: ")
    return err


def test_type_names() -> None:
    assert set(TYPE_NAMES) == {"u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "f32", "f64", "bool", "string",
                               "bytes", "enum", "scalar"}


@pytest.mark.parametrize(("kind", "low", "high"), [
    ("u8", 0, 255), ("u16", 0, 65535), ("u32", 0, 2**32 - 1), ("u64", 0, 2**64 - 1),
    ("i8", -128, 127), ("i16", -32768, 32767), ("i32", -(2**31), 2**31 - 1), ("i64", -(2**63), 2**63 - 1),
])
def test_integer_bounds(kind: str, low: int, high: int) -> None:
    assert INTEGER_RANGES[kind] == (low, high)
    vt = ValueType(kind)
    for ok in (low, high, (low + high) // 2):
        assert vt.check(ok, WHERE) == ok
        assert vt.from_wire(ok, WHERE) == ok
        assert vt.to_wire(ok) == ok
    rejects(vt, low - 1, match=f"does not fit {kind}")
    rejects(vt, high + 1, match=f"does not fit {kind}")
    rejects(vt, low - 1, wire=True)
    rejects(vt, high + 1, wire=True)


@pytest.mark.parametrize("kind", list(INTEGER_RANGES))
@pytest.mark.parametrize("value", [True, False, 1.0, "1", b"\x01", None, [1]])
def test_integers_reject_other_types(kind: str, value) -> None:
    rejects(ValueType(kind), value, match=r"expected integer")


def test_integer_min_max() -> None:
    vt = ValueType("u8", minimum=2, maximum=254)
    assert vt.check(2, WHERE) == 2 and vt.check(254, WHERE) == 254
    rejects(vt, 1, match="below the minimum 2")
    rejects(vt, 255, match="above the maximum 254")
    rejects(vt, 300, match="does not fit u8")


@given(st.integers(-(2**70), 2**70), st.sampled_from(list(INTEGER_RANGES)))
def test_integers_property(value: int, kind: str) -> None:
    low, high = INTEGER_RANGES[kind]
    vt = ValueType(kind)
    if low <= value <= high:
        assert vt.check(value, WHERE) == value
    else:
        rejects(vt, value)


@pytest.mark.parametrize("kind", ["f32", "f64"])
def test_floats_finite_and_in_range(kind: str) -> None:
    vt = ValueType(kind)
    limit = FLOAT_LIMITS[kind]
    assert vt.check(1.5, WHERE) == 1.5
    assert vt.check(-limit, WHERE) == -limit
    assert vt.check(limit, WHERE) == limit
    converted = vt.check(3, WHERE)
    assert converted == 3.0 and type(converted) is float
    for bad in (math.inf, -math.inf, math.nan):
        rejects(vt, bad, match=f"not a finite {kind}")
    for bad in (True, "1.0", None, b"", [1.0]):
        rejects(vt, bad, match=r"expected number")


def test_f32_range() -> None:
    vt = ValueType("f32")
    assert vt.check(3.4e38, WHERE) == 3.4e38
    rejects(vt, 3.5e38, match="not a finite f32")
    rejects(vt, -1e39, match="not a finite f32")
    rejects(vt, 10**40, match="not a finite f32")
    assert ValueType("f64").check(1e300, WHERE) == 1e300


def test_float_min_max() -> None:
    vt = ValueType("f32", minimum=0.001, maximum=10.0)
    assert vt.check(0.001, WHERE) == 0.001 and vt.check(10, WHERE) == 10.0
    rejects(vt, 0.0, match="below the minimum")
    rejects(vt, 10.01, match="above the maximum")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_f32_property(value: float) -> None:
    vt = ValueType("f32")
    if math.isfinite(value) and abs(value) <= FLOAT_LIMITS["f32"]:
        assert vt.check(value, WHERE) == value
    else:
        rejects(vt, value)


def test_bool_is_not_an_int_and_int_is_not_a_bool() -> None:
    vt = ValueType("bool")
    assert vt.check(True, WHERE) is True
    assert vt.from_wire(False, WHERE) is False
    assert vt.to_wire(True) is True
    for bad in (0, 1, "true", None, 1.0):
        rejects(vt, bad, match="expected bool")
    rejects(ValueType("u8"), True, match="got bool")
    rejects(ValueType("i64"), False, match="got bool")


def test_strings_and_bytes_max_length() -> None:
    s = ValueType("string", max_length=4)
    assert s.check("abcd", WHERE) == "abcd"
    assert s.check("", WHERE) == ""
    rejects(s, "abcde", match="5 long, at most 4")
    rejects(s, b"abc", match="expected string, got bytes")
    rejects(s, 5, match="expected string")
    b = ValueType("bytes", max_length=2)
    assert b.check(b"\x00\xff", WHERE) == b"\x00\xff"
    assert b.to_wire(b"\x01") == b"\x01"
    rejects(b, b"\x00\x01\x02", match="3 long, at most 2")
    rejects(b, "ab", match="expected bytes, got str")
    rejects(b, bytearray(b"a"), match="expected bytes")
    default = ValueType("string")
    assert default.max_length == 256
    assert default.check("x" * 256, WHERE)
    rejects(default, "x" * 257)


def test_enum_by_label_and_code() -> None:
    vt = ValueType("enum", values={"OPEN": 1, "WAIT": 2, "LOCKOUT": 3})
    assert vt.check("WAIT", WHERE) == "WAIT"
    assert vt.to_wire("WAIT") == 2
    assert vt.check(3, WHERE) == "LOCKOUT"  # a code is accepted and becomes its label
    assert vt.from_wire(1, WHERE) == "OPEN"
    rejects(vt, "CLOSED", match=r"'CLOSED' is not one of \['LOCKOUT', 'OPEN', 'WAIT'\]")
    rejects(vt, 4, match="4 is not a code of")
    rejects(vt, "OPEN", wire=True, match="expected enum code, got str")
    rejects(vt, True, wire=True, match="expected enum code, got bool")
    rejects(vt, 1.0, match="expected enum code, got float")
    rejects(vt, None, match="expected enum code")


@settings(max_examples=100)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(-1000, 1000), min_size=1, max_size=8))
def test_enum_round_trip(values: dict[str, int]) -> None:
    values = {label: code for code, label in {c: lbl for lbl, c in values.items()}.items()}  # distinct codes
    vt = ValueType("enum", values=values)
    for label, code in values.items():
        assert vt.from_wire(vt.to_wire(vt.check(label, WHERE)), WHERE) == label
        assert vt.check(code, WHERE) == label


@pytest.mark.parametrize("value", [0, 1, -1, 2**64 - 1, -(2**63), 0.0, -2.5, 1e308, True, False, "", "abc"])
def test_scalar_accepts_numbers_bools_and_strings_as_they_are(value) -> None:
    vt = ValueType("scalar")
    for fn in (vt.check, vt.from_wire):
        result = fn(value, WHERE)
        assert result == value and type(result) is type(value)
    assert vt.to_wire(value) is value


@pytest.mark.parametrize(("value", "match"), [
    (b"1", "expected a number, bool or string, got bytes"), ([1], "got list"), (None, "got NoneType"),
    ({"a": 1}, "got dict"), (math.nan, "not a finite f64"), (math.inf, "not a finite f64"),
    (-math.inf, "not a finite f64"), (2**64, "does not fit u64"), (-(2**63) - 1, "does not fit i64"),
])
def test_scalar_rejects_everything_else(value, match: str) -> None:
    rejects(ValueType("scalar"), value, match=match)
    rejects(ValueType("scalar"), value, wire=True, match=match)


def test_scalar_string_max_length() -> None:
    vt = ValueType("scalar", max_length=3)
    assert vt.check("abc", WHERE) == "abc"
    rejects(vt, "abcd", match="4 long, at most 3")
    assert vt.check(12345, WHERE) == 12345  # the length limit is for strings only
    rejects(ValueType("scalar"), "x" * 257, match="257 long, at most 256")


@given(st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
       | st.text(max_size=256))
def test_scalar_property(value) -> None:
    result = ValueType("scalar").check(value, WHERE)
    assert result == value and type(result) is type(value)


@given(st.sampled_from(TYPE_NAMES),
       st.none() | st.booleans() | st.integers(-(2**200), 2**200) | st.floats() | st.text(max_size=300) | st.binary(max_size=300)
       | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))
def test_check_raises_only_command_error(kind: str, value) -> None:
    vt = ValueType(kind, values={"A": 0, "B": 1} if kind == "enum" else {})
    for fn in (vt.check, vt.from_wire):
        try:
            fn(value, WHERE)
        except CommandError as exc:
            assert exc.field == WHERE


def test_huge_integer_for_a_float_is_a_command_error() -> None:
    rejects(ValueType("f64"), 10**400, match="not a finite f64")


def test_json_value_is_strict_json() -> None:
    """Octets as hex, non-finite numbers by name, maps and sequences walked: json.dumps(allow_nan=False) takes it."""
    value = {"a": [float("nan"), 1.5, b"\x0a\x1b"], "b": (float("inf"), -float("inf")), "c": {"d": b""}, "e": 3}
    assert json_value(value) == {"a": ["nan", 1.5, "0a1b"], "b": ["inf", "-inf"], "c": {"d": ""}, "e": 3}
    json.dumps(json_value(value), allow_nan=False)

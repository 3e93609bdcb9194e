"""Telecommand application data: encode_command → PUS TC → decode_app_data, and every way to get it wrong."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from spacepackets.ecss import PusTc

from flight.dictionary import Dictionary, decode_app_data, encode_app_data, encode_command, load_dictionary
from flight.dictionary.commands import MAX_APP_DATA, check_arguments
from flight.dictionary.model import Argument, Command
from flight.dictionary.types import FLOAT_LIMITS, INTEGER_RANGES, ValueType
from flight.link.errors import CommandError
from flight.link.pus import ACK_ALL, parse_tc

ZD = load_dictionary()
RESET = ZD.command("RESET_COUNTERS")
SERVICE_LABELS = sorted(RESET.arguments[0].type.values)  # type: ignore[union-attr]
UNUSED_SERVICE_CODE = max(RESET.arguments[0].type.values.values()) + 1  # type: ignore[union-attr]
OPCODES = sorted({(c.service, c.subtype) for c in ZD.commands})


def round_trip(name: str, arguments: dict | None = None, **kwargs) -> tuple[PusTc, dict]:
    raw = encode_command(ZD, name, arguments, **kwargs)
    tc = parse_tc(raw)
    decoded = decode_app_data(ZD, tc.service, tc.message_subtype, tc.app_data)
    assert decoded.command is ZD.command(name)
    return tc, decoded.arguments


def test_ping_round_trip() -> None:
    tc, args = round_trip("PING", seq_count=77, source_id=3)
    assert (tc.service, tc.message_subtype, tc.apid) == (17, 1, 16)
    assert tc.app_data == b""
    assert tc.seq_count == 77 and tc.source_id == 3
    assert tc.pus_tc_sec_header.ack_flags == ACK_ALL
    assert args == {}


def test_noop_round_trip_is_just_the_function_id() -> None:
    tc, args = round_trip("NOOP", {})
    assert (tc.service, tc.message_subtype) == (8, 1)
    assert tc.app_data == b"\x00\x01"
    assert args == {}


@given(st.sampled_from(SERVICE_LABELS), st.integers(0, 0x3FFF), st.integers(0, 15))
def test_reset_counters_round_trip(label: str, seq: int, ack: int) -> None:
    tc, args = round_trip("RESET_COUNTERS", {"service": label}, seq_count=seq, ack_flags=ack)
    assert args == {"service": label}
    code = RESET.arguments[0].type.values[label]  # type: ignore[union-attr]
    assert tc.app_data == b"\x00\x02" + msgpack.packb([code])
    assert tc.seq_count == seq and tc.pus_tc_sec_header.ack_flags == ack


def test_reset_counters_accepts_a_code_as_well() -> None:
    _, args = round_trip("RESET_COUNTERS", {"service": 4})
    assert args == {"service": "SDLS"}


def _extreme(t: ValueType) -> object:
    """The largest value an argument takes: the edge of its range, or its longest string."""
    if t.name in INTEGER_RANGES:
        return t.maximum if t.maximum is not None else INTEGER_RANGES[t.name][1]
    if t.name in FLOAT_LIMITS:
        return float(t.maximum if t.maximum is not None else FLOAT_LIMITS[t.name])
    samples = {"enum": lambda: sorted(t.values)[0], "bytes": lambda: bytes(t.max_length),
               "string": lambda: "é" * t.max_length, "bool": lambda: True, "scalar": lambda: "é" * t.max_length}
    return samples[t.name]()


@pytest.mark.parametrize("command", ZD.commands, ids=lambda c: c.name)
def test_every_shipped_command_round_trips(command: Command) -> None:
    arguments = {a.name: _extreme(a.type) for a in command.arguments}
    _, decoded = round_trip(command.name, arguments)
    assert decoded == arguments
    assert all(type(decoded[name]) is type(value) for name, value in arguments.items())


def test_pus_17_1_from_spacepackets_is_a_ping() -> None:
    tc = PusTc(service=17, message_subtype=1, apid=16, seq_count=5)
    parsed = parse_tc(tc.pack())
    decoded = decode_app_data(ZD, parsed.service, parsed.message_subtype, parsed.app_data)
    assert decoded.command.name == "PING" and decoded.arguments == {}


def error(call, *args) -> CommandError:
    with pytest.raises(CommandError) as info:
        call(*args)
    assert info.value.layer == "command"
    return info.value


def test_unknown_command() -> None:
    err = error(encode_command, ZD, "SELF_DESTRUCT")
    assert err.field == "name" and "SELF_DESTRUCT" in err.reason


def test_unknown_argument() -> None:
    assert error(encode_command, ZD, "RESET_COUNTERS", {"service": "ALL", "force": True}).field == \
        "RESET_COUNTERS.force"
    assert error(encode_command, ZD, "PING", {"x": 1}).field == "PING.x"


def test_missing_argument() -> None:
    for args in (None, {}):
        err = error(encode_command, ZD, "RESET_COUNTERS", args)
        assert err.field == "RESET_COUNTERS.service" and err.reason == "missing argument"


@pytest.mark.parametrize("value", ["EVERYTHING", UNUSED_SERVICE_CODE, -1, 2**64, True, 1.0, None, b"ALL", ["ALL"]])
def test_bad_enum_value(value) -> None:
    err = error(encode_command, ZD, "RESET_COUNTERS", {"service": value})
    assert err.field == "RESET_COUNTERS.service"
    assert str(err).startswith("command.RESET_COUNTERS.service: ")


@pytest.mark.parametrize("value", [0, -(2**63), 2**64 - 1, -0.5, 1e300, True, False, "", "health.max_restarts"])
def test_param_set_value_keeps_its_type(value: object) -> None:
    _, decoded = round_trip("PARAM_SET", {"name": "health.max_restarts", "value": value})
    assert decoded["value"] == value and type(decoded["value"]) is type(value)


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, float("nan"), float("inf"), None, b"10", [10], "x" * 257])
def test_param_set_rejects_values_that_are_no_scalar(value: object) -> None:
    err = error(encode_command, ZD, "PARAM_SET", {"name": "health.max_restarts", "value": value})
    assert err.field == "PARAM_SET.value"


TOY = Command("SET", 200, 1, 16, (
    Argument("level", ValueType("u8", minimum=1, maximum=9)),
    Argument("gain", ValueType("f32")),
    Argument("on", ValueType("bool")),
    Argument("label", ValueType("string", max_length=8)),
    Argument("blob", ValueType("bytes", max_length=4)),
))
TOY_DICT = Dictionary(ZD.mission, (TOY,), (), (), ())


def test_range_and_type_errors_name_the_field() -> None:
    good = {"level": 5, "gain": 0.5, "on": True, "label": "abc", "blob": b"\x01"}
    assert check_arguments(TOY, good) == good
    for name, bad in [("level", 0), ("level", 10), ("level", "5"), ("gain", float("inf")), ("gain", "x"),
                      ("on", 1), ("label", "x" * 9), ("label", b"abc"), ("blob", b"12345"), ("blob", "01")]:
        err = error(check_arguments, TOY, {**good, name: bad})
        assert err.field == f"SET.{name}", (name, bad)


@given(st.integers(1, 9), st.floats(-3e38, 3e38), st.booleans(), st.text(max_size=8),
       st.binary(max_size=4))
def test_all_value_types_round_trip(level: int, gain: float, on: bool, label: str, blob: bytes) -> None:
    args = {"level": level, "gain": gain, "on": on, "label": label, "blob": blob}
    app_data = encode_app_data(TOY, args)
    assert decode_app_data(TOY_DICT, 200, 1, app_data).arguments == args


def test_wrong_argument_count_or_shape_on_the_wire() -> None:
    for payload in ([], [0, 1], {"service": 0}, 0, "ALL"):
        err = error(decode_app_data, ZD, 8, 1, b"\x00\x02" + msgpack.packb(payload))
        assert err.field == "RESET_COUNTERS"
    err = error(decode_app_data, ZD, 8, 1, b"\x00\x02" + msgpack.packb(["ALL"]))
    assert err.field == "RESET_COUNTERS.service"  # labels do not travel; codes do
    err = error(decode_app_data, ZD, 8, 1, b"\x00\x02" + msgpack.packb([99]))
    assert err.field == "RESET_COUNTERS.service"


def test_opcode_and_function_id_errors() -> None:
    assert error(decode_app_data, ZD, 17, 3, b"").field == "opcode"
    assert error(decode_app_data, ZD, 8, 1, b"\x00").field == "function_id"
    assert error(decode_app_data, ZD, 8, 1, b"").field == "function_id"
    err = error(decode_app_data, ZD, 8, 1, b"\x00\x09")
    assert err.field == "opcode" and "function 9" in err.reason
    assert error(decode_app_data, ZD, 17, 1, b"\x90").field == "PING"  # no arguments expected
    assert error(decode_app_data, ZD, 8, 1, b"\x00\x01\x90").field == "NOOP"


def test_msgpack_garbage_and_trailing_data() -> None:
    assert error(decode_app_data, ZD, 8, 1, b"\x00\x02\xc1").field == "RESET_COUNTERS"  # never-used code
    assert error(decode_app_data, ZD, 8, 1, b"\x00\x02\x91").field == "RESET_COUNTERS"  # truncated
    assert error(decode_app_data, ZD, 8, 1, b"\x00\x02" + msgpack.packb([0]) + b"\x00").field == "RESET_COUNTERS"


def test_msgpack_extension_types_are_rejected() -> None:
    for code in (0, 5, 127):
        ext = msgpack.packb([msgpack.ExtType(code, b"\x00")])
        err = error(decode_app_data, ZD, 8, 1, b"\x00\x02" + ext)
        assert err.field == "app_data" and f"extension type {code}" in err.reason
    # the timestamp extension (-1) is decoded by msgpack itself; it is still no valid argument
    stamp = msgpack.packb([msgpack.Timestamp(1, 0)])
    assert error(decode_app_data, ZD, 8, 1, b"\x00\x02" + stamp).field.startswith("RESET_COUNTERS")


def test_app_data_over_4096_octets_is_rejected() -> None:
    assert MAX_APP_DATA == 4096
    err = error(decode_app_data, ZD, 8, 1, b"\x00\x02" + b"\x00" * 4095)
    assert err.field == "app_data" and "4097" in err.reason
    at_limit = b"\x00\x02" + msgpack.packb([0]) + b"\x00" * (4096 - 3 - 1)
    assert len(at_limit) == 4096
    assert error(decode_app_data, ZD, 8, 1, at_limit).field == "RESET_COUNTERS"  # size passes, trailing data not


@settings(max_examples=300)
@given(st.sampled_from(OPCODES) | st.tuples(st.integers(0, 255), st.integers(0, 255)),
       st.binary(max_size=64) | st.binary(min_size=4090, max_size=4100))
def test_garbage_app_data_raises_only_command_error(opcode: tuple[int, int], app_data: bytes) -> None:
    service, subtype = opcode
    try:
        decoded = decode_app_data(ZD, service, subtype, app_data)
    except CommandError:
        return
    assert decoded.command in ZD.commands


@settings(max_examples=200)
@given(st.sampled_from(OPCODES), st.one_of(
    st.just(b"\x00\x02"), st.just(b"\x00\x01"), st.just(b"")).flatmap(
    lambda head: st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=5)
        | st.binary(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
        max_leaves=8,
    ).map(lambda v: head + msgpack.packb(v, use_bin_type=True))))
def test_valid_msgpack_of_any_shape_raises_only_command_error(opcode: tuple[int, int], app_data: bytes) -> None:
    try:
        decoded = decode_app_data(ZD, *opcode, app_data)
    except CommandError:
        return
    assert decoded.command in ZD.commands

"""Housekeeping, event and record source data: pack → unpack against the dictionary, saturation, and garbage in."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.dictionary import Dictionary, load_dictionary
from flight.dictionary.model import Argument, Channel, Event, HousekeepingReport, Severity
from flight.dictionary.packing import (
    pack_event,
    pack_record,
    pack_report,
    unpack_event,
    unpack_record,
    unpack_report,
)
from flight.dictionary.types import FLOAT_LIMITS, INTEGER_RANGES, ValueType
from flight.link.errors import CommandError, TelemetryError

ZD = load_dictionary()
# Octets per channel on the wire, written out here rather than read from packing.py.
WIDTH = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "f32": 4, "f64": 8,
         "bool": 1, "enum": 1}
F32_MAX = FLOAT_LIMITS["f32"]


def telemetry_error(call: Callable[..., Any], *args: Any) -> TelemetryError:
    with pytest.raises(TelemetryError) as info:
        call(*args)
    assert info.value.layer == "telemetry"
    return info.value


def command_error(call: Callable[..., Any], *args: Any) -> CommandError:
    with pytest.raises(CommandError) as info:
        call(*args)
    return info.value


def single(kind: str, **type_args: Any) -> tuple[HousekeepingReport, Dictionary]:
    """A dictionary whose only report carries one channel ``c`` of type ``kind``."""
    channel = Channel(1, "c", ValueType(kind, **type_args))
    report = HousekeepingReport(9, "ONE", (channel,), 1.0)
    return report, Dictionary(ZD.mission, (), (channel,), (), (), (report,))


def through(kind: str, value: Any, **type_args: Any) -> Any:
    report, dictionary = single(kind, **type_args)
    return unpack_report(dictionary, pack_report(report, {"c": value}))[1]["c"]


def f32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


# --- housekeeping reports ----------------------------------------------------------------------------


def channel_values(channel: Channel) -> st.SearchStrategy[Any]:
    kind = channel.type.name
    if kind in INTEGER_RANGES:
        return st.integers(*INTEGER_RANGES[kind])
    if kind == "f32":
        return st.floats(width=32, allow_nan=False)  # NaN is no equal of itself: tested on its own below
    if kind == "f64":
        return st.floats(allow_nan=False)
    if kind == "bool":
        return st.booleans()
    assert kind == "enum", kind
    return st.sampled_from(sorted(channel.type.values))


@pytest.mark.parametrize("report", ZD.housekeeping, ids=lambda r: r.name)
@given(data=st.data())
def test_every_shipped_report_round_trips(report: HousekeepingReport, data: st.DataObject) -> None:
    values = data.draw(st.fixed_dictionaries({c.name: channel_values(c) for c in report.channels}))
    packed = pack_report(report, values)
    assert packed[:2] == report.sid.to_bytes(2, "big")
    assert len(packed) == 2 + sum(WIDTH[c.type.name] for c in report.channels)
    got, unpacked = unpack_report(ZD, packed)
    assert got is report
    assert list(unpacked) == [c.name for c in report.channels]
    assert unpacked == values
    assert all(type(unpacked[name]) is type(value) for name, value in values.items())


def test_report_layout_is_big_endian_and_fixed_width() -> None:
    channels = (Channel(1, "a", ValueType("u16")), Channel(2, "b", ValueType("i8")), Channel(3, "c", ValueType("bool")),
                Channel(4, "d", ValueType("enum", values={"X": 7})), Channel(5, "e", ValueType("f32")),
                Channel(6, "f", ValueType("i32")), Channel(7, "g", ValueType("f64")))
    report = HousekeepingReport(0x0102, "T", channels, 1.0)
    packed = pack_report(report, {"a": 0x0304, "b": -2, "c": True, "d": "X", "e": 1.0, "f": -1, "g": -2.0})
    assert packed == bytes.fromhex("0102" "0304" "fe" "01" "07" "3f800000" "ffffffff" "c000000000000000")


def test_a_channel_without_a_value_reports_zero() -> None:
    core = ZD.report(1)
    assert core is not None
    _, values = unpack_report(ZD, pack_report(core, {}))
    assert values["cmd.accepted"] == 0 and values["clock.time"] == 0.0
    assert values["health.mode"] == "NOMINAL"  # code 0
    _, link = unpack_report(ZD, pack_report(ZD.report(2), {}))  # type: ignore[arg-type]
    assert link["farm.state"] == 0  # no state has code 0: the number shows


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("u32", 2**40, 2**32 - 1), ("u32", -1, 0), ("u8", 256, 255), ("u16", -(2**40), 0), ("u64", 2**70, 2**64 - 1),
    ("i8", 200, 127), ("i8", -129, -128), ("i32", 2**31, 2**31 - 1), ("i64", -(2**70), -(2**63)),
])
def test_integers_saturate_at_the_ends_of_their_type(kind: str, value: int, expected: int) -> None:
    assert through(kind, value) == expected


@given(st.sampled_from(list(INTEGER_RANGES)), st.integers(-(2**80), 2**80))
def test_integer_saturation_property(kind: str, value: int) -> None:
    low, high = INTEGER_RANGES[kind]
    assert through(kind, value) == min(max(value, low), high)


def test_a_shipped_counter_that_outgrew_its_channel_reports_the_maximum() -> None:
    core = ZD.report(1)
    assert core is not None
    _, values = unpack_report(ZD, pack_report(core, {"cmd.accepted": 2**40, "health.recent_restarts": -3}))
    assert values["cmd.accepted"] == 2**32 - 1
    assert values["health.recent_restarts"] == 0


@pytest.mark.parametrize("kind", ["f32", "f64"])
def test_nan_and_infinities_pass_through(kind: str) -> None:
    assert math.isnan(through(kind, math.nan))
    assert through(kind, math.inf) == math.inf
    assert through(kind, -math.inf) == -math.inf


@pytest.mark.parametrize(("kind", "value", "expected"), [
    ("f32", 3.5e38, math.inf), ("f32", -1e39, -math.inf), ("f32", 1e300, math.inf), ("f32", 10**40, math.inf),
    pytest.param("f32", 10**400, math.inf, id="f32-10**400"), pytest.param("f32", -(10**400), -math.inf, id="f32--10**400"),
    pytest.param("f64", 10**400, math.inf, id="f64-10**400"), pytest.param("f64", -(10**400), -math.inf, id="f64--10**400"),
    ("f32", F32_MAX, F32_MAX), ("f32", -F32_MAX, -F32_MAX),
    ("f64", FLOAT_LIMITS["f64"], FLOAT_LIMITS["f64"]), ("f32", 3, 3.0),
])
def test_floats_too_large_for_their_type_become_infinite(kind: str, value: float, expected: float) -> None:
    result = through(kind, value)
    assert result == expected and type(result) is float


@given(st.floats(allow_nan=False))
def test_f32_property(value: float) -> None:
    expected = math.copysign(math.inf, value) if abs(value) > F32_MAX else f32(value)
    assert through("f32", value) == expected


def test_enum_label_or_code_goes_out_as_the_code_and_comes_back_as_the_label() -> None:
    report, dictionary = single("enum", values={"OPEN": 1, "WAIT": 2, "LOCKOUT": 3})
    for value in ("LOCKOUT", 3):
        packed = pack_report(report, {"c": value})
        assert packed == b"\x00\x09\x03"
        assert unpack_report(dictionary, packed)[1] == {"c": "LOCKOUT"}
    assert unpack_report(dictionary, b"\x00\x09\xfe")[1] == {"c": 254}  # an unknown code stays visible


def test_bool_is_one_octet() -> None:
    report, dictionary = single("bool")
    assert pack_report(report, {"c": True}) == b"\x00\x09\x01"
    assert pack_report(report, {"c": False}) == b"\x00\x09\x00"
    assert pack_report(report, {"c": 5}) == b"\x00\x09\x01"
    assert unpack_report(dictionary, b"\x00\x09\x00")[1]["c"] is False
    for octet in (1, 2, 255):
        assert unpack_report(dictionary, bytes([0, 9, octet]))[1]["c"] is True


def test_unpack_report_rejects_short_data() -> None:
    for data in (b"", b"\x00"):
        err = telemetry_error(unpack_report, ZD, data)
        assert err.field == "sid" and f"{len(data)} octets" in err.reason


def test_unpack_report_rejects_an_unknown_sid() -> None:
    err = telemetry_error(unpack_report, ZD, b"\x00\x63" + bytes(200))
    assert err.field == "sid" and "no housekeeping structure 99" in err.reason


@pytest.mark.parametrize("report", ZD.housekeeping, ids=lambda r: r.name)
def test_unpack_report_rejects_the_wrong_length(report: HousekeepingReport) -> None:
    packed = pack_report(report, {})
    for data in (packed[:2], packed[:-1], packed + b"\x00"):
        err = telemetry_error(unpack_report, ZD, data)
        assert err.field == "length"
        assert report.name in err.reason and f"{len(packed)} octets, got {len(data)}" in err.reason


@pytest.mark.parametrize("report", ZD.housekeeping, ids=lambda r: r.name)
@given(data=st.data())
def test_any_octets_of_the_right_length_decode(report: HousekeepingReport, data: st.DataObject) -> None:
    size = 2 + sum(WIDTH[c.type.name] for c in report.channels)
    body = data.draw(st.binary(min_size=size - 2, max_size=size - 2))
    got, values = unpack_report(ZD, report.sid.to_bytes(2, "big") + body)
    assert got is report and list(values) == [c.name for c in report.channels]


# --- event reports -----------------------------------------------------------------------------------


def argument_values(t: ValueType) -> st.SearchStrategy[Any]:
    if t.name in INTEGER_RANGES:
        low, high = INTEGER_RANGES[t.name]
        return st.integers(low if t.minimum is None else int(t.minimum), high if t.maximum is None else int(t.maximum))
    if t.name in FLOAT_LIMITS:
        limit = FLOAT_LIMITS[t.name]
        return st.floats(-limit if t.minimum is None else t.minimum, limit if t.maximum is None else t.maximum)
    samples: dict[str, st.SearchStrategy[Any]] = {
        "bool": st.booleans(), "string": st.text(max_size=t.max_length), "bytes": st.binary(max_size=t.max_length),
        "enum": st.sampled_from(sorted(t.values)),
    }
    return samples[t.name]


@pytest.mark.parametrize("event", ZD.events, ids=lambda e: e.name)
@given(data=st.data())
def test_every_shipped_event_round_trips(event: Event, data: st.DataObject) -> None:
    arguments = data.draw(st.fixed_dictionaries({a.name: argument_values(a.type) for a in event.arguments}))
    packed = pack_event(event, arguments)
    assert packed[:2] == event.id.to_bytes(2, "big")
    assert msgpack.unpackb(packed[2:]) == [arguments[a.name] for a in event.arguments]  # dictionary order
    got, unpacked = unpack_event(ZD, packed)
    assert got is event
    assert unpacked == arguments
    assert all(type(unpacked[name]) is type(value) for name, value in arguments.items())
    assert isinstance(event.render(unpacked), str)


QUIET = Event(99, "QUIET", Severity.INFO, "nothing to say")
MODE = Event(98, "MODE", Severity.LOW, "mode {mode}", (Argument("mode", ValueType("enum", values={"ON": 1, "OFF": 2})),))
TOY = Dictionary(ZD.mission, (), (), (QUIET, MODE), ())


def test_an_event_without_arguments_is_its_id_alone() -> None:
    assert pack_event(QUIET, {}) == b"\x00\x63"
    assert unpack_event(TOY, b"\x00\x63") == (QUIET, {})
    err = telemetry_error(unpack_event, TOY, b"\x00\x63\x90")
    assert err.field == "arguments" and "1 octets" in err.reason


def test_enum_event_arguments_travel_as_codes() -> None:
    packed = pack_event(MODE, {"mode": "OFF"})
    assert packed == b"\x00\x62" + msgpack.packb([2])
    assert unpack_event(TOY, packed) == (MODE, {"mode": "OFF"})


def test_pack_event_rejects_a_missing_argument() -> None:
    lockout = ZD.event("FARM_LOCKOUT")
    assert lockout is not None
    err = command_error(pack_event, lockout, {"vcid": 0, "vr": 3})
    assert err.field == "FARM_LOCKOUT.ns" and err.reason == "missing argument"


@pytest.mark.parametrize(("name", "arguments", "field"), [
    ("FARM_LOCKOUT", {"vcid": "0", "ns": 7, "vr": 3}, "FARM_LOCKOUT.vcid"),
    ("FARM_LOCKOUT", {"vcid": 0, "ns": 256, "vr": 3}, "FARM_LOCKOUT.ns"),
    ("FARM_LOCKOUT", {"vcid": 0, "ns": 7, "vr": True}, "FARM_LOCKOUT.vr"),
    ("COMMAND_REJECTED", {"command": "PING", "reason": "x" * 257}, "COMMAND_REJECTED.reason"),
    ("COMMAND_REJECTED", {"command": b"PING", "reason": ""}, "COMMAND_REJECTED.command"),
    ("EVENTS_SUPPRESSED", {"event": "X", "count": 1, "window": math.nan}, "EVENTS_SUPPRESSED.window"),
    ("EVENTS_SUPPRESSED", {"event": "X", "count": -1, "window": 1.0}, "EVENTS_SUPPRESSED.count"),
    ("FARM_LOCKOUT", {"vcid": 0, "ns": 7, "vr": 3, "spare": 1}, "FARM_LOCKOUT.spare"),  # not an argument of it
])
def test_pack_event_rejects_bad_arguments(name: str, arguments: dict[str, Any], field: str) -> None:
    event = ZD.event(name)
    assert event is not None
    assert command_error(pack_event, event, arguments).field == field


def test_unpack_event_rejects_short_data_and_unknown_ids() -> None:
    for data in (b"", b"\x00"):
        assert telemetry_error(unpack_event, ZD, data).field == "event_id"
    err = telemetry_error(unpack_event, ZD, b"\xff\xff" + msgpack.packb([]))
    assert err.field == "event_id" and "no event 65535" in err.reason


@pytest.mark.parametrize("rest", [
    b"", b"\xc1", b"\x93\x00", msgpack.packb([0, 7, 3]) + b"\x00", msgpack.packb([0, 7]),
    msgpack.packb([0, 7, 3, 4]), msgpack.packb({"vcid": 0, "ns": 7, "vr": 3}), msgpack.packb(0),
])
def test_unpack_event_rejects_arguments_that_are_no_array_of_the_right_length(rest: bytes) -> None:
    err = telemetry_error(unpack_event, ZD, b"\x00\x02" + rest)
    assert err.field == "arguments" and "FARM_LOCKOUT" in err.reason


def test_unpack_event_checks_argument_types_and_names_the_argument() -> None:
    err = telemetry_error(unpack_event, ZD, b"\x00\x02" + msgpack.packb([0, "7", 3]))
    assert err.field == "arguments" and "FARM_LOCKOUT.ns" in err.reason
    err = telemetry_error(unpack_event, TOY, b"\x00\x62" + msgpack.packb(["OFF"]))  # labels do not travel
    assert err.field == "arguments" and "MODE.mode" in err.reason


@pytest.mark.parametrize("code", [0, 5, 127])
def test_unpack_event_rejects_msgpack_extension_types(code: int) -> None:
    data = b"\x00\x02" + msgpack.packb([0, msgpack.ExtType(code, b"\x00"), 3])
    err = telemetry_error(unpack_event, ZD, data)
    assert err.field == "arguments" and err.reason == f"msgpack extension type {code} is not allowed"
    stamp = b"\x00\x02" + msgpack.packb([0, msgpack.Timestamp(1, 0), 3])  # msgpack decodes -1 itself
    assert telemetry_error(unpack_event, ZD, stamp).field == "arguments"


# --- records -----------------------------------------------------------------------------------------

MSGPACK_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), c, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("record", [
    [[1, 1.7e9, "PING", b"\x18\x10\xc0\x00"]],  # TM[11,10] schedule detail
    {"packets": 12, "oldest": 1.7e9, "newest": None, "playback": False},  # TM[15,13] store status
    ["health.max_restarts", 10], ["health.restart_window", 600.0], [], {},  # TM[20,2] parameter value
])
def test_service_records_round_trip(record: Any) -> None:
    assert unpack_record(pack_record(record)) == record


@given(MSGPACK_VALUES)
def test_record_round_trip_property(value: Any) -> None:
    assert unpack_record(pack_record(value)) == value


@pytest.mark.parametrize("ext", [msgpack.ExtType(0, b""), msgpack.ExtType(127, b"\x01"), msgpack.Timestamp(1, 0)])
def test_unpack_record_rejects_msgpack_extension_types(ext: Any) -> None:
    for value in (ext, [1, [ext]], {"at": ext}, {1: [2, {"x": ext}]}):
        err = telemetry_error(unpack_record, msgpack.packb(value))
        assert err.field == "record" and "extension type" in err.reason


def test_unpack_record_takes_the_deepest_nesting_msgpack_decodes() -> None:
    value = unpack_record(b"\x91" * 1024 + b"\xc0")  # deeper than Python's default recursion limit
    for _ in range(1024):
        (value,) = value
    assert value is None


def test_unpack_record_rejects_garbage_and_trailing_data() -> None:
    for data in (b"", b"\xc1", b"\x92\x01", msgpack.packb([1]) + b"\x00", b"\x91" * 10_000 + b"\xc0"):
        assert telemetry_error(unpack_record, data).field == "record"


# --- garbage in: a TelemetryError and nothing else ---------------------------------------------------

EVENT_IDS = st.sampled_from([e.id for e in ZD.events] + [0, 0xFFFF]).map(lambda i: i.to_bytes(2, "big"))
SIDS = st.sampled_from([h.sid for h in ZD.housekeeping] + [0, 0xFFFF]).map(lambda i: i.to_bytes(2, "big"))
EXTENSIONS = st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=4)) | st.builds(
    msgpack.Timestamp, st.integers(0, 2**32 - 1))
ANY_MSGPACK = st.recursive(MSGPACK_VALUES | EXTENSIONS, lambda c: st.lists(c, max_size=4), max_leaves=8).map(
    lambda v: msgpack.packb(v, use_bin_type=True))


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.tuples(EVENT_IDS, st.binary(max_size=64) | ANY_MSGPACK).map(b"".join))
def test_unpack_event_raises_only_telemetry_error(data: bytes) -> None:
    try:
        event, arguments = unpack_event(ZD, data)
    except TelemetryError:
        return
    assert event in ZD.events and list(arguments) == [a.name for a in event.arguments]


@settings(max_examples=300)
@given(st.binary(max_size=300) | st.tuples(SIDS, st.binary(max_size=300)).map(b"".join))
def test_unpack_report_raises_only_telemetry_error(data: bytes) -> None:
    try:
        report, values = unpack_report(ZD, data)
    except TelemetryError:
        return
    assert report in ZD.housekeeping and list(values) == [c.name for c in report.channels]


@settings(max_examples=300)
@given(st.binary(max_size=300) | ANY_MSGPACK)
def test_unpack_record_raises_only_telemetry_error(data: bytes) -> None:
    with contextlib.suppress(TelemetryError):
        unpack_record(data)


def test_unknown_enum_label_and_non_finite_integers_do_not_pass_for_real_values() -> None:
    from flight.dictionary import load_dictionary
    from flight.dictionary.packing import UNKNOWN_CODE, pack_report, unpack_report

    zd = load_dictionary()
    core = zd.report(1)
    assert core is not None
    values = {"health.mode": "NO_SUCH_MODE", "power.mode": 999, "cmd.accepted": float("nan"),
              "cmd.rejected": float("inf"), "cmd.failed": float("-inf")}
    _, decoded = unpack_report(zd, pack_report(core, values))
    assert decoded["health.mode"] == UNKNOWN_CODE and decoded["power.mode"] == UNKNOWN_CODE
    assert (decoded["cmd.accepted"], decoded["cmd.rejected"], decoded["cmd.failed"]) == (0, 2**32 - 1, 0)

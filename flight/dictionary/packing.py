"""Telemetry source data, packed by the dictionary: PUS 3 housekeeping reports and PUS 5 event reports.

One implementation for both ends: the supervisor packs, the ground station unpacks, and both read
the layouts from the dictionary.

- TM[3,25] housekeeping parameter report: the structure ID (2 octets), then each channel of the
  report in dictionary order, big-endian and fixed-width (booleans and enum codes take one octet).
  A counter that has outgrown its channel's type reports the type's maximum, never a wrapped value.
- TM[5,x] event report (x is the severity): the event ID (2 octets), then, when the event has
  arguments, one msgpack array of them in dictionary order.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgpack

from flight.dictionary.commands import pack_arguments
from flight.dictionary.model import Dictionary, Event, HousekeepingReport
from flight.dictionary.types import FLOAT_LIMITS, INTEGER_RANGES
from flight.link.errors import CommandError, TelemetryError

PACKED_TYPES = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i8": "b", "i16": "h", "i32": "i", "i64": "q",
                "f32": "f", "f64": "d", "bool": "B", "enum": "B"}
_ID = struct.Struct(">H")
UNKNOWN_CODE = 255
T = TypeVar("T")


def _layout(report: HousekeepingReport) -> struct.Struct:
    return struct.Struct(">H" + "".join(PACKED_TYPES[c.type.name] for c in report.channels))


def _wire_value(kind: str, codes: dict[str, int], value: Any) -> int | float:
    if kind == "enum":
        # A label the dictionary does not know must not pass for a real state (code 0 is one):
        # it reports UNKNOWN_CODE, which the ground shows as a bare number.
        code = codes.get(value, UNKNOWN_CODE) if isinstance(value, str) else value
        return code if isinstance(code, int) and 0 <= code <= 255 else UNKNOWN_CODE
    if kind == "bool":
        return 1 if value else 0
    if kind in FLOAT_LIMITS:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond every float: as too large as any other
            number = math.inf if value > 0 else -math.inf
        # NaN and infinities are telemetry too; only a finite value too large for f32 needs help.
        return math.copysign(math.inf, number) if abs(number) > FLOAT_LIMITS[kind] else number
    low, high = INTEGER_RANGES[kind]
    if isinstance(value, float) and not math.isfinite(value):
        return 0 if math.isnan(value) else high if value > 0 else low
    return min(max(int(value), low), high)


def pack_report(report: HousekeepingReport, values: Mapping[str, Any]) -> bytes:
    """A report's source data; a channel that has no value yet reports 0."""
    return _layout(report).pack(report.sid, *(_wire_value(c.type.name, c.type.values, values.get(c.name, 0))
                                              for c in report.channels))


def _identified(data: bytes, find: Callable[[int], T | None], field: str, what: str) -> T:
    """What the 2-octet ID that source data starts with names in the dictionary."""
    if len(data) < _ID.size:
        raise TelemetryError(field, f"{len(data)} octets; {what} reports start with a 2-octet ID")
    (key,) = _ID.unpack_from(data)
    found = find(key)
    if found is None:
        raise TelemetryError(field, f"no {what} {key}")
    return found


def unpack_report(dictionary: Dictionary, data: bytes) -> tuple[HousekeepingReport, dict[str, Any]]:
    report = _identified(data, dictionary.report, "sid", "housekeeping structure")
    layout = _layout(report)
    if len(data) != layout.size:
        raise TelemetryError("length", f"structure {report.name} is {layout.size} octets, got {len(data)}")
    values = {}
    for channel, raw in zip(report.channels, layout.unpack(data)[1:], strict=True):
        if channel.type.name == "bool":
            values[channel.name] = bool(raw)
        elif channel.type.name == "enum":
            labels = {code: label for label, code in channel.type.values.items()}
            values[channel.name] = labels.get(raw, raw)  # an unknown code stays visible as a number
        else:
            values[channel.name] = raw
    return report, values


def pack_event(event: Event, arguments: Mapping[str, Any]) -> bytes:
    """An event's source data; its arguments are checked as a command's are."""
    return _ID.pack(event.id) + pack_arguments(event, arguments)


def unpack_event(dictionary: Dictionary, data: bytes) -> tuple[Event, dict[str, Any]]:
    event = _identified(data, dictionary.event, "event_id", "event")
    rest = data[_ID.size:]
    if not event.arguments:
        if rest:
            raise TelemetryError("arguments", f"{event.name} has no arguments, got {len(rest)} octets")
        return event, {}
    values = _msgpack(rest, "arguments", f"{event.name}: not a msgpack array")
    if not isinstance(values, list) or len(values) != len(event.arguments):
        raise TelemetryError("arguments", f"{event.name}: expected {len(event.arguments)} arguments")
    try:
        return event, {arg.name: arg.type.from_wire(value, f"{event.name}.{arg.name}")
                       for arg, value in zip(event.arguments, values, strict=True)}
    except CommandError as exc:
        raise TelemetryError("arguments", str(exc)) from None


def _msgpack(data: bytes, field: str, garbage: str, strict_map_key: bool = True) -> Any:
    """One msgpack value; any garbage, or an extension type, is a TelemetryError naming ``field``."""
    def no_ext(code: int, _data: bytes) -> Any:
        raise TelemetryError(field, f"msgpack extension type {code} is not allowed")

    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=strict_map_key, ext_hook=no_ext)
    except TelemetryError:
        raise
    except Exception as exc:  # msgpack reports garbage through several exception types
        raise TelemetryError(field, f"{garbage} ({exc})") from None


# Service reports whose layout is a record, not a dictionary structure: TM[11,10] schedule detail
# (array of [activity, time, command name, TC packet]), TM[15,13] store status (map), TM[20,2]
# parameter value ([name, value]). They travel as one msgpack value.
REPORT_SUBTYPES = {(11, 10): "schedule", (15, 13): "store_status", (20, 2): "parameter",
                   # the job manager's own service: status, progress and evaluations, samples, results
                   (130, 1): "job_status", (130, 2): "job_progress", (130, 3): "job_sample", (130, 4): "job_output"}


def pack_record(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def unpack_record(data: bytes) -> Any:
    value = _msgpack(data, "record", "not a msgpack value", strict_map_key=False)
    _no_timestamps(value)
    return value


def _no_timestamps(value: Any) -> None:
    # msgpack decodes its timestamp extension (-1) itself, never through ext_hook; without a
    # dictionary type to reject it, a record would hand a Timestamp to its reader. Iterative:
    # msgpack nests deeper than Python's recursion limit.
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, msgpack.Timestamp):
            raise TelemetryError("record", "msgpack extension type -1 is not allowed")
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())

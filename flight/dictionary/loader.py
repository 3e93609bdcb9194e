"""Reads and validates the dictionary file, the one source of truth for commands, telemetry, events, parameters.

Validation is strict and its errors name the JSON path (``commands[2].arguments[0].type``), because
a dictionary mistake found on the ground is cheap and one found in orbit is not.
"""

from __future__ import annotations

import json
import string
from importlib import resources
from pathlib import Path
from typing import Any

from flight.dictionary.model import (
    FUNCTION_MANAGEMENT,
    Argument,
    Channel,
    Command,
    Dictionary,
    Event,
    HousekeepingReport,
    Limits,
    Mission,
    Parameter,
    Severity,
)
from flight.dictionary.packing import PACKED_TYPES
from flight.dictionary.types import INTEGER_RANGES, TYPE_NAMES, ValueType
from flight.link.errors import CommandError, DictionaryError
from flight.link.timecode import CucFormat

_NAME_CHARS = set(string.ascii_letters + string.digits + "_.")
ENUM_CODES = (-(2**63), 2**64 - 1)  # what msgpack can carry
_SAMPLES: dict[str, object] = {"f32": 0.0, "f64": 0.0, "bool": False, "string": "", "bytes": b"", "enum": "A"}


def default_dictionary_path() -> Path:
    return Path(str(resources.files("flight.dictionary").joinpath("zenith.json")))


def load_dictionary(path: str | Path | None = None) -> Dictionary:
    """Load and validate a dictionary file (Zenith's own when ``path`` is None)."""
    path = Path(path) if path is not None else default_dictionary_path()
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise DictionaryError(f"cannot read dictionary {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise DictionaryError(f"dictionary {path} is not valid JSON: {exc}") from None
    return parse_dictionary(doc)


def parse_dictionary(doc: Any) -> Dictionary:
    r = _Reader(doc, "")
    if r.get("format", str) != "zenith-dictionary":
        raise DictionaryError('format: expected "zenith-dictionary"')
    if r.get("version", int) != 1:
        raise DictionaryError("version: only version 1 is understood")
    mission = _mission(r.child("mission"))
    commands = tuple(_command(c, mission.apids) for c in r.items("commands"))
    telemetry = tuple(_channel(c) for c in r.items("telemetry"))
    events = tuple(_event(e) for e in r.items("events"))
    parameters = tuple(_parameter(p) for p in r.items("parameters"))
    _unique("commands", [c.name for c in commands], "name")
    _unique("commands", [c.opcode for c in commands], "service/subtype/function_id")
    for kind, entries in (("telemetry", telemetry), ("events", events), ("parameters", parameters)):
        _unique(kind, [e.name for e in entries], "name")
        _unique(kind, [e.id for e in entries], "id")
    # Reports name channels, so the channel names must be known unique first: a repeated name is
    # the mistake to report, not the report entry that no longer finds the renamed channel.
    channels = {c.name: c for c in telemetry}
    housekeeping = tuple(_report(h, channels) for h in r.items("housekeeping"))
    _unique("housekeeping", [h.sid for h in housekeeping], "sid")
    _unique("housekeeping", [h.name for h in housekeeping], "name")
    return Dictionary(mission, commands, telemetry, events, parameters, housekeeping)


class _Reader:
    """A JSON object with its path, for typed access and path-naming errors."""

    def __init__(self, node: Any, path: str) -> None:
        if not isinstance(node, dict):
            raise DictionaryError(f"{path or 'dictionary'}: expected an object")
        self.node = node
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = ..., ) -> Any:
        if key not in self.node:
            if default is ...:
                raise DictionaryError(f"{self.where(key)}: missing")
            return default
        value = self.node[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            raise DictionaryError(f"{self.where(key)}: expected {_names(kinds)}, got bool")
        if not isinstance(value, kinds):
            raise DictionaryError(f"{self.where(key)}: expected {_names(kinds)}, got {type(value).__name__}")
        return value

    def child(self, key: str) -> _Reader:
        return _Reader(self.get(key, dict), self.where(key))

    def items(self, key: str) -> list[_Reader]:
        return [_Reader(node, f"{self.where(key)}[{i}]") for i, node in enumerate(self.get(key, list, []))]

    def name(self, key: str = "name") -> str:
        value = self.get(key, str)
        if not value or not set(value) <= _NAME_CHARS:
            raise DictionaryError(f"{self.where(key)}: {value!r} must be letters, digits, '_' or '.'")
        return value

    def int_in(self, key: str, low: int, high: int, default: Any = ...) -> Any:
        value = self.get(key, int, default)
        if value is not None and value is not default and not low <= value <= high:
            raise DictionaryError(f"{self.where(key)}: {value} out of {low}..{high}")
        return value


def _names(kinds: tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in kinds)


def _unique(section: str, keys: list[Any], what: str) -> None:
    seen = set()
    for key in keys:
        if key in seen:
            raise DictionaryError(f"{section}: {what} {key!r} is used twice")
        seen.add(key)


def _mission(r: _Reader) -> Mission:
    t = r.child("tm_time")
    if t.get("code", str) != "CUC":
        raise DictionaryError(f"{t.where('code')}: only CUC is implemented")
    try:
        fmt = CucFormat(t.get("coarse_octets", int), t.get("fine_octets", int))
    except Exception as exc:  # TimeCodeError: reported as a dictionary error
        raise DictionaryError(f"{t.path}: {exc}") from None
    try:
        p_field = int(t.get("p_field", str), 16)
    except ValueError:
        raise DictionaryError(f"{t.where('p_field')}: not a hex octet") from None
    if p_field != fmt.p_field:
        raise DictionaryError(f"{t.where('p_field')}: does not match the octet counts (0x{fmt.p_field:02X})")
    apids_reader = r.child("apids")
    apids = {}
    for key in apids_reader.node:
        apids[key] = apids_reader.int_in(key, 0, 0x7FE)
    return Mission(r.get("name", str), r.int_in("spacecraft_id", 0, 0x3FF), fmt, apids)


def _value_type(r: _Reader) -> ValueType:
    kind = r.get("type", str)
    if kind not in TYPE_NAMES:
        raise DictionaryError(f"{r.where('type')}: unknown type {kind!r} (one of {', '.join(TYPE_NAMES)})")
    values = r.get("values", dict, {})
    if kind == "enum":
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values.values()):
            raise DictionaryError(f"{r.where('values')}: an enum needs labels mapped to integer codes")
        if len(set(values.values())) != len(values):
            raise DictionaryError(f"{r.where('values')}: enum codes must be distinct")
        if not all(ENUM_CODES[0] <= v <= ENUM_CODES[1] for v in values.values()):
            raise DictionaryError(f"{r.where('values')}: enum codes must fit 64 bits (msgpack integers)")
    elif values:
        raise DictionaryError(f"{r.where('values')}: only enums have values")
    minimum = r.get("min", (int, float), None)
    maximum = r.get("max", (int, float), None)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise DictionaryError(f"{r.path}: min {minimum} is above max {maximum}")
    if kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind]
        for bound, key in ((minimum, "min"), (maximum, "max")):
            if bound is not None and not low <= bound <= high:
                raise DictionaryError(f"{r.where(key)}: {bound} does not fit {kind}")
    return ValueType(kind, minimum, maximum, r.int_in("max_length", 0, 65535, 256), dict(values))


def _arguments(r: _Reader) -> tuple[Argument, ...]:
    args = tuple(Argument(a.name(), _value_type(a), a.get("units", str, ""), a.get("description", str, ""))
                 for a in r.items("arguments"))
    _unique(r.where("arguments"), [a.name for a in args], "name")
    return args


def _command(r: _Reader, apids: dict[str, int]) -> Command:
    service, subtype = r.int_in("service", 1, 255), r.int_in("subtype", 1, 255)
    function_id = r.int_in("function_id", 0, 0xFFFF, None)
    if ((service, subtype) == FUNCTION_MANAGEMENT) != (function_id is not None):
        raise DictionaryError(f"{r.where('function_id')}: required exactly for PUS 8,1 commands")
    apid_name = r.get("apid", str)
    if apid_name not in apids:
        raise DictionaryError(f"{r.where('apid')}: {apid_name!r} is not in mission.apids")
    return Command(r.name(), service, subtype, apids[apid_name], _arguments(r), function_id,
                   r.get("description", str, ""), r.get("essential", bool, False))


def _limits(r: _Reader, value_type: ValueType) -> Limits:
    if "limits" not in r.node:
        return Limits()
    lim = r.child("limits")
    numbers = {k: lim.get(k, (int, float), None) for k in ("warning_low", "warning_high", "critical_low", "critical_high")}
    critical_values = tuple(lim.get("critical_values", list, []))
    for label in critical_values:
        if not isinstance(label, str) or label not in value_type.values:
            raise DictionaryError(f"{lim.where('critical_values')}: {label!r} is not a value of the enum")
    unknown = set(lim.node) - {*numbers, "critical_values"}
    if unknown:
        raise DictionaryError(f"{lim.path}: unknown limit {sorted(unknown)[0]!r}")
    return Limits(**numbers, critical_values=critical_values)


def _channel(r: _Reader) -> Channel:
    value_type = _value_type(r)
    return Channel(r.int_in("id", 0, 0xFFFF), r.name(), value_type, r.get("units", str, ""),
                   r.get("description", str, ""), _limits(r, value_type))


def _event(r: _Reader) -> Event:
    try:
        severity = Severity[r.get("severity", str).upper()]
    except KeyError:
        raise DictionaryError(f"{r.where('severity')}: one of info, low, medium, high") from None
    fmt = r.get("format", str)
    arguments = _arguments(r)
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None}
    except ValueError as exc:
        raise DictionaryError(f"{r.where('format')}: {exc}") from None
    names = {a.name for a in arguments}
    if fields != names:
        raise DictionaryError(f"{r.where('format')}: placeholders {sorted(fields)} do not match arguments {sorted(names)}")
    try:  # conversions and format specs must work for every argument's type, not only the names
        fmt.format(**{a.name: _SAMPLES.get(a.type.name, 0) for a in arguments})
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise DictionaryError(f"{r.where('format')}: {exc}") from None
    return Event(r.int_in("id", 0, 0xFFFF), r.name(), severity, fmt, arguments)


def _parameter(r: _Reader) -> Parameter:
    value_type = _value_type(r)
    default = r.node.get("default")
    try:
        value_type.check(default, r.where("default"))
    except CommandError as exc:
        raise DictionaryError(str(exc).removeprefix("command.")) from None
    return Parameter(r.int_in("id", 0, 0xFFFF), r.name(), value_type, default, r.get("units", str, ""),
                     r.get("description", str, ""))


def _report(r: _Reader, channels: dict[str, Channel]) -> HousekeepingReport:
    chosen = []
    for i, name in enumerate(r.get("channels", list)):
        where = f"{r.where('channels')}[{i}]"
        channel = channels.get(name) if isinstance(name, str) else None
        if channel is None:
            raise DictionaryError(f"{where}: {name!r} is not a telemetry channel")
        if channel.type.name not in PACKED_TYPES:
            raise DictionaryError(f"{where}: a {channel.type.name} channel cannot go in a housekeeping report")
        if channel.type.name == "enum" and not all(0 <= code <= 255 for code in channel.type.values.values()):
            raise DictionaryError(f"{where}: enum codes of a reported channel must fit one octet")
        chosen.append(channel)
    _unique(r.where("channels"), [c.name for c in chosen], "channel")
    interval = r.get("interval", (int, float))
    if not 0 < interval <= 86400:
        raise DictionaryError(f"{r.where('interval')}: {interval} out of (0, 86400] seconds")
    return HousekeepingReport(r.int_in("sid", 1, 0xFFFF), r.name(), tuple(chosen), float(interval),
                              r.get("enabled", bool, True))

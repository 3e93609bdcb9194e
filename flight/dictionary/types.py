"""Value types shared by command arguments, telemetry channels, event arguments and parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from flight.link.errors import CommandError

INTEGER_RANGES = {
    "u8": (0, 2**8 - 1),
    "u16": (0, 2**16 - 1),
    "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
    "i8": (-(2**7), 2**7 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1),
}
FLOAT_LIMITS = {"f32": 3.4028234663852886e38, "f64": 1.7976931348623157e308}
OTHER_TYPES = ("bool", "string", "bytes", "enum", "scalar")
TYPE_NAMES = (*INTEGER_RANGES, *FLOAT_LIMITS, *OTHER_TYPES)
DEFAULT_MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class ValueType:
    """A typed, range-checked value; ``check`` turns wire or user input into a valid value or raises."""

    name: str  # u8 … f64, bool, string, bytes, enum, scalar (any of int, float, bool, string: a parameter value)
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    values: dict[str, int] = field(default_factory=dict)  # enum labels to codes

    def check(self, value: Any, where: str) -> Any:
        """Validate a value given by a user (enum labels allowed); return it in canonical form."""
        if self.name == "enum" and isinstance(value, str):
            if value not in self.values:
                raise CommandError(where, f"{value!r} is not one of {sorted(self.values)}")
            return value
        return self.from_wire(value, where)

    def to_wire(self, value: Any) -> Any:
        """The msgpack form of a checked value: enums travel as their integer code."""
        if self.name == "enum":
            return self.values[value]
        return value

    def from_wire(self, value: Any, where: str) -> Any:
        """Validate a decoded wire value; enums come back as their label."""
        kind = self.name
        if kind in INTEGER_RANGES:
            if type(value) is not int:
                raise CommandError(where, f"expected integer ({kind}), got {type(value).__name__}")
            low, high = INTEGER_RANGES[kind]
            if not low <= value <= high:
                raise CommandError(where, f"{value} does not fit {kind}")
            return self._in_range(value, where)
        if kind in FLOAT_LIMITS:
            if type(value) not in (int, float):
                raise CommandError(where, f"expected number ({kind}), got {type(value).__name__}")
            try:
                value = float(value)
            except OverflowError:
                value = math.inf
            if not math.isfinite(value) or abs(value) > FLOAT_LIMITS[kind]:
                raise CommandError(where, f"{value} is not a finite {kind}")
            return self._in_range(value, where)
        if kind == "bool":
            if type(value) is not bool:
                raise CommandError(where, f"expected bool, got {type(value).__name__}")
            return value
        if kind in ("string", "bytes"):
            expected = str if kind == "string" else bytes
            if type(value) is not expected:
                raise CommandError(where, f"expected {kind}, got {type(value).__name__}")
            if len(value) > self.max_length:
                raise CommandError(where, f"{len(value)} long, at most {self.max_length}")
            return value
        if kind == "scalar":
            # The value of a parameter whose type the command names separately: checked again there.
            if type(value) in (bool, str):
                return ValueType("bool" if type(value) is bool else "string", max_length=self.max_length
                                 ).from_wire(value, where)
            if type(value) is int:
                return ValueType("i64" if value < 0 else "u64").from_wire(value, where)
            if type(value) is float:
                return ValueType("f64").from_wire(value, where)
            raise CommandError(where, f"expected a number, bool or string, got {type(value).__name__}")
        # enum
        if type(value) is not int:
            raise CommandError(where, f"expected enum code, got {type(value).__name__}")
        for label, code in self.values.items():
            if code == value:
                return label
        raise CommandError(where, f"{value} is not a code of {sorted(self.values)}")

    def _in_range(self, value: float, where: str) -> float:
        if self.minimum is not None and value < self.minimum:
            raise CommandError(where, f"{value} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise CommandError(where, f"{value} is above the maximum {self.maximum}")
        return value


def json_value(value: Any) -> Any:
    """A value as strict JSON can carry it: ``bytes`` become hex, NaN and the infinities their names
    ("nan", "inf", "-inf": strict JSON has no such numbers, and browsers refuse them), and maps and
    sequences are walked; everything else is JSON already."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value

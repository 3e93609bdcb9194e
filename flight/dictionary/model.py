"""The dictionary's contents as typed objects: commands, telemetry channels, events, parameters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from flight.dictionary.types import ValueType
from flight.link.errors import ZenithError
from flight.link.timecode import CucFormat

FUNCTION_MANAGEMENT = (8, 1)  # PUS 8,1 "perform function": app data starts with a function ID


class Severity(enum.IntEnum):
    """PUS 5 event severities; the value is the TM[5,x] subtype that reports them."""

    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4


@dataclass(frozen=True, slots=True)
class Argument:
    name: str
    type: ValueType
    units: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    service: int
    subtype: int
    apid: int
    arguments: tuple[Argument, ...] = ()
    function_id: int | None = None
    description: str = ""
    essential: bool = False  # still accepted in safe mode

    @property
    def opcode(self) -> tuple[int, int, int | None]:
        return (self.service, self.subtype, self.function_id)


@dataclass(frozen=True, slots=True)
class Limits:
    warning_low: float | None = None
    warning_high: float | None = None
    critical_low: float | None = None
    critical_high: float | None = None
    critical_values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    name: str
    type: ValueType
    units: str = ""
    description: str = ""
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    name: str
    severity: Severity
    format: str
    arguments: tuple[Argument, ...] = ()

    def render(self, values: dict[str, object]) -> str:
        return self.format.format(**values)


@dataclass(frozen=True, slots=True)
class Parameter:
    id: int
    name: str
    type: ValueType
    default: object
    units: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class HousekeepingReport:
    """A PUS 3 housekeeping structure: the channels one TM[3,25] report carries, in order."""

    sid: int
    name: str
    channels: tuple[Channel, ...]
    interval: float  # default collection interval, seconds; changed by command
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class Mission:
    name: str
    spacecraft_id: int
    tm_time: CucFormat
    apids: dict[str, int]


@dataclass(eq=False)
class Dictionary:
    mission: Mission
    commands: tuple[Command, ...]
    telemetry: tuple[Channel, ...]
    events: tuple[Event, ...]
    parameters: tuple[Parameter, ...]
    housekeeping: tuple[HousekeepingReport, ...] = ()

    def __post_init__(self) -> None:
        self._commands_by_name = {c.name: c for c in self.commands}
        self._commands_by_opcode = {c.opcode: c for c in self.commands}
        self._channels_by_name = {c.name: c for c in self.telemetry}
        self._events_by_name = {e.name: e for e in self.events}
        self._events_by_id = {e.id: e for e in self.events}
        self._parameters_by_name = {p.name: p for p in self.parameters}
        self._reports_by_sid = {r.sid: r for r in self.housekeeping}

    def command(self, name: str) -> Command | None:
        return self._commands_by_name.get(name)

    def command_for(self, service: int, subtype: int, function_id: int | None = None) -> Command | None:
        return self._commands_by_opcode.get((service, subtype, function_id))

    def channel(self, name: str) -> Channel | None:
        return self._channels_by_name.get(name)

    def channels_named(self, names: list[str]) -> list[Channel]:
        """The channels of these names, in order; ZenithError names the first that is not one."""
        unknown = [name for name in names if name not in self._channels_by_name]
        if unknown:
            raise ZenithError(f"no telemetry channel {unknown[0]!r} in the dictionary")
        return [self._channels_by_name[name] for name in names]

    def event(self, key: str | int) -> Event | None:
        return self._events_by_id.get(key) if isinstance(key, int) else self._events_by_name.get(key)

    def parameter(self, name: str) -> Parameter | None:
        return self._parameters_by_name.get(name)

    def report(self, sid: int) -> HousekeepingReport | None:
        return self._reports_by_sid.get(sid)

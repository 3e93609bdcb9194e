"""A mission scenario: one TOML file saying what to fly, what to break, and what must hold at the end.

Example (every table but ``[mission]`` may be left out)::

    [mission]
    name = "default"
    rate = 90.0             # simulated seconds per real one: the orbit, the bus and the passes
    orbits = 3.0            # how long the mission flies
    orbit = "default"       # or "dawn-dusk"
    seed = 7

    [link]
    preset = "lossy"        # a `hil link` fault preset, with OPTION=VALUE overrides
    faults = ["loss=0.2"]
    stations = ["redmond", "hartebeesthoek"]   # the passes come from the orbit; [] = always up

    [bus]
    capacity_wh = 400.0     # any of the EPS's settings, as `hil bus` takes them (hil.bus.eps)

    [[command]]
    at = "aos 1 + 30s"      # see hil.mission.when
    name = "JOB_START"
    args = { kind = "TRAIN", config = '{"max_iters": 200}' }   # an octet argument: a hex string

    [[command]]
    at = "aos 1"
    name = "NOOP"
    repeat = 1000           # sent 1000 times, 4 simulated seconds apart
    every = "4s"

    [[fault]]
    at = "eclipse 1 + 2m"
    kind = "seu"            # kill-supervisor, kill-worker, seu, ecc, link, power
    job = 1
    target = "param"
    within = "20m"          # a job not at work then is tried again until this long after

    [[downlink]]
    at = "aos 3 + 1m"
    remote = "jobs/job-1/checkpoints/step-*.safetensors"   # by CFDP; a * takes the newest match

    [[expect]]
    field = "commands.lost"
    equals = 0

Everything is checked when the file is read, commands against the dictionary, and any mistake is
a :class:`ScenarioError` naming the file, the line and the field. A scenario is data: nothing in it
is run as code.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.dictionary import encode_command
from flight.dictionary.model import Dictionary
from flight.jobs.job_spec import parse_job_config
from flight.link.config import from_table
from flight.link.errors import CommandError, ConfigError
from flight.power.bus_message import BusMessageError
from flight.seu.bit_class import BIT_CLASSES
from ground.operator_cli import octets_from_hex
from hil.bus.anomaly import Anomaly
from hil.bus.eps import EpsSettings
from hil.bus.link_passes import stations_named
from hil.bus.orbit import NAMED_ORBITS
from hil.link.presets import FAULT_PRESETS, fault_options
from hil.mission.toml_lines import key_lines, locate
from hil.mission.when import When, parse_when

_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)")
MAX_FILE = 1 << 20  # a scenario is a page of text; a megabyte is not one
MAX_REPEAT = 10_000


class ScenarioError(ConfigError):
    """A scenario file that cannot be flown: names the file, line and field."""

    def __init__(self, path: Path | str, line: int | None, where: str, reason: str) -> None:
        self.path, self.line, self.where, self.reason = str(path), line, where, reason
        place = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{place}: {where}: {reason}" if where else f"{place}: {reason}")


def _check(ok: bool, name: str, reason: str) -> None:
    """A field's own check, raised so that the error names the field (and so its line)."""
    if not ok:
        raise ConfigError(f"{name}: {reason}")


def _check_link_faults(preset: str, faults: tuple[str, ...]) -> None:
    """A `hil link` fault preset and its OPTION=VALUE overrides, as the emulator will take them."""
    _check(preset in FAULT_PRESETS, "preset", f"{preset!r} is not one of {', '.join(FAULT_PRESETS)}")
    try:
        fault_options(preset, list(faults))
    except ValueError as exc:
        raise ConfigError(f"faults: {exc}") from None


@dataclass(frozen=True)
class MissionSection:
    name: str
    description: str = ""
    rate: float = 90.0  # simulated seconds per real one
    orbits: float = 3.0
    orbit: str = "default"
    # Hours after the orbit's epoch that the mission starts; left out: ten minutes before the first
    # pass of the link's stations, so that the mission opens with a pass coming.
    start_hours: float | None = None
    seed: int = 7

    def __post_init__(self) -> None:
        _check(bool(self.name.strip()), "name", "must not be empty")
        _check(0 < self.rate <= 10_000, "rate", f"{self.rate} is not in (0, 10000]")
        _check(0 < self.orbits <= 100, "orbits", f"{self.orbits} is not in (0, 100]")
        _check(self.orbit in NAMED_ORBITS, "orbit", f"{self.orbit!r} is not one of {', '.join(NAMED_ORBITS)}")
        _check(self.start_hours is None or 0 <= self.start_hours <= 24 * 30, "start_hours", "must be in [0, 720]")


@dataclass(frozen=True)
class LinkSection:
    preset: str = "lossy"
    faults: tuple[str, ...] = ()  # OPTION=VALUE overrides of the preset, as `hil link` takes them
    stations: tuple[str, ...] = ("redmond", "hartebeesthoek")

    def __post_init__(self) -> None:
        _check_link_faults(self.preset, self.faults)
        if self.stations:  # none: the link is always up
            try:
                stations_named(self.stations)
            except ConfigError as exc:
                raise ConfigError(f"stations: {exc}") from None


def _when(value: object, name: str) -> When:
    try:
        return parse_when(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Timed:
    """A step of the timeline: ``at`` as written (see :mod:`hil.mission.when`), and as read."""

    at: float | str
    when: When = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", _when(self.at, "at"))


@dataclass(frozen=True)
class TimelineCommand(Timed):
    """An operator's command, sent at ``at`` (when the link is up: queued by COP-1 until it is). With
    ``release``, it is time-tagged: uplinked at ``at`` inside a SCHEDULE_INSERT, and run on board at
    ``release``, in contact or not."""

    name: str = ""  # required (a default only because ``at`` comes first)
    args: dict[str, Any] = field(default_factory=dict)
    release: float | str | None = None
    released: When | None = field(init=False, default=None)
    repeat: int = 1  # sent this many times, ``every`` apart (a soak)
    every: float | str = 0.0
    every_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(bool(self.name), "name", "missing: the dictionary's name of the command")
        if self.release is not None:
            object.__setattr__(self, "released", _when(self.release, "release"))
        _check(1 <= self.repeat <= MAX_REPEAT, "repeat", f"{self.repeat} is not in [1, {MAX_REPEAT}]")
        every = _when(self.every, "every")
        _check(every.anchor == "start", "every", f"{self.every!r} is not a duration (say '4s' or 2.5)")
        _check(self.repeat == 1 or every.offset_s > 0, "every", "a repeated command needs a time between sends")
        object.__setattr__(self, "every_s", every.offset_s)


@dataclass(frozen=True)
class Downlink(Timed):
    """A file brought down from the payload's filestore by CFDP (class 2), verified by its checksum. A
    ``*`` in the last part of the path stands for the newest match there, as a listing shows it."""

    remote: str = ""  # required

    def __post_init__(self) -> None:
        super().__post_init__()
        parts = self.remote.split("/")
        _check(bool(self.remote) and not self.remote.startswith("/") and ".." not in parts and all(parts),
               "remote", f"{self.remote!r} is not a path inside the payload's filestore (like jobs/job-1/output.txt)")
        _check("*" not in "/".join(parts[:-1]), "remote", "only the file's own name may hold a *")


# --- faults: each kind its own fields ------------------------------------------------------------


@dataclass(frozen=True)
class KillSupervisor(Timed):
    pass


@dataclass(frozen=True)
class AtJob(Timed):
    """A fault aimed at a job's worker. A job is not always at work when the timeline says (it may still
    be starting, queued behind another, or suspended for an eclipse, and how long each takes depends
    on the machine), so when it is not, the bench tries again until ``within`` has passed."""

    job: int = 1
    within: float | str = "20m"
    within_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.job >= 1, "job", "jobs are numbered from 1")
        within = _when(self.within, "within")
        _check(within.anchor == "start", "within", f"{self.within!r} is not a duration (say '20m' or 600)")
        object.__setattr__(self, "within_s", within.offset_s)


@dataclass(frozen=True)
class KillWorker(AtJob):
    pass


@dataclass(frozen=True)
class SeuFault(AtJob):
    """A bit flipped in a running job's memory, through the bench's keyed fault interface."""

    target: str = "any"  # param, optim, weights, any, or a tensor's name
    bits: str = "any"
    count: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.bits in BIT_CLASSES, "bits", f"{self.bits!r} is not one of {', '.join(BIT_CLASSES)}")
        _check(1 <= self.count <= 100, "count", f"{self.count} is not in [1, 100]")
        _check(bool(self.target), "target", "must not be empty")


@dataclass(frozen=True)
class EccFault(Timed):
    corrected: int = 0
    uncorrected: int = 0
    xid: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(0 <= self.corrected <= 1_000_000, "corrected", "must be in [0, 1000000]")
        _check(0 <= self.uncorrected <= 1_000_000, "uncorrected", "must be in [0, 1000000]")
        _check(self.xid is None or 0 < self.xid < 1000, "xid", "must be in [1, 999]")
        _check(bool(self.corrected or self.uncorrected or self.xid), "corrected", "the fault changes nothing")


@dataclass(frozen=True)
class LinkFault(Timed):
    """The link's faults from ``at`` on (another preset, with overrides)."""

    preset: str = "lossy"
    faults: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_link_faults(self.preset, self.faults)


@dataclass(frozen=True)
class PowerFault(Timed):
    """A power anomaly from ``at`` on: part of the array lost, or a bus load switched on."""

    array_share: float = 1.0  # of the array still working
    extra_load_w: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.anomaly()  # checked as the bus will check it

    def anomaly(self) -> Anomaly:
        """What goes to the bus's control port."""
        try:
            return Anomaly(self.array_share, self.extra_load_w)
        except BusMessageError as exc:  # "anomaly.array_share: ...": the same field here
            raise ConfigError(str(exc).removeprefix("anomaly.")) from None


FAULT_KINDS: dict[str, type] = {"kill-supervisor": KillSupervisor, "kill-worker": KillWorker, "seu": SeuFault,
                                "ecc": EccFault, "link": LinkFault, "power": PowerFault}
Fault = KillSupervisor | KillWorker | SeuFault | EccFault | LinkFault | PowerFault


# --- expectations ---------------------------------------------------------------------------------

SUMMARY_FIELDS = {
    "commands": ("sent", "accepted", "completed", "failed", "lost", "duplicated"),
    "link": ("frames_up", "frames_down", "frame_error_rate", "outages"),
    "telemetry": ("packets_generated", "packets_archived", "packets_missing"),
    "seu": ("injected", "detected", "repaired", "rolled_back", "missed"),
    "power": ("min_soc", "floor_violations", "max_temp_c", "limit_violations"),
    "files": ("sent", "verified"),
}
JOB_FIELDS = ("kind", "state", "steps", "final_loss", "tokens_per_s")
OPERATORS = ("equals", "at_most", "at_least")


@dataclass(frozen=True)
class Expectation:
    """One line of the judgement: a summary field (``commands.lost``, ``jobs.1.state``, ``wall_s``)
    equal to, at most or at least a value."""

    field: str
    equals: Any = None  # a number, text or true/false, compared as written
    at_most: float | None = None
    at_least: float | None = None

    def __post_init__(self) -> None:
        _check(_known_field(self.field), "field", f"{self.field!r} is not a summary field")
        _check(self.equals is None or isinstance(self.equals, (int, float, str, bool)), "equals",
               f"{type(self.equals).__name__} is not a number, text or true/false")
        given = [name for name in OPERATORS if getattr(self, name) is not None]
        _check(len(given) == 1, "equals", f"say exactly one of {', '.join(OPERATORS)} (got {len(given)})")
        for name in ("at_most", "at_least"):
            value = getattr(self, name)
            _check(value is None or math.isfinite(value), name, "must be a finite number")

    @property
    def operator(self) -> str:
        return next(name for name in OPERATORS if getattr(self, name) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.operator)

    def holds(self, actual: Any) -> bool:
        """Whether ``actual`` (the summary's value; None: not there) meets it."""
        if actual is None:
            return False
        if self.operator == "equals":
            return bool(actual == self.value)
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return False
        return actual <= self.value if self.operator == "at_most" else actual >= self.value

    def __str__(self) -> str:
        words = {"equals": "=", "at_most": "≤", "at_least": "≥"}
        return f"{self.field} {words[self.operator]} {self.value}"


def _known_field(name: str) -> bool:
    parts = name.split(".")
    if parts == ["wall_s"]:
        return True
    if len(parts) == 3 and parts[0] == "jobs":
        return parts[1].isdigit() and int(parts[1]) >= 1 and parts[2] in JOB_FIELDS
    return len(parts) == 2 and parts[1] in SUMMARY_FIELDS.get(parts[0], ())


# --- the whole file -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    mission: MissionSection
    link: LinkSection = LinkSection()
    bus: EpsSettings = EpsSettings()  # the bus's EPS, as `hil bus` takes it
    commands: tuple[TimelineCommand, ...] = ()
    faults: tuple[Fault, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    downlinks: tuple[Downlink, ...] = ()
    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)  # where each key is written, for later errors

    def error(self, where: str, reason: str) -> ScenarioError:
        """A mistake found after reading (a time the orbit cannot give), at its line."""
        return ScenarioError(self.path or "<scenario>", locate(self.lines, where), where, reason)


TABLES = ("mission", "link", "bus", "command", "fault", "downlink", "expect")


def load_scenario(path: Path, dictionary: Dictionary) -> Scenario:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise ScenarioError(path, None, "", f"cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_FILE:
        raise ScenarioError(path, None, "", f"more than {MAX_FILE} octets: not a scenario")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(path, raw[:exc.start].count(b"\n") + 1, "", "not UTF-8 text") from None
    return parse_scenario(text, dictionary, path)


def parse_scenario(text: str, dictionary: Dictionary, path: Path | str = "<scenario>") -> Scenario:
    """The scenario in ``text``; a :class:`ScenarioError` naming the line and field if it is not one."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # "... (at line 3, column 8)": the line is only in the text
        found = _AT_LINE.search(str(exc))
        raise ScenarioError(path, int(found[1]) if found else None, "",
                            f"not valid TOML: {_AT_LINE.sub('', str(exc))}") from None
    lines = key_lines(text)
    try:
        return dataclasses.replace(_build(doc, dictionary, Path(path)), lines=lines)
    except ConfigError as exc:
        where, reason = _split_error(str(exc))
        raise ScenarioError(path, locate(lines, where), where, reason) from None


def _build(doc: dict[str, Any], dictionary: Dictionary, path: Path) -> Scenario:
    unknown = sorted(set(doc) - set(TABLES))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown table (known: {', '.join(TABLES)})")
    if "mission" not in doc:
        raise ConfigError("mission: missing (every scenario has a [mission] table with its name)")
    # in the order a file is usually written, so that the first mistake reported is the first one there
    mission = from_table(MissionSection, doc["mission"], "mission")
    link = from_table(LinkSection, doc.get("link", {}), "link")
    bus = from_table(EpsSettings, doc.get("bus", {}), "bus")
    commands = tuple(_command(entry, f"command[{i}]", dictionary) for i, entry in enumerate(_array(doc, "command")))
    faults = tuple(_fault(entry, f"fault[{i}]") for i, entry in enumerate(_array(doc, "fault")))
    downlinks = tuple(from_table(Downlink, entry, f"downlink[{i}]") for i, entry in enumerate(_array(doc, "downlink")))
    expectations = tuple(from_table(Expectation, entry, f"expect[{i}]")
                         for i, entry in enumerate(_array(doc, "expect")))
    return Scenario(mission, link, bus, commands, faults, expectations, downlinks, path)


def _array(doc: dict[str, Any], name: str) -> list[Any]:
    entries = doc.get(name, [])
    if not isinstance(entries, list):
        raise ConfigError(f"{name}: write each as [[{name}]]")
    return entries


def _command(entry: Any, where: str, dictionary: Dictionary) -> TimelineCommand:
    command = from_table(TimelineCommand, entry, where)
    try:
        known = dictionary.command(command.name)
        if known is not None:  # TOML has no octet strings: a bytes argument is written in hex
            command.args.update(octets_from_hex(known, command.args))
        packet = encode_command(dictionary, command.name, command.args)
        if command.released is not None:  # the insert that carries it must take it too
            encode_command(dictionary, "SCHEDULE_INSERT", {"time": 0.0, "command": packet})
    except CommandError as exc:
        _, _, argument = exc.field.partition(".")
        raise ConfigError(f"{where}.{'args.' + argument if argument else 'name'}: {exc.reason}") from None
    if command.name == "JOB_START":  # the job's own settings, as the supervisor will read them
        try:
            parse_job_config(command.args["kind"], command.args.get("config", ""))
        except CommandError as exc:
            raise ConfigError(f"{where}.args.config: {exc.field}: {exc.reason}") from None
    return command


def _fault(entry: Any, where: str) -> Fault:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    kind = entry.get("kind")
    if not isinstance(kind, str) or kind not in FAULT_KINDS:  # a list or table is not hashable
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    fields = {name: value for name, value in entry.items() if name != "kind"}
    fault: Fault = from_table(FAULT_KINDS[kind], fields, where)
    return fault


def _split_error(message: str) -> tuple[str, str]:
    """``from_table``'s "path: reason" (or "table: field: reason", from a section's own check) as
    the field's path and the reason."""
    where, _, reason = message.partition(": ")
    head, sep, rest = reason.partition(": ")
    return (f"{where}.{head}", rest) if sep and head.isidentifier() else (where, reason)


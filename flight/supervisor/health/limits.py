"""Limit checks on the dictionary's channels, with events and configured responses.

Each channel with limits is nominal, in warning or critical. A change of level raises one event
(LIMIT_WARNING, LIMIT_CRITICAL or LIMIT_NOMINAL), never one per sample, and entering a level for
which a response is configured returns that response once, for the supervisor to carry out (safe
mode, or a telecommand through the journal like any other).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flight.counters import Counters
from flight.dictionary.commands import check_arguments
from flight.dictionary.model import Channel, Dictionary, Limits
from flight.link.errors import CommandError, ConfigError
from flight.supervisor.services.events import EventReporter


class Level(enum.IntEnum):
    NOMINAL = 0
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True, slots=True)
class LimitResponse:
    """What to do when ``channel`` enters ``level`` (or worse): "SAFE_MODE", or a command to run."""

    channel: str
    level: str = "critical"
    action: str = "SAFE_MODE"
    arguments: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in ("warning", "critical"):
            raise ConfigError(f"limit response level {self.level!r}: warning or critical")


def level_of(limits: Limits, value: Any) -> tuple[Level, Any]:
    """The level of a value and the limit it crossed (None when nominal)."""
    if isinstance(value, str):
        return (Level.CRITICAL, value) if value in limits.critical_values else (Level.NOMINAL, None)
    if isinstance(value, float) and math.isnan(value):
        return Level.NOMINAL, None
    checks = ((Level.CRITICAL, limits.critical_low, -1), (Level.CRITICAL, limits.critical_high, 1),
              (Level.WARNING, limits.warning_low, -1), (Level.WARNING, limits.warning_high, 1))
    for level, bound, side in checks:
        if bound is not None and (value < bound if side < 0 else value > bound):
            return level, bound
    return Level.NOMINAL, None


class LimitChecker:
    def __init__(self, dictionary: Dictionary, events: EventReporter, responses: tuple[LimitResponse, ...] = ()
                 ) -> None:
        self.events = events
        self.channels: list[Channel] = [c for c in dictionary.telemetry if c.limits != Limits()]
        known = {c.name for c in dictionary.telemetry}
        for response in responses:
            if response.channel not in known:
                raise ConfigError(f"limit response on {response.channel!r}: no such telemetry channel")
            _check_action(dictionary, response)
            channel = next(c for c in dictionary.telemetry if c.name == response.channel)
            if not _has_level(channel.limits, response.level):
                raise ConfigError(f"limit response on {response.channel}: the channel has no {response.level} "
                                  f"limit, so it could never fire")
        self.responses = responses
        self.levels: dict[str, Level] = {}
        self.counters = Counters("health")

    def check(self, values: Mapping[str, Any]) -> list[LimitResponse]:
        """Inside a unit of work: raise events for changes of level; the responses now due."""
        due = []
        for channel in self.channels:
            if channel.name not in values:
                continue
            value = values[channel.name]
            level, bound = level_of(channel.limits, value)
            before = self.levels.get(channel.name, Level.NOMINAL)
            if level == before:
                continue
            self.levels[channel.name] = level
            if level is Level.NOMINAL:
                self.events.raise_event("LIMIT_NOMINAL", channel=channel.name, value=str(value))
                continue
            self.counters.inc("limit_violations")
            if level is Level.WARNING:
                self.events.raise_event("LIMIT_WARNING", channel=channel.name, value=float(value), limit=float(bound))
            else:
                self.events.raise_event("LIMIT_CRITICAL", channel=channel.name, value=str(value), limit=str(bound))
            for response in self.responses:
                if response.channel == channel.name and level >= Level[response.level.upper()] > before:
                    self.events.raise_event("LIMIT_RESPONSE", channel=channel.name, action=response.action)
                    due.append(response)
        return due


def _check_action(dictionary: Dictionary, response: LimitResponse) -> None:
    """A response's command is checked now: found wanting when the limit is crossed, it would crash
    the supervisor at every start, as the limit is crossed again."""
    if response.action == "SAFE_MODE":
        return
    where = f"limit response on {response.channel!r}"
    command = dictionary.command(response.action)
    if command is None:
        raise ConfigError(f"{where}: action {response.action!r} is neither SAFE_MODE nor a command")
    try:
        check_arguments(command, response.arguments)
    except CommandError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _has_level(limits: Limits, level: str) -> bool:
    if level == "warning":  # a critical limit passes through warning on its way
        return any(v is not None for v in (limits.warning_low, limits.warning_high)) or _has_level(limits, "critical")
    return (limits.critical_low is not None or limits.critical_high is not None or bool(limits.critical_values))

"""The Python scripting API, for tests and operator procedures (in the spirit of F Prime's).

::

    from ground import api

    with api.connect("zenith.toml") as gs:
        gs.send("PING", wait="completed")
        gs.send("PARAM_SET", name="events.flood_limit", value=50)
        gs.await_tlm("cmd.completed", lambda n: n >= 2, timeout=30)
        gs.assert_event("PARAMETER_CHANGED", name="events.flood_limit")

Commands go through the running station (its control socket); everything read comes from the
station's archive, opened read-only, so a script sees all that was received, even before it started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.dictionary import Dictionary, load_dictionary
from flight.dictionary.model import Severity
from flight.link.errors import ZenithError
from flight.mission_config import MissionFile, load_mission
from ground.archive import Archive, CommandRecord, EventRecord, Stage
from ground.control import ControlClient, read_token
from ground.station_config import control_endpoint, ground_settings

POLL = 0.05
WAITS = ("none", "accepted", "completed")


class CommandTimeout(ZenithError):
    """The stages a wait asked for did not all arrive in time."""


class AssertionFailed(ZenithError, AssertionError):
    """An ``await_*``/``assert_*`` expectation was not met in time."""


@dataclass
class CommandResult:
    command_id: int
    name: str
    stages: list[Stage] = field(default_factory=list)
    scheduled_id: int | None = None  # with ``at``: the archive ID of the time-tagged command itself

    @property
    def failure(self) -> Stage | None:
        return next((s for s in self.stages if not s.ok), None)

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def completed(self) -> bool:
        return any(s.stage == "completion" and s.ok for s in self.stages)


class StationClient:
    def __init__(self, mission: MissionFile, dictionary: Dictionary | None = None, timeout: float = 5.0) -> None:
        settings = ground_settings(mission)
        self.dictionary = dictionary or load_dictionary()
        self.control = ControlClient(control_endpoint(mission, settings),
                                     read_token(mission.resolve(settings.token_file)), timeout)
        self.archive = Archive(mission.resolve(settings.archive), self.dictionary, readonly=True)

    # --- commanding -----------------------------------------------------------------------------

    def send(self, command: str, arguments: Mapping[str, Any] | None = None, /, *, wait: str = "completed",
             timeout: float = 30.0, at: float | None = None, on_stage: Callable[[Stage], None] | None = None,
             **keyword_arguments: Any) -> CommandResult:
        """Uplink a command (validated first by the station against the dictionary) and wait for
        ``wait``: none, accepted or completed. A failure report ends the wait; the result says which."""
        if wait not in WAITS:
            raise ValueError(f"wait must be one of {', '.join(WAITS)}")
        args = {**(arguments or {}), **keyword_arguments}
        reply = self.control.call("send", name=command, arguments=args, at=at)
        result = CommandResult(reply["command_id"], command, scheduled_id=reply.get("scheduled_id"))
        return self._follow(result, wait, timeout, on_stage)

    def send_raw(self, packet: bytes, *, wait: str = "completed", timeout: float = 30.0) -> CommandResult:
        """Uplink a TC packet as given, unchecked (benches, and commands this dictionary lacks)."""
        if wait not in WAITS:
            raise ValueError(f"wait must be one of {', '.join(WAITS)}")
        reply = self.control.call("send_raw", packet=packet)
        return self._follow(CommandResult(reply["command_id"], "RAW"), wait, timeout, None)

    def _follow(self, result: CommandResult, wait: str, timeout: float,
                on_stage: Callable[[Stage], None] | None) -> CommandResult:
        if wait == "none":
            return result
        command = result.name
        deadline = time.monotonic() + timeout
        while True:
            stages = self.archive.stages(result.command_id)
            for stage in stages[len(result.stages):]:
                if on_stage is not None:
                    on_stage(stage)
            result.stages = stages
            if result.failure is not None or _reached(result, wait):
                return result
            if time.monotonic() > deadline:
                got = ", ".join(s.stage for s in stages) or "no report"
                raise CommandTimeout(f"{command} (command {result.command_id}): {got} after {timeout:g} s, "
                                     f"waiting for {wait}")
            time.sleep(POLL)

    def ask_report(self, command: str, arguments: Mapping[str, Any], service: int, subtype: int,
                   timeout: float = 30.0) -> Any:
        """Send a command whose answer is a report TM[service, subtype]; that report's body.

        The report and the completion travel apart, so the report is awaited on its own, from the
        archive, after the command completed. AssertionFailed when either does not come.
        """
        before = self.archive.query("SELECT COALESCE(MAX(packet_id), 0) FROM reports")[0][0]
        result = self.send(command, arguments, wait="completed", timeout=timeout)
        if not result.ok:
            failure = result.failure
            raise AssertionFailed(f"{command} failed at {failure.stage} (code {failure.code}, {failure.field})")
        deadline = time.monotonic() + timeout
        while not (reports := self.archive.reports(service, subtype, before)):
            if time.monotonic() > deadline:
                raise AssertionFailed(f"{command} completed but no TM[{service},{subtype}] came within {timeout:g} s")
            time.sleep(POLL)
        return reports[-1].body

    def mission_time(self) -> float:
        """The spacecraft clock now, as its last housekeeping report and rate tell; the ground clock
        before any report (they agree in flight, where the rate is 1)."""
        rows = self.archive.query("SELECT h.value, p.received FROM hk h JOIN packets p ON p.id = h.packet_id "
                                  "WHERE h.channel = 'clock.time' ORDER BY h.time DESC LIMIT 1")
        if not rows:
            return time.time()
        reported, received = rows[0]
        rate = self.archive.latest(["clock.rate"]).get("clock.rate", (0.0, 1.0))[1]
        return float(reported) + float(rate) * (time.time() - received)

    def status(self) -> dict[str, Any]:
        return self.control.call("ping")["status"]

    # --- telemetry ------------------------------------------------------------------------------

    def latest(self, channels: list[str] | None = None) -> dict[str, tuple[float, Any]]:
        return self.archive.latest(channels)

    def await_tlm(self, channel: str, predicate: Callable[[Any], bool] = lambda _v: True, timeout: float = 10.0,
                  since: float | None = None) -> Any:
        """The first value of ``channel`` time-tagged at or after ``since`` that satisfies ``predicate``.

        By default ``since`` is the channel's newest value when the call starts: the current value
        or a newer one, never an old one from the archive's past.
        """
        self.dictionary.channels_named([channel])  # known, or a clear error
        deadline = time.monotonic() + timeout
        if since is None:
            newest = self.archive.latest([channel]).get(channel)
            since = newest[0] if newest else None
        seen = since
        while True:
            for t, value in self.archive.values(channel, since=seen):
                if predicate(value):
                    return value
                seen = t
            if time.monotonic() > deadline:
                last = self.archive.latest([channel]).get(channel)
                raise AssertionFailed(f"{channel}: no value met the predicate within {timeout:g} s "
                                      f"(last: {last[1] if last else 'none'})")
            time.sleep(POLL)

    def events(self, after_id: int = 0, limit: int | None = None, min_severity: Severity | None = None
               ) -> list[EventRecord]:
        return self.archive.events(after_id, limit, min_severity)

    def assert_event(self, name: str, /, timeout: float = 10.0, after_id: int = 0, **match: Any) -> EventRecord:
        """The first event ``name`` (after ``after_id``) whose arguments include ``match``."""
        if self.dictionary.event(name) is None:
            raise ZenithError(f"no event {name!r}")
        deadline = time.monotonic() + timeout
        seen = after_id
        while True:
            for event in self.archive.events(seen):
                seen = event.id
                if event.name == name and all(event.arguments.get(k) == v for k, v in match.items()):
                    return event
            if time.monotonic() > deadline:
                raise AssertionFailed(f"no event {name} {match or ''} within {timeout:g} s")
            time.sleep(POLL)

    def history(self, limit: int | None = 50) -> list[tuple[CommandRecord, list[Stage]]]:
        return [(c, self.archive.stages(c.id)) for c in self.archive.commands(limit)]

    def close(self) -> None:
        self.control.close()
        self.archive.close()

    def __enter__(self) -> StationClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _reached(result: CommandResult, wait: str) -> bool:
    stages = {s.stage for s in result.stages if s.ok}
    return "completion" in stages or (wait == "accepted" and "acceptance" in stages)


@contextmanager
def connect(config: str | Path | MissionFile | None = None, timeout: float = 5.0) -> Iterator[StationClient]:
    """A client of the station that the mission file describes."""
    mission = config if isinstance(config, MissionFile) else load_mission(config)
    client = StationClient(mission, timeout=timeout)
    try:
        yield client
    finally:
        client.close()

"""A scenario laid on its orbit: when the mission starts, its passes and eclipses, and each step's time.

The geometry comes from the bus's own models (SGP4, the shadow, the stations' passes), so the
link emulator, the bus and the timeline agree on when a pass or an eclipse is. Times are simulated
seconds after the mission's start; a step that the orbit cannot place (a pass the mission does not
have, a time after its end) is a :class:`~hil.mission.scenario.ScenarioError` at the step's line.
"""

from __future__ import annotations

from dataclasses import dataclass

from hil.bus.link_passes import orbit_windows, stations_named
from hil.bus.orbit import Orbit
from hil.bus.shadow import eclipses
from hil.mission.scenario import Downlink, Fault, Scenario, TimelineCommand
from hil.mission.when import When, resolve

START_LEAD_S = 600.0  # a mission without a start opens this long before its first pass
SEARCH_HOURS = 48.0  # how far after the epoch a first pass is looked for


@dataclass(frozen=True)
class Geometry:
    orbit: Orbit
    start: float  # mission time (UNIX seconds) at the start
    duration_s: float
    passes: tuple[tuple[float, float], ...]  # (AOS, LOS), seconds after the start
    eclipses: tuple[tuple[float, float], ...]  # (entry, exit), seconds after the start


@dataclass(frozen=True)
class PlannedStep:
    t_s: float  # simulated seconds after the start
    where: str  # "command[0]", "fault[2]": the scenario's own name for it
    step: TimelineCommand | Fault | Downlink
    release_s: float | None = None  # a time-tagged command: when it runs on board
    repeat_index: int = 0  # of a repeated command: which sending this is (from 0)


def geometry(scenario: Scenario) -> Geometry:
    mission = scenario.mission
    orbit = Orbit.named(mission.orbit)
    duration = mission.orbits * orbit.period_s
    stations = stations_named(scenario.link.stations) if scenario.link.stations else ()
    if mission.start_hours is not None:
        start = orbit.epoch + mission.start_hours * 3600.0
    else:
        ahead = orbit_windows(orbit, stations, orbit.epoch, SEARCH_HOURS, 1.0) if stations else ()
        if stations and not ahead:
            raise scenario.error("link.stations", f"none of them sees the {mission.orbit} orbit in the "
                                                  f"{SEARCH_HOURS:g} h after its epoch")
        start = orbit.epoch + max(0.0, ahead[0][0] - START_LEAD_S) if ahead else orbit.epoch
    hours = duration / 3600.0
    passes = orbit_windows(orbit, stations, start, hours, 1.0) if stations else ((0.0, duration),)
    shadows = tuple((max(0.0, e.entry - start), e.exit - start) for e in eclipses(orbit, start, start + duration)
                    if e.exit > start)
    return Geometry(orbit, start, duration, tuple((a, min(b, duration)) for a, b in passes if a < duration), shadows)


def schedule(scenario: Scenario, where: Geometry) -> list[PlannedStep]:
    """Every command, fault and downlink at its time, in time order (the file's order among equals)."""
    named = [(f"command[{i}]", step) for i, step in enumerate(scenario.commands)]
    named += [(f"fault[{i}]", step) for i, step in enumerate(scenario.faults)]
    named += [(f"downlink[{i}]", step) for i, step in enumerate(scenario.downlinks)]
    planned = []
    for name, step in named:
        t = _time(scenario, where, f"{name}.at", step.when)
        released = getattr(step, "released", None)
        release = _time(scenario, where, f"{name}.release", released) if released is not None else None
        if release is not None and release < t:
            raise scenario.error(f"{name}.release", f"{released} ({release:.0f} s) is before it is sent ({t:.0f} s)")
        repeat, every = getattr(step, "repeat", 1), getattr(step, "every_s", 0.0)
        last = t + (repeat - 1) * every + ((release or t) - t)
        if last > where.duration_s:
            raise scenario.error(f"{name}.repeat", f"the last of {repeat} sends, {every:g} s apart, is at "
                                                   f"{last:.0f} s, after the mission's end at {where.duration_s:.0f} s")
        planned += [PlannedStep(t + k * every, name, step, None if release is None else release + k * every, k)
                    for k in range(repeat)]
    return sorted(planned, key=lambda p: p.t_s)


def _time(scenario: Scenario, where: Geometry, name: str, when: When) -> float:
    try:
        t = resolve(when, where.passes, where.eclipses)
    except ValueError as exc:
        raise scenario.error(name, str(exc)) from None
    if t > where.duration_s:
        raise scenario.error(name, f"{when} is {t:.0f} s after the start, after the mission's end at "
                                   f"{where.duration_s:.0f} s")
    return t

"""The next passes over the ground's stations, predicted from the spacecraft's TLE with SGP4.

The ``[ground.passes]`` table names the orbit (one of the bench's named orbits, or a TLE's two lines)
and the stations. On a bench whose orbit runs faster than the clock on the wall, ``orbit_start``,
``start_wall`` and ``rate`` say how: orbit time = orbit_start + (wall - start_wall) x rate; a pass's
"in" is then wall seconds, as an operator waits for it. The predictor is the bench's own
(:mod:`hil.bus.passes`): one implementation of the geometry, which the link emulator's windows
already test against.

Example::

    [ground.passes]
    orbit = "default"                  # or tle = ["1 ...", "2 ..."]
    stations = ["redmond", "hartebeesthoek"]
    hours = 24.0                       # how far ahead to look
"""

from __future__ import annotations

import dataclasses
import time
from functools import cached_property
from typing import Any

from flight.link.errors import ConfigError
from hil.bus.link_passes import stations_named
from hil.bus.orbit import Orbit
from hil.bus.passes import passes


@dataclasses.dataclass(frozen=True)
class PassSettings:
    orbit: str = ""  # a named orbit (default, dawn-dusk); empty with tle, or with no prediction at all
    tle: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()
    hours: float = 24.0
    orbit_start: float | None = None  # a bench's orbit time at start_wall (UNIX seconds); None: the wall's
    start_wall: float = 0.0
    rate: float = 1.0

    def __post_init__(self) -> None:
        if self.orbit and self.tle:
            raise ConfigError("ground.passes: orbit or tle, not both")
        if self.tle and len(self.tle) != 2:
            raise ConfigError(f"ground.passes.tle: the two lines of a TLE, not {len(self.tle)}")
        if self.configured and not self.stations:
            raise ConfigError("ground.passes.stations: name at least one station")
        if not 0 < self.hours <= 24 * 7:
            raise ConfigError(f"ground.passes.hours {self.hours}: in (0, 168]")
        if not 0 < self.rate <= 1e5:
            raise ConfigError(f"ground.passes.rate {self.rate}: in (0, 100000]")
        if self.configured:  # a bad TLE or station is the config's error, said at start
            _ = self.satellite, stations_named(self.stations)

    @property
    def configured(self) -> bool:
        return bool(self.orbit or self.tle)

    @cached_property
    def satellite(self) -> Orbit:
        return Orbit.from_tle(*self.tle) if self.tle else Orbit.named(self.orbit)

    def orbit_time(self, wall: float) -> float:
        return wall if self.orbit_start is None else self.orbit_start + (wall - self.start_wall) * self.rate


def upcoming(settings: PassSettings, wall: float | None = None) -> list[dict[str, Any]]:
    """The passes of every station from now (a pass in progress included) over ``hours`` of orbit
    time, soonest first: AOS, LOS and culmination in orbit time, with "in" and "for" in wall seconds."""
    if not settings.configured:
        return []
    wall = time.time() if wall is None else wall
    now = settings.orbit_time(wall)
    found = [p for station in stations_named(settings.stations)
             for p in passes(settings.satellite, station, now, now + settings.hours * 3600.0)]
    return [{"station": p.station, "aos": p.aos, "los": p.los, "max_elevation_deg": round(p.max_elevation_deg, 1),
             "in_s": max(0.0, (p.aos - now) / settings.rate), "for_s": p.duration_s / settings.rate,
             "now": p.aos <= now} for p in sorted(found, key=lambda p: p.aos)]

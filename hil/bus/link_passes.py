"""The link emulator's pass schedule from the orbit: the link is up only while a station sees the satellite.

The stations' passes over the simulated hours ahead become ``hil link`` windows in wall seconds
since the emulator starts, divided by the bus's time acceleration, so that a link run beside a bus
at the same rate opens and closes with the geometry.
"""

from __future__ import annotations

from collections.abc import Iterable

from flight.link.errors import ConfigError
from hil.bus.orbit import Orbit
from hil.bus.passes import DEFAULT_STATIONS, Station, link_windows, passes

Windows = tuple[tuple[float, float], ...]


def stations_named(names: Iterable[str]) -> tuple[Station, ...]:
    known = {station.name: station for station in DEFAULT_STATIONS}
    chosen = []
    for name in names:
        if name not in known:
            raise ConfigError(f"station {name!r}: one of {', '.join(known)}")
        chosen.append(known[name])
    if not chosen:
        raise ConfigError("no station: the link would never be up")
    return tuple(chosen)


def orbit_windows(orbit: Orbit, stations: Iterable[Station], start: float, hours: float, rate: float) -> Windows:
    """Every station's passes over ``hours`` simulated hours from ``start``, merged, in wall seconds
    at ``rate`` simulated seconds per wall second."""
    if not 0 < rate <= 1e5:
        raise ConfigError(f"rate {rate}: in (0, 100000]")
    if not 0 < hours <= 24 * 30:
        raise ConfigError(f"hours {hours}: in (0, 720]")
    found = [p for station in stations for p in passes(orbit, station, start, start + hours * 3600.0)]
    return tuple((begin / rate, end / rate) for begin, end in link_windows(found, start))

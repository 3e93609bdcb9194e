"""Ground-station passes: when the satellite stands above a station's elevation mask.

TEME positions are turned Earth-fixed by the Greenwich mean sidereal angle alone (IAU-82, as SGP4
itself uses), taking UTC for UT1 (under 0.9 s of Earth rotation) and ignoring polar motion (some
10 m at the surface): both move a low-orbit pass by well under a second. Stations sit on the WGS84
ellipsoid; elevation is measured from their geodetic horizon.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from flight.link.errors import ConfigError
from hil.bus.orbit import Orbit, julian_date
from hil.bus.spans import spans

WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)
J2000_JD = 2451545.0


@dataclass(frozen=True)
class Station:
    """A ground station: geodetic latitude and longitude (deg), height above the ellipsoid (m), and
    the elevation mask (deg) below which it does not track."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float = 0.0
    mask_deg: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"station name {self.name!r} must be non-empty text")
        _check(self.name, "lat_deg", self.lat_deg, -90.0, 90.0)
        _check(self.name, "lon_deg", self.lon_deg, -180.0, 360.0, open_high=True)
        # From the Dead Sea shore to above any mountain: a station on the ground, not a balloon.
        _check(self.name, "alt_m", self.alt_m, -500.0, 9000.0)
        _check(self.name, "mask_deg", self.mask_deg, 0.0, 90.0, open_high=True)

    def ecef_km(self) -> np.ndarray:
        """Earth-fixed position (km), shape (3,)."""
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        normal_radius = WGS84_A_KM / math.sqrt(1.0 - WGS84_E2 * math.sin(lat) ** 2)
        height = self.alt_m / 1000.0
        return np.array(
            [
                (normal_radius + height) * math.cos(lat) * math.cos(lon),
                (normal_radius + height) * math.cos(lat) * math.sin(lon),
                (normal_radius * (1.0 - WGS84_E2) + height) * math.sin(lat),
            ]
        )

    def up(self) -> np.ndarray:
        """Unit vector of the local vertical (the ellipsoid normal), Earth-fixed."""
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        return np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])


def _check(station: str, name: str, value: object, low: float, high: float, open_high: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"station {station}: {name} must be a number, not {type(value).__name__}")
    inside = low <= value < high if open_high else low <= value <= high
    if not inside:  # also catches NaN
        raise ConfigError(
            f"station {station}: {name} = {value!r} is outside [{low:g}, {high:g}{')' if open_high else ']'}"
        )


# Public sites, by their published coordinates.
DEFAULT_STATIONS: tuple[Station, ...] = (
    # KSAT SvalSat on Platåberget: polar orbits see it every revolution; a 53 deg orbit never does.
    Station("svalbard", 78.23, 15.39, 500.0),
    # Redmond, Washington, where several commercial ground networks keep antennas.
    Station("redmond", 47.67, -122.12, 100.0),
    # SANSA Hartebeesthoek, South Africa: the southern hemisphere.
    Station("hartebeesthoek", -25.89, 27.69, 1415.0),
)


def gmst_rad(t: float | np.ndarray) -> float | np.ndarray:
    """Greenwich mean sidereal angle (rad, in [0, 2 pi)) at UNIX time ``t``, IAU-82 as in SGP4."""
    jd, fraction = julian_date(t)
    centuries = (jd - J2000_JD + fraction) / 36525.0
    seconds = (
        67310.54841
        + (876600.0 * 3600.0 + 8640184.812866) * centuries
        + 0.093104 * centuries**2
        - 6.2e-6 * centuries**3
    )
    # 240 sidereal-time seconds make one degree of rotation.
    return np.radians(seconds / 240.0) % (2.0 * math.pi)


def teme_to_ecef(positions_km: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Rotate TEME positions (n, 3) at UNIX ``times`` (n,) into the Earth-fixed frame."""
    angle = gmst_rad(np.asarray(times, dtype=np.float64))
    cos, sin = np.cos(angle), np.sin(angle)
    x, y, z = positions_km[:, 0], positions_km[:, 1], positions_km[:, 2]
    return np.stack([cos * x + sin * y, -sin * x + cos * y, z], axis=-1)


def elevations_deg(orbit: Orbit, station: Station, times: np.ndarray) -> np.ndarray:
    """The satellite's elevation above ``station``'s horizon (deg) at each of UNIX ``times``."""
    times = np.atleast_1d(np.asarray(times, dtype=np.float64))
    line_of_sight = teme_to_ecef(orbit.positions_km(times), times) - station.ecef_km()
    distance = np.linalg.norm(line_of_sight, axis=-1)
    return np.degrees(np.arcsin(np.clip(line_of_sight @ station.up() / distance, -1.0, 1.0)))


def elevation_deg(orbit: Orbit, station: Station, t: float) -> float:
    return float(elevations_deg(orbit, station, np.array([t]))[0])


@dataclass(frozen=True)
class Pass:
    """One pass over a station, in UNIX seconds: acquisition and loss of signal at the mask, and
    the highest point."""

    station: str
    aos: float
    los: float
    max_elevation_deg: float
    culmination: float

    @property
    def duration_s(self) -> float:
        return self.los - self.aos


def passes(orbit: Orbit, station: Station, start: float, end: float, step_s: float = 20.0) -> list[Pass]:
    """The passes over ``station`` between UNIX ``start`` and ``end``, in order; AOS and LOS to
    within 0.05 s. A pass in progress at ``start`` is acquired at ``start``, one still up at ``end``
    is lost at ``end``; a pass shorter than ``step_s`` (a graze at the mask) may be missed."""
    found = []
    for aos, los in spans(
        lambda ts: elevations_deg(orbit, station, ts) >= station.mask_deg, start, end, step_s
    ):
        culmination = _culmination(orbit, station, aos, los)
        found.append(Pass(station.name, aos, los, elevation_deg(orbit, station, culmination), culmination))
    return found


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _culmination(orbit: Orbit, station: Station, lo: float, hi: float, tolerance_s: float = 0.05) -> float:
    """Time of highest elevation in [lo, hi]: a pass rises and sets once, so golden-section search."""
    a, b = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    elevation_a, elevation_b = elevation_deg(orbit, station, a), elevation_deg(orbit, station, b)
    while hi - lo > tolerance_s:
        if elevation_a < elevation_b:
            lo, a, elevation_a = a, b, elevation_b
            b = lo + _GOLDEN * (hi - lo)
            elevation_b = elevation_deg(orbit, station, b)
        else:
            hi, b, elevation_b = b, a, elevation_a
            a = hi - _GOLDEN * (hi - lo)
            elevation_a = elevation_deg(orbit, station, a)
    return 0.5 * (lo + hi)


def link_windows(passes: Iterable[Pass], t0: float) -> tuple[tuple[float, float], ...]:
    """Passes (of any stations) as [start, end) windows in seconds since ``t0``, overlaps merged,
    clipped at 0: the form of ``hil.link.faults.PassSchedule.windows``."""
    merged: list[list[float]] = []
    for start, end in sorted((p.aos - t0, p.los - t0) for p in passes):
        if end <= 0.0:
            continue
        start = max(start, 0.0)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((start, end) for start, end in merged)

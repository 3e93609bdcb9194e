"""The bench spacecraft's orbit: a two-line element set, checked field by field, propagated with SGP4.

A TLE is only meaningful to the model that produced it, so propagation is SGP4 with the WGS72
constants, as the element sets are fitted. Positions come out in TEME (True Equator, Mean Equinox
of date), in km; times everywhere are UNIX seconds (UTC, float).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sgp4.api import SGP4_ERRORS, WGS72, Satrec

from flight.link.errors import ConfigError

SECONDS_PER_DAY = 86400.0
UNIX_EPOCH_JD = 2440587.5  # Julian date of 1970-01-01 00:00 UTC
TLE_LINE_LENGTH = 69

# Generated, not typed: mean motion solved so that SGP4's own (un-Kozai'd, WGS72) mean semi-major
# axis is Earth radius + altitude, checksums computed by checksum(); tests/hil/bus/test_orbit.py
# checks both. Epoch 2026-03-20 12:00 UTC, a few hours before the March equinox.
#
# DEFAULT_TLE: 325 km, 53 deg, near circular (e = 0.0001), the Starcloud-like payload orbit. RAAN
# 45 deg puts the Sun about 34 deg off the orbit plane at epoch, so every orbit has an eclipse of
# roughly 34 minutes. BSTAR 1e-4 /earth radii: a few km of decay a month, as at this altitude.
DEFAULT_TLE = (
    "1 99901U 26999A   26079.50000000  .00000000  00000+0  10000-3 0  9995",
    "2 99901  53.0000  45.0000 0001000  90.0000   0.0000 15.82026089    19",
)
# DAWN_DUSK_TLE: 550 km, sun-synchronous (97.6173 deg, solved so that SGP4's own node rate, J2 and
# J4 included, turns the plane once a tropical year), ascending node at 18:00 local time (RAAN = the
# Sun's right ascension + 90 deg): the orbit plane rides the terminator, beta is about 82 deg at
# epoch and the orbit stays sunlit. Near the June solstice beta falls to about 59 deg, below the
# 67 deg at which eclipses start at 550 km: that is its eclipse season, over the south pole.
DAWN_DUSK_TLE = (
    "1 99902U 26999B   26079.50000000  .00000000  00000+0  10000-4 0  9997",
    "2 99902  97.6173  89.8998 0001000  90.0000   0.0000 15.04511841    16",
)


class OrbitError(ConfigError):
    """A TLE that cannot be used, or a propagation that failed; the message names the line and the fault."""


def checksum(line: str) -> int:
    """The TLE checksum of a line's first 68 columns: digits count their value, '-' counts 1, mod 10."""
    return sum(int(c) if c.isdigit() else c == "-" for c in line[: TLE_LINE_LENGTH - 1]) % 10


# ---- the fields of the two lines, in the format's 1-based inclusive columns


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    first: int
    last: int
    pattern: re.Pattern[str]  # what the stripped text must match
    low: float | None = None  # numeric range, for the fields that have one
    high: float | None = None


_REAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)")
_DIGITS = re.compile(r"\d*")
# Assumed-decimal exponent form: "-11606-4" is -0.11606e-4.
_EXPONENT = re.compile(r"[+-]?\d{1,5}[+-]\d")
# Alpha-5 catalogue numbers (a letter other than I and O, then four digits) past 99999.
_SATNUM = re.compile(r"\d{1,5}|[A-HJ-NP-Z]\d{4}")

_LINE1_FIELDS = (
    _Field("satellite number", 3, 7, _SATNUM),
    _Field("classification", 8, 8, re.compile(r"[A-Z]?")),
    _Field("international designator", 10, 17, re.compile(r"[0-9A-Z ]*")),
    _Field("epoch year", 19, 20, re.compile(r"\d\d")),
    _Field("epoch day", 21, 32, _REAL, 1.0, 367.0),
    _Field("first derivative of mean motion", 34, 43, _REAL),
    _Field("second derivative of mean motion", 45, 52, _EXPONENT),
    _Field("BSTAR", 54, 61, _EXPONENT),
    _Field("ephemeris type", 63, 63, _DIGITS),
    _Field("element set number", 65, 68, _DIGITS),
)
_LINE2_FIELDS = (
    _Field("satellite number", 3, 7, _SATNUM),
    _Field("inclination", 9, 16, _REAL, 0.0, 180.0),
    _Field("right ascension of the ascending node", 18, 25, _REAL, 0.0, 360.0),
    _Field("eccentricity", 27, 33, re.compile(r"\d{1,7}")),
    _Field("argument of perigee", 35, 42, _REAL, 0.0, 360.0),
    _Field("mean anomaly", 44, 51, _REAL, 0.0, 360.0),
    # Below 0.05 rev/day the orbit reaches most of the way to the Moon; above 20 it is underground.
    _Field("mean motion", 53, 63, _REAL, 0.05, 20.0),
    _Field("revolution number", 64, 68, _DIGITS),
)
# Columns that the format leaves blank between fields; a TLE shifted by one column fails here.
_BLANKS = {1: (2, 9, 18, 33, 44, 53, 62, 64), 2: (2, 8, 17, 26, 34, 43, 52)}


def _error(number: int, reason: str) -> OrbitError:
    return OrbitError(f"TLE line {number}: {reason}")


def _check_line(number: int, line: object, fields: tuple[_Field, ...]) -> str:
    """The line, trailing whitespace removed, if its layout, fields and checksum are right."""
    if not isinstance(line, str):
        raise _error(number, f"must be text, not {type(line).__name__}")
    line = line.rstrip()
    if len(line) != TLE_LINE_LENGTH:
        raise _error(number, f"has {len(line)} characters, not {TLE_LINE_LENGTH}")
    for column, char in enumerate(line, 1):
        if not " " <= char <= "~":
            raise _error(number, f"column {column} holds {char!r}, which is not printable ASCII")
    if line[0] != str(number):
        raise _error(number, f"starts with {line[0]!r}, not the line number {number}")
    for column in _BLANKS[number]:
        if line[column - 1] != " ":
            raise _error(number, f"column {column} holds {line[column - 1]!r}; the format leaves it blank")
    for spec in fields:
        _check_field(number, spec, line[spec.first - 1 : spec.last])
    if not line[-1].isdigit():
        raise _error(number, f"checksum {line[-1]!r} is not a digit")
    if int(line[-1]) != checksum(line):
        raise _error(number, f"checksum is {line[-1]} but the line sums to {checksum(line)} (mod 10)")
    return line


def _check_field(number: int, spec: _Field, text: str) -> None:
    where = f"{spec.name} (columns {spec.first}-{spec.last})"
    if not spec.pattern.fullmatch(text.strip()):
        raise _error(number, f"{where} {text!r} is not in the format's form")
    if spec.low is not None and spec.high is not None:
        value = float(text)
        if not spec.low <= value <= spec.high:
            raise _error(number, f"{where} {value:g} is outside [{spec.low:g}, {spec.high:g}]")


def _sgp4_reason(error: int) -> str:
    return SGP4_ERRORS.get(error, f"SGP4 error {error}")


# ---- time


def julian_date(t: float | np.ndarray) -> tuple[float | np.ndarray, float | np.ndarray]:
    """UNIX seconds → (whole Julian date ending in .5, fraction of the day), as sgp4 takes them.

    Splitting at midnight keeps the fraction exact to float precision, where one float Julian date
    (about 2.46e6 days) would only carry some 40 microseconds.
    """
    days, seconds = np.divmod(t, SECONDS_PER_DAY)
    return UNIX_EPOCH_JD + days, seconds / SECONDS_PER_DAY


# ---- the orbit


NAMED_ORBITS = ("default", "dawn-dusk")  # Orbit.named


@dataclass(frozen=True)
class Orbit:
    """One satellite's TLE, validated on construction, with its SGP4 propagator."""

    line1: str
    line2: str
    name: str = ""
    satrec: Satrec = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        line1 = _check_line(1, self.line1, _LINE1_FIELDS)
        line2 = _check_line(2, self.line2, _LINE2_FIELDS)
        if line1[2:7] != line2[2:7]:
            raise _error(2, f"satellite number {line2[2:7]!r} differs from line 1's {line1[2:7]!r}")
        satrec = Satrec.twoline2rv(line1, line2, WGS72)
        # Initialisation leaves its own error code; propagating to the epoch is the proof of use.
        error, position, _ = satrec.sgp4(satrec.jdsatepoch, satrec.jdsatepochF)
        error = satrec.error or error
        if error:
            raise _error(2, f"SGP4 cannot use these elements at epoch: {_sgp4_reason(error)}")
        if not all(map(math.isfinite, position)):
            raise _error(2, "SGP4 gives no finite position at epoch")
        # SGP4 stopped reporting an orbit that dips under the ground (its error 5); the bench must not fly one.
        perigee_km = satrec.altp * satrec.radiusearthkm
        if not perigee_km > 0.0:
            raise _error(2, f"perigee is {-perigee_km:.0f} km below the Earth's surface")
        object.__setattr__(self, "line1", line1)
        object.__setattr__(self, "line2", line2)
        object.__setattr__(self, "satrec", satrec)

    @classmethod
    def from_tle(cls, line1: str, line2: str, name: str = "") -> Orbit:
        return cls(line1, line2, name)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Orbit:
        """A TLE file: the two lines, optionally after a name line ("0 NAME" or just "NAME")."""
        try:
            text = Path(path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise OrbitError(f"TLE file {os.fspath(path)}: {exc}") from None
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        if len(lines) == 2:
            return cls(lines[0], lines[1], Path(path).stem)
        if len(lines) == 3:
            name = lines[0].strip()
            return cls(lines[1], lines[2], name[2:].strip() if name.startswith("0 ") else name)
        raise OrbitError(f"TLE file {os.fspath(path)}: {len(lines)} lines, not 2 (or 3 with a name)")

    @classmethod
    def default(cls) -> Orbit:
        return cls(*DEFAULT_TLE, name="ZENITH-1")

    @classmethod
    def dawn_dusk(cls) -> Orbit:
        return cls(*DAWN_DUSK_TLE, name="ZENITH-DD")

    @classmethod
    def named(cls, name: str) -> Orbit:
        """One of the bench's own orbits by the name its options and scenarios use (NAMED_ORBITS)."""
        if name not in NAMED_ORBITS:
            raise OrbitError(f"orbit {name!r}: one of {', '.join(NAMED_ORBITS)}")
        return cls.default() if name == "default" else cls.dawn_dusk()

    @property
    def epoch(self) -> float:
        """The TLE epoch in UNIX seconds."""
        return (self.satrec.jdsatepoch - UNIX_EPOCH_JD + self.satrec.jdsatepochF) * SECONDS_PER_DAY

    @property
    def period_s(self) -> float:
        """The period of the TLE's mean motion (which sgp4 keeps in rad/min)."""
        return 2.0 * math.pi / self.satrec.no_kozai * 60.0

    @property
    def inclination_deg(self) -> float:
        return math.degrees(self.satrec.inclo)

    @property
    def mean_altitude_km(self) -> float:
        """SGP4's mean semi-major axis less the (WGS72) equatorial radius."""
        return (self.satrec.a - 1.0) * self.satrec.radiusearthkm

    def state(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """TEME position (km) and velocity (km/s) at UNIX time ``t``."""
        jd, fraction = julian_date(t)
        error, position, velocity = self.satrec.sgp4(float(jd), float(fraction))
        if error:
            raise OrbitError(f"{self._label()} at t = {t:.3f}: {_sgp4_reason(error)}")
        return np.array(position, dtype=np.float64), np.array(velocity, dtype=np.float64)

    def position_km(self, t: float) -> np.ndarray:
        """TEME position (km), shape (3,), at UNIX time ``t``."""
        return self.state(t)[0]

    def positions_km(self, times: np.ndarray) -> np.ndarray:
        """TEME positions (km), shape (n, 3), at each of ``times`` in one vectorised SGP4 call."""
        times = np.atleast_1d(np.asarray(times, dtype=np.float64))
        jd, fraction = julian_date(times)
        errors, positions, _ = self.satrec.sgp4_array(
            np.ascontiguousarray(jd), np.ascontiguousarray(fraction)
        )
        failed = np.flatnonzero(errors)
        if failed.size:
            first = failed[0]
            raise OrbitError(f"{self._label()} at t = {times[first]:.3f}: {_sgp4_reason(int(errors[first]))}")
        return positions

    def _label(self) -> str:
        return f"orbit {self.name or self.line1[2:7].strip()}"


# ---- finding where a condition holds along the orbit

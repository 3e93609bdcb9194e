"""Times on the operator's command line (``--from``, ``--to``): what a person at a console types.

- ``now``;
- a time relative to now: ``-15m``, ``-2h``, ``-30s``, ``-1d`` (``+`` for the future);
- a UTC date and time, ISO 8601: ``2026-11-29T12:00``, ``2026-11-29 12:00:05Z``, ``2026-11-29``;
- POSIX seconds (mission time, as the archive keeps it): ``1796040000.5``.

Anything else is a :class:`TimeArgumentError` saying which forms are accepted.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

from flight.link.errors import ZenithError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RELATIVE = re.compile(r"^([+-])\s*(\d+(?:\.\d*)?|\.\d+)\s*([smhd])$")
FORMS = "now, -15m / -2h / -1d from now (written --from=-15m), 2026-11-29T12:00[:00][Z] (UTC) or POSIX seconds"


class TimeArgumentError(ZenithError):
    def __init__(self, option: str, text: str) -> None:
        self.option = option
        super().__init__(f"{option} {text[:60]!r}: not a time ({FORMS})")


def parse_time(text: str, now: float, option: str = "time") -> float:
    """Seconds since 1970-01-01 UTC for ``text``; ``now`` anchors the relative forms."""
    cleaned = text.strip()
    if cleaned.lower() == "now":
        return now
    relative = _RELATIVE.match(cleaned)
    if relative:
        sign, amount, unit = relative.groups()
        offset = float(amount) * UNITS[unit]
        return now - offset if sign == "-" else now + offset
    try:
        seconds = float(cleaned)
    except ValueError:
        seconds = _iso(cleaned, option, text)
    if not math.isfinite(seconds) or seconds < 0:  # "-15" is a relative time without its unit, not 1969
        raise TimeArgumentError(option, text)
    return seconds


def _iso(cleaned: str, option: str, text: str) -> float:
    try:
        moment = datetime.fromisoformat(cleaned.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise TimeArgumentError(option, text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a console's times are UTC unless they say otherwise
    return moment.timestamp()

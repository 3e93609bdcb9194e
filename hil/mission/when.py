"""When a scenario's step happens: simulated seconds after the start, or relative to a pass or eclipse.

Forms (durations in s, m, min or h; a bare number is seconds):

- ``90`` or ``"90s"``, ``"+5m"``, ``"start + 1h"``: after the mission starts;
- ``"aos 2"``, ``"aos 2 + 30s"``, ``"los 1 - 2m"``: the 2nd pass's acquisition (or the 1st one's loss)
  of signal, as the orbit's geometry gives them;
- ``"eclipse 3 + 1m"``, ``"sunlight 1"``: the 3rd eclipse's entry, the 1st one's exit.

Passes and eclipses are counted from 1, from the mission's start. Resolving needs the orbit, so a
scenario is checked when it is read and its times are found when the mission starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

ANCHORS = ("start", "aos", "los", "eclipse", "sunlight")
UNITS = {"s": 1.0, "": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_DURATION = r"(\d+(?:\.\d*)?|\.\d+)\s*(s|min|m|h)?"
_FORM = re.compile(rf"^(?:(start)|(aos|los|eclipse|sunlight)\s+(\d+))?\s*(?:([+-])?\s*{_DURATION})?$")


@dataclass(frozen=True)
class When:
    anchor: str  # one of ANCHORS
    index: int  # the pass or eclipse, from 1 (0 for start)
    offset_s: float

    def __str__(self) -> str:
        base = "start" if self.anchor == "start" else f"{self.anchor} {self.index}"
        return f"{base} {'-' if self.offset_s < 0 else '+'} {abs(self.offset_s):g}s"


def parse_when(value: object) -> When:
    """A ``When`` from a scenario's ``at``; ValueError saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a time (seconds, or a text such as 'aos 1 + 30s')")
    if not isinstance(value, str):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value} s is not a time after the start")
        return When("start", 0, float(value))
    match = _FORM.match(value.strip().lower())
    if match is None or not value.strip():
        raise ValueError(f"{value!r} is not a time: say '90s', 'start + 5m', 'aos 2 - 30s' or 'eclipse 1 + 1m'")
    start, anchor, index, sign, amount, unit = match.groups()
    offset = float(amount) * UNITS[unit or ""] if amount is not None else 0.0
    if sign == "-":
        offset = -offset
    if anchor is None:
        if start is None and amount is None:
            raise ValueError(f"{value!r} is not a time")
        if offset < 0:
            raise ValueError(f"{value!r} is before the start")
        return When("start", 0, offset)
    if int(index) < 1:
        raise ValueError(f"{value!r}: passes and eclipses are counted from 1")
    if amount is not None and sign is None:
        raise ValueError(f"{value!r}: say '+' or '-' before the offset")
    return When(anchor, int(index), offset)


def resolve(when: When, passes: Sequence[tuple[float, float]], eclipses: Sequence[tuple[float, float]]) -> float:
    """Seconds after the start, given the passes' (AOS, LOS) and the eclipses' (entry, exit), in
    seconds after the start; ValueError if the orbit has no such pass or eclipse."""
    if when.anchor == "start":
        return when.offset_s
    windows, what = (passes, "pass") if when.anchor in ("aos", "los") else (eclipses, "eclipse")
    if when.index > len(windows):
        raise ValueError(f"{when}: the mission has {len(windows)} {what}{'es' if what == 'pass' else 's'}")
    opens, closes = windows[when.index - 1]
    return max(0.0, (opens if when.anchor in ("aos", "eclipse") else closes) + when.offset_s)

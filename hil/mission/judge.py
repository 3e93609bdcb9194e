"""The judgement of a flown mission: each expectation of its scenario against the summary's values.

The summary (``summary.json``) is nested as the issue lays it out: ``commands``, ``link``,
``telemetry``, ``seu``, ``power`` and ``files`` hold their counts, ``jobs`` holds one entry per job
by its number, and ``wall_s`` is the run's length. A field is named by its path
(``commands.lost``, ``jobs.1.state``). A field the summary does not have fails its expectation:
the judge never passes what it could not see.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hil.mission.scenario import Expectation

_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    expectation: Expectation
    actual: Any  # None: the summary has no such field
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        e = self.expectation
        return {"field": e.field, e.operator: e.value, "actual": self.actual, "passed": self.passed}

    def __str__(self) -> str:
        seen = "missing" if self.actual is None else repr(self.actual)
        return f"{'PASS' if self.passed else 'FAIL'}  {self.expectation}  (was {seen})"


def lookup(summary: dict[str, Any], path: str) -> Any:
    """The value at ``path`` (None: not there)."""
    value: Any = summary
    for key in path.split("."):
        value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if value is _MISSING:
            return None
    return value


def judge(summary: dict[str, Any], expectations: Iterable[Expectation]) -> list[Verdict]:
    verdicts = []
    for expectation in expectations:
        actual = lookup(summary, expectation.field)
        verdicts.append(Verdict(expectation, actual, expectation.holds(actual)))
    return verdicts


def exit_code(verdicts: Iterable[Verdict]) -> int:
    """0 when every expectation held, 1 when any failed (2 is kept for a mission that could not fly)."""
    return 0 if all(v.passed for v in verdicts) else 1

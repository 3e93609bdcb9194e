"""The benchmark harness: each benchmark returns records; the harness prints and saves them.

A record is ``{name, value, unit, baseline, ratio, target}``: ``ratio`` is ``value / baseline``, and
``target`` is a bound on the ratio written as ``"<= 2.0"`` or ``">= 0.8"``, or empty for a figure that
is reported for information and not judged. Later issues add their
benchmarks to :data:`BENCHMARKS` in ``bench/__main__.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from flight.atomic_file import write_json_atomic


@dataclass(frozen=True, slots=True)
class Record:
    name: str
    value: float
    unit: str
    baseline: float
    ratio: float
    target: str

    def met(self) -> bool:
        if not self.target:  # an informational record: reported, not judged
            return True
        op, bound = self.target.split()
        return self.ratio <= float(bound) if op == "<=" else self.ratio >= float(bound)


def paired_timing(ours: Callable[[], None], baseline: Callable[[], None], repeats: int = 7,
                  inner: int = 1) -> tuple[float, float]:
    """Seconds per call of each: the fastest of ``repeats`` rounds, measured alternately.

    On a shared machine other work only ever adds time, so the fastest round is the best estimate
    of what the code itself costs (as ``timeit`` advises); alternating keeps both sides under the
    same conditions.
    """
    ours_times, base_times = [], []
    for _ in range(repeats):
        for fn, times in ((baseline, base_times), (ours, ours_times)):
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - start) / inner)
    return min(ours_times), min(base_times)


def print_table(records: list[Record]) -> None:
    headers = ("benchmark", "value", "unit", "baseline", "ratio", "target", "")
    rows = [(r.name, f"{r.value:.4g}", r.unit, f"{r.baseline:.4g}", f"{r.ratio:.3f}", r.target or "-",
             ("ok" if r.met() else "MISSED") if r.target else "info") for r in records]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*headers))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def save(records: list[Record], path: Path) -> None:
    write_json_atomic(path, [asdict(r) for r in records])

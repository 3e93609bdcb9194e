"""Named event counters that every long-lived service keeps and reports in housekeeping."""

from __future__ import annotations

from collections import Counter


class Counters:
    """A named bag of monotonically increasing counts, e.g. ``sdls.bad_mac``.

    ``prefix`` is the service's name, so that a snapshot of several services merges into one
    flat namespace that the dictionary's telemetry channels refer to.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, by: int = 1) -> None:
        self._counts[name] += by

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def reset(self) -> None:
        self._counts.clear()

    def state(self) -> dict[str, int]:
        """The counts without the prefix, as :meth:`restore` takes them back after a restart."""
        return dict(self._counts)

    def restore(self, counts: dict[str, int]) -> None:
        self._counts = Counter({str(k): int(v) for k, v in counts.items()})

    def snapshot(self) -> dict[str, int]:
        """Counts keyed ``prefix.name``."""
        return {f"{self.prefix}.{name}": value for name, value in sorted(self._counts.items())}


def merged(*services: Counters) -> dict[str, int]:
    """One housekeeping view of several services: counts of the same name (the FARM-1 of each
    virtual channel, say) add up."""
    total: Counter[str] = Counter()
    for service in services:
        total.update(service.snapshot())
    return dict(sorted(total.items()))

"""The GPU's memory errors, watched: ECC counts, retired pages, remapped rows and Xid events.

Every change raises an event and shows in housekeeping. An uncorrectable error (an uncorrected
count that grows, or a fatal Xid) means the job's memory can no longer be trusted: its worker is
killed, it restarts from its last good checkpoint, and an event asks the bus for a GPU reset (the
payload cannot reset its own GPU; the spacecraft can, by power-cycling it).

The last reading is kept in the state database, so a restarted supervisor does not report old
errors again, and a fresh one takes the device's lifetime counts as its baseline, silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

from flight.counters import Counters
from flight.seu.ecc_source import COUNTS, EccReading, EccSource, grown
from flight.supervisor.services.events import EventReporter
from flight.supervisor.state_db import StateDb

ECC_KEY = "ecc_reading"
POLL_PERIOD = 1.0  # real seconds between readings
# Xid codes after which the GPU's memory or the GPU itself is not to be trusted by a running job.
FATAL_XIDS = {48: "double-bit ECC error", 79: "GPU has fallen off the bus", 94: "contained ECC error",
              95: "uncontained ECC error"}
XID_MEANINGS = {**FATAL_XIDS, 63: "row remapping recorded", 64: "row remapping failed",
                92: "high single-bit ECC error rate", 13: "graphics engine exception", 31: "GPU memory page fault",
                43: "GPU stopped processing", 45: "preemptive cleanup", 74: "NVLink error"}


class EccMonitor:
    def __init__(self, db: StateDb, events: EventReporter, source: EccSource | None,
                 monotonic: Callable[[], float], stop_jobs: Callable[[str], list[int]]) -> None:
        self.db = db
        self.events = events
        self.source = source
        self.monotonic = monotonic
        self.stop_jobs = stop_jobs  # kills the running workers with a reason; the jobs they held
        self.counters = Counters("ecc")
        saved = db.get(ECC_KEY)
        self._last: EccReading | None = EccReading(**saved) if saved else None
        self._next = 0.0

    def due(self) -> bool:
        return self.source is not None and self.monotonic() >= self._next

    def tick(self) -> None:
        """Inside a unit: one reading, and whatever it calls for."""
        assert self.source is not None
        self._next = self.monotonic() + POLL_PERIOD
        reading = self.source.read()
        self.counters.inc("readings")
        if self._last is None:
            self._remember(reading)  # the baseline: errors from before this supervisor are not news
            return
        fatal: list[str] = []
        changed = grown(self._last, reading)
        for name, (before, after) in changed.items():
            self.counters.inc("changes")
            self.events.raise_event("ECC_COUNT_CHANGED", counter=name, before=before, after=after)
            if name.startswith("uncorrected") and after > before:
                fatal.append(f"uncorrectable ECC error ({name} {before} → {after})")
        for xid in reading.xids:
            self.counters.inc("xids")
            self.events.raise_event("GPU_XID", xid=xid, meaning=XID_MEANINGS.get(xid, "see NVIDIA's Xid catalogue"))
            if xid in FATAL_XIDS:
                fatal.append(f"Xid {xid}: {FATAL_XIDS[xid]}")
        if fatal:
            reason = fatal[0]
            jobs = self.stop_jobs(reason)
            self.counters.inc("uncorrectable")
            self.counters.inc("jobs_restarted", len(jobs))
            self.events.raise_event("GPU_RESET_REQUESTED", reason=reason[:120], jobs=len(jobs))
        if changed:  # a quiet second writes nothing (each write is an fsync)
            self._remember(reading)

    def _remember(self, reading: EccReading) -> None:
        self._last = reading
        self.db.put(ECC_KEY, {name: value for name, value in asdict(reading).items() if name != "xids"})

    def sample(self) -> dict[str, object]:
        last = self._last or EccReading()
        return {**{f"ecc.{name}": getattr(last, name) for name in COUNTS},
                "ecc.source": self.source.name if self.source is not None else "NONE"}

"""Heartbeats of the managed processes, and the watchdog that watches the supervisor itself.

Every managed process (job workers, the bench's helpers) sends a heartbeat; one silent for longer
than its timeout is reported once (HEARTBEAT_MISSED), and again as restored when it beats again.
The supervisor's own main loop is watched by a thread: if the loop stops turning for longer than
the watchdog timeout, the process exits at once, as a hardware watchdog would reset the computer,
so that whoever keeps it (systemd on board, ``hil stack`` on the bench) restarts it with its state.
"""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flight.counters import Counters

WATCHDOG_EXIT = 75  # EX_TEMPFAIL: restart me
TIMEOUT_RANGE = (0.1, 3600.0)  # what a process may ask for, as health.heartbeat_timeout allows
MAX_PROCESSES = 64  # managed processes watched at once: a sender inventing names cannot grow this


@dataclass
class _Beat:
    last: float
    timeout: float | None
    missed: bool = False


class HeartbeatMonitor:
    def __init__(self, default_timeout: Callable[[], float]) -> None:
        self.default_timeout = default_timeout
        self._processes: dict[str, _Beat] = {}
        self.counters = Counters("health")

    def beat(self, process: str, now: float, timeout: float | None = None) -> bool:
        """Record a heartbeat; True when the process had been reported silent (it is back).

        A timeout out of range (NaN included) or one process too many is refused and counted.
        """
        low, high = TIMEOUT_RANGE
        beat = self._processes.get(process)
        if beat is None and len(self._processes) >= MAX_PROCESSES:
            self._evict_silent()
        if (timeout is not None and not low <= timeout <= high) or (beat is None and len(self._processes) >= MAX_PROCESSES):
            self.counters.inc("bad_heartbeats")
            return False
        if beat is None:
            self._processes[process] = _Beat(now, timeout)
            return False
        beat.last = now
        if timeout is not None:
            beat.timeout = timeout
        restored, beat.missed = beat.missed, False
        return restored

    def _evict_silent(self) -> None:
        """Make room: the process silent the longest, once reported, is assumed gone (workers come and go)."""
        silent = [(beat.last, name) for name, beat in self._processes.items() if beat.missed]
        if silent:
            del self._processes[min(silent)[1]]
            self.counters.inc("heartbeats_evicted")

    def forget(self, process: str) -> None:
        """A process that stopped on purpose is no longer expected to beat."""
        self._processes.pop(process, None)

    def check(self, now: float) -> list[tuple[str, float, float]]:
        """The processes newly found silent: (name, silence, timeout)."""
        silent = []
        for name, beat in self._processes.items():
            timeout = beat.timeout if beat.timeout is not None else self.default_timeout()
            if not beat.missed and now - beat.last > timeout:
                beat.missed = True
                self.counters.inc("heartbeats_missed")
                silent.append((name, now - beat.last, timeout))
        return silent

    def processes(self) -> dict[str, bool]:
        """Each managed process, and whether it is beating."""
        return {name: not beat.missed for name, beat in self._processes.items()}


class Watchdog:
    """Exits the process when :meth:`pet` has not been called for ``timeout`` real seconds."""

    def __init__(self, timeout: float, expire: Callable[[], None] | None = None) -> None:
        self.timeout = timeout
        self._last = time.monotonic()
        self._expire = expire or self._reset
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pet(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(min(1.0, self.timeout / 4)):
            if time.monotonic() - self._last > self.timeout:
                self._expire()
                return

    def _reset(self) -> None:
        print(f"flight: watchdog: main loop silent for over {self.timeout:g} s, resetting; where it was:",
              file=sys.stderr, flush=True)
        # Where the loop hung is the one clue a reset would otherwise erase: every thread's stack, to the log.
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        os._exit(WATCHDOG_EXIT)

"""The live line of a flying mission: where the orbit is, the link, the job, the battery, upsets.

On a terminal it is one line, rewritten in place once a second; in a log (CI) a line every
``LOG_EVERY_S`` seconds. The orbit and passes come from the plan, the battery from the bus's own
trace, the job and the upsets from the archive (what the ground knows, which in LOS is old: the line
says so).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ground.api import StationClient
from hil.mission.bench import MissionBench
from hil.mission.plan import Geometry

REFRESH_S = 1.0
LOG_EVERY_S = 15.0
CHANNELS = ["job.id", "job.state", "job.step", "job.loss"]


class Progress:
    def __init__(self, bench: MissionBench, geometry: Geometry, gs: StationClient, trace: Path,
                 stream: TextIO = sys.stdout) -> None:
        self.bench, self.geometry, self.gs, self.trace = bench, geometry, gs, trace
        self.stream = stream
        self.live = stream.isatty()
        self._next = 0.0 if self.live else time.monotonic() + LOG_EVERY_S
        self._offset = 0
        self._bus: dict[str, Any] = {}
        self._shown = False

    def update(self) -> None:
        """Show the line if it is due: each second on a terminal, each LOG_EVERY_S in a log (the line's
        archive queries are made only for a line that is shown)."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + (REFRESH_S if self.live else LOG_EVERY_S)
        if self.live:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
            self._shown = True
        else:
            print(self.line(), file=self.stream, flush=True)

    def done(self) -> None:
        """End the live line, so that what is printed next starts on its own."""
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False

    def line(self) -> str:
        t = self.bench.mission_s()
        orbit = t / self.geometry.orbit.period_s
        over = t >= self.geometry.duration_s
        up = over or any(a <= t < b for a, b in self.geometry.passes)
        bus = self._read_bus()
        latest = {name: value for name, (_, value) in self.gs.latest(CHANNELS).items()}
        parts = [f"T+{t:7.0f} s  orbit {orbit:4.2f}", "end contact" if over else "AOS" if up else "LOS"]
        if bus:
            light = "sun" if bus.get("sunlit", 0) > 0.5 else "eclipse"
            parts.append(f"SoC {bus['soc']:.2f} {light} {bus['payload_w']:4.0f} W GPU {bus['gpu_c']:4.1f} °C")
        if latest.get("job.id"):
            loss = latest.get("job.loss")
            parts.append(f"job {latest['job.id']} {latest.get('job.state', '?')} step {latest.get('job.step', 0)}"
                         + (f" loss {loss:.3f}" if isinstance(loss, float) and loss > 0 else ""))
        flips, found = (self.gs.archive.query("SELECT COUNT(*) FROM events WHERE name = ?", (name,))[0][0]
                        for name in ("SEU_INJECTED", "SEU_DETECTED"))
        parts.append(f"SEU {flips} flipped, {found} found")
        return " | ".join(parts)

    def _read_bus(self) -> dict[str, Any]:
        """The newest step of the bus's trace, read on from where the last look ended."""
        try:
            with self.trace.open() as f:
                f.seek(self._offset)
                for line in f:
                    if not line.endswith("\n"):
                        break  # being written: next time
                    self._offset += len(line.encode())
                    try:
                        self._bus = json.loads(line)
                    except ValueError:
                        continue
        except OSError:
            pass
        return self._bus

"""The mission configuration: one TOML file that the supervisor, the ground station and the bench share.

Both ends of the link must agree on its managed parameters, so ``[link]`` is read by both; ``[flight]``
and ``[ground]`` hold what only one side needs; ``[files]`` (CFDP, :mod:`flight.files.settings`) is read
by both. Paths are relative to the file. Endpoints default
to the bench ports around ``base_port`` (the ``hil link`` emulator's layout). Example::

    base_port = 5550

    [link]
    keys_file = "zenith-keys.json"

    [flight]
    state = "state/flight.db"
    bench_key_file = "bench-key.json"   # test benches only: opens the keyed fault interface
    power_cap_control = true            # the governor sets the GPU's power cap through NVML
    [flight.clock]
    source = "scaled"       # real (default) or scaled
    rate = 60.0             # an orbit in about 1.5 minutes
    [[flight.responses]]
    channel = "health.loop_lag_ms"   # a response needs a limit of its level in the dictionary
    level = "warning"
    action = "SAFE_MODE"

    [ground]
    archive = "state/ground.db"
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from flight.link.config import LinkConfig, from_table, read_toml
from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts, Endpoint
from flight.power.nvml_gpu import GPU_POWER_SOURCES
from flight.supervisor.clock import Clock, RealClock, ScaledClock
from flight.supervisor.health.limits import LimitResponse
from flight.supervisor.state_db import StateDb

DEFAULT_BASE_PORT = 5550
CLOCK_KEY = "clock.scaled"
SECTIONS = ("base_port", "host", "link", "flight", "ground", "files")


@dataclasses.dataclass(frozen=True, slots=True)
class ClockSettings:
    source: str = "real"  # real, or scaled: start + rate × (wall − anchor)
    rate: float = 1.0
    start: float = 0.0  # mission time at the anchor; 0: the anchor itself
    anchor: float = 0.0  # wall time the scaled clock counts from; 0: the supervisor's first start

    def __post_init__(self) -> None:
        if self.source not in ("real", "scaled"):
            raise ConfigError(f"flight.clock.source: {self.source!r} is not real or scaled")
        if not 0 < self.rate <= 1e6:
            raise ConfigError(f"flight.clock.rate: {self.rate} out of (0, 1e6]")

    def build(self, db: StateDb | None = None) -> Clock:
        """The clock; a scaled one without an anchor takes its first start's, kept in ``db`` so that a
        restarted supervisor carries on the same mission time instead of starting it over."""
        if self.source == "real":
            return RealClock()
        anchor, start = self.anchor, self.start
        if not anchor:
            saved = db.get(CLOCK_KEY) if db is not None else None
            now = time.time()
            if saved is None:
                saved = {"anchor": now, "start": start or now, "rate": self.rate, "configured_start": start}
            elif saved.get("rate") != self.rate or saved.get("configured_start", 0.0) != start:
                # A new rate (or start) goes on from where mission time is now: a clock that jumped
                # back would stall the schedule and make the store's times run backwards.
                previous = ScaledClock(saved["start"], saved["anchor"], saved["rate"]).now()
                saved = {"anchor": now, "start": max(previous, start), "rate": self.rate, "configured_start": start}
            if db is not None:
                db.put(CLOCK_KEY, saved)
            anchor, start = saved["anchor"], saved["start"]
        return ScaledClock(start or anchor, anchor, self.rate)


@dataclasses.dataclass(frozen=True, slots=True)
class FlightSettings:
    state: str = "flight-state.db"
    uplink: str = ""  # endpoint; empty: the bench port
    downlink: str = ""
    heartbeats: str = ""  # where managed processes send heartbeats (bind:...); empty: none
    jobs: str = ""  # where job workers connect (bind:...); empty: the bench port
    # Checkpoints, outputs and worker logs, one directory per job: inside the filestore's root by default,
    # so that CFDP can bring them down (ground files get jobs/job-1/checkpoints/...).
    jobs_dir: str = "files/jobs"
    job_device: str = ""  # cpu or cuda; empty: cuda when present
    ecc_source: str = "auto"  # nvml, simulated, none; auto: NVML where it finds a GPU, else the simulation
    gpu_power: str = "auto"  # nvml, simulated; auto: the board's draw and temperature through NVML where it can
    # The governor may set the GPU's power cap through NVML (root, or the administrator's leave).
    power_cap_control: bool = False
    # The bench's keyed fault interface (hil seu inject), for tests only: off unless a key file is named.
    bench_key_file: str = ""
    faults: str = ""  # where it listens (bind:...); empty: the bench port
    bus_state: str = ""  # where the bus's state comes from (connect:...); empty: the bench port
    bus_draw: str = ""  # where the payload's draw goes (connect:...); empty: the bench port
    watchdog: float = 10.0  # real seconds the main loop may stall before the process resets
    clock: ClockSettings = ClockSettings()
    responses: tuple[LimitResponse, ...] = ()

    def __post_init__(self) -> None:
        if not self.watchdog > 0:
            raise ConfigError("flight.watchdog: must be > 0 seconds")
        if self.job_device not in ("", "cpu", "cuda"):
            raise ConfigError(f"flight.job_device: {self.job_device!r} is not cpu or cuda")
        if self.ecc_source not in ("auto", "nvml", "simulated", "none"):
            raise ConfigError(f"flight.ecc_source: {self.ecc_source!r} is not auto, nvml, simulated or none")
        if self.gpu_power not in GPU_POWER_SOURCES:
            raise ConfigError(f"flight.gpu_power: {self.gpu_power!r} is not auto, nvml or simulated")


@dataclasses.dataclass(frozen=True, slots=True)
class MissionFile:
    """The parsed file: its tables, where it lives, and the settings both sides share."""

    path: Path | None
    doc: dict[str, Any]
    link: LinkConfig
    ports: BenchPorts

    def resolve(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() or self.path is None else self.path.parent / path

    def endpoint(self, text: str, default: Endpoint) -> Endpoint:
        return Endpoint.parse(text) if text else default

    def flight(self) -> FlightSettings:
        return from_table(FlightSettings, self.doc.get("flight", {}), "flight")


def load_mission(path: str | Path | None) -> MissionFile:
    """Read the mission file (None: every default, as on a bench without a file)."""
    path = Path(path) if path is not None else None
    doc = read_toml(path, "mission config") if path is not None else {}
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: {', '.join(SECTIONS)})")
    base = doc.get("base_port", DEFAULT_BASE_PORT)
    host = doc.get("host", "127.0.0.1")
    top = 65536 - BenchPorts.SPAN
    if isinstance(base, bool) or not isinstance(base, int) or not 1 <= base <= top:
        raise ConfigError(f"base_port: {base!r} is not a port number (1..{top})")
    if not isinstance(host, str):
        raise ConfigError("host: expected a string")
    link = from_table(LinkConfig, doc.get("link", {}), "link")
    if path is not None:
        link = link.relative_to(path.parent)
    return MissionFile(path, doc, link, BenchPorts(base, host))

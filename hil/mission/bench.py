"""The bench a scenario flies on: every process started in step, and the faults it can cause.

One epoch (a UNIX time) is mission time zero for all of them: the link emulator counts its pass
windows from it and the bus starts that far along its orbit, so a process that starts a second late
is still in step. The flight computer keeps real time (its housekeeping, COP-1 timers, heartbeats
and watchdog behave as they do in orbit); only the bus's orbit and the passes are accelerated, by
the scenario's rate. The passes come from the orbit (:mod:`hil.mission.plan`), and after the
mission's last simulated second the link stays up: the bench's end-of-mission contact, in which the
store plays back and the archive completes before the mission is judged.

Faults go where a real one would: SIGKILL to the supervisor or a job's worker process, the
supervisor's keyed fault interface for upsets and ECC errors, the link emulator's control port for
the link, the bus's for power. Each answers with what happened, for the mission's timeline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import zmq

from flight.link.errors import ZenithError
from flight.link.keys import KeyRing
from flight.supervisor.fault_request import KEY_ID
from hil.bus.anomaly import pack_anomaly
from hil.link.control import pack_faults
from hil.link.presets import fault_options
from hil.mission.plan import Geometry
from hil.mission.scenario import (
    EccFault,
    Fault,
    KillSupervisor,
    KillWorker,
    LinkFault,
    PowerFault,
    Scenario,
    SeuFault,
)
from hil.seu_inject import FaultClient, client_for
from hil.stack import Stack, StackOptions

# The mission's first second is this long after the bench starts its processes, so that they are all up
# by then (a few seconds; more on a loaded machine): at 360× a late start would skip whole passes.
STARTUP_LEAD_S = 6.0
AFTER_MISSION_S = 1e6  # wall seconds the link stays up after the mission: until the bench stops it
BENCH_KEY = "bench.key"
# What a previous run left in the output directory: removed so that each run flies a fresh mission.
STALE = ("zenith.toml", "flight-state.db*", "ground-archive.db*", "ground.token", "*.log", "link-stats.json",
         "bus-stats.json", "bus-trace.jsonl", "capture.jsonl", "eps.toml", "summary.json", "report.md", "*.png")
STALE_DIRS = ("files", "ground-files", "downlinks")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    detail: str
    done: int = 0  # a fault aimed at a job: how much of it was carried out (flips made, workers killed)


def clear(out: Path) -> None:
    """Remove a previous mission's state, archive, logs and report from ``out`` (and nothing else)."""
    for pattern in STALE:
        for path in out.glob(pattern):
            path.unlink()
    for name in STALE_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)


def pass_windows(geometry: Geometry, rate: float) -> str:
    """The link's up windows in wall seconds from the epoch, as ``hil link --pass`` takes them, with
    the end-of-mission contact after the last simulated second."""
    end = geometry.duration_s / rate
    windows = [(opens / rate, closes / rate) for opens, closes in geometry.passes]
    if windows and windows[-1][1] >= end - 1e-6:  # a pass still on at the end runs into the contact
        windows[-1] = (windows[-1][0], end + AFTER_MISSION_S)
    else:
        windows.append((end, end + AFTER_MISSION_S))
    return ",".join(f"{a:.3f}:{b:.3f}" for a, b in windows)


def _eps_toml(scenario: Scenario) -> str:
    return "".join(f"{name} = {float(value)!r}\n" for name, value in asdict(scenario.bus).items())


class MissionBench:
    """The running processes of one mission, and the faults it can cause."""

    def __init__(self, scenario: Scenario, geometry: Geometry, out: Path, rate: float) -> None:
        self.scenario, self.geometry, self.out, self.rate = scenario, geometry, out, rate
        self.epoch = 0.0
        self.late_s = 0.0
        self.stack: Stack | None = None
        self._ctx = zmq.Context()
        self._faults: FaultClient | None = None
        self._sockets: dict[str, zmq.Socket] = {}
        self._seu_seed = scenario.mission.seed * 1000

    def start(self) -> Stack:
        out = self.out
        out.mkdir(parents=True, exist_ok=True)
        clear(out)
        if not (out / BENCH_KEY).exists():
            KeyRing.generate([KEY_ID]).save(out / BENCH_KEY)  # the bench's own key for the fault interface
        eps = out / "eps.toml"
        eps.write_text(_eps_toml(self.scenario))
        link = self.scenario.link
        faults = fault_options(link.preset, list(link.faults))
        if link.stations:
            faults["pass"] = pass_windows(self.geometry, self.rate)
        self.epoch = time.time() + STARTUP_LEAD_S
        options = StackOptions(
            out=out, faults=faults, seed=self.scenario.mission.seed, capture=True, bus=True, bus_rate=self.rate,
            link_args=("--epoch", repr(self.epoch)),
            bus_args=("--orbit", self.scenario.mission.orbit, "--start", repr(self.geometry.start),
                      "--start-wall", repr(self.epoch), "--eps", str(eps), "--trace", str(out / "bus-trace.jsonl"),
                      "--step", "10"),
            flight_toml=f'bench_key_file = "{BENCH_KEY}"\necc_source = "simulated"\n',
            # COP-1 sized for short, lossy passes: FARM-1's whole positive window (W/2) outstanding, and a
            # retransmission timer just over the emulated round trip (measured: about 5 commands/s through
            # the harsh preset's 20% loss and reordering, against 3.6 with the defaults, K = 3 and 0.5 s).
            link_toml="[link.fop]\nwindow = 5\nt1 = 0.3\n",
            # Passes last seconds of wall time here: the station must notice a loss of signal within one
            # and keep asking for a hole across several passes before it gives up on it.
            ground_toml="los_after = 1.0\ngap_settle = 1.0\ngap_retry = 10.0\ngap_attempts = 30\n"
                        + self._passes_toml())
        self.stack = Stack(options)
        self.stack.__enter__()
        self.late_s = max(0.0, time.time() - self.epoch)  # the bench took longer than its lead to come up
        return self.stack

    def _passes_toml(self) -> str:
        """The console's pass prediction for this bench: the bus's orbit, run at the bench's rate."""
        stations = self.scenario.link.stations
        if not stations:
            return ""
        names = ", ".join(f'"{name}"' for name in stations)
        return (f'\n[ground.passes]\norbit = "{self.scenario.mission.orbit}"\nstations = [{names}]\n'
                f"orbit_start = {self.geometry.start!r}\nstart_wall = {self.epoch!r}\nrate = {self.rate!r}\n")

    def mission_s(self) -> float:
        """Simulated seconds since the start of the mission, now."""
        return (time.time() - self.epoch) * self.rate

    def wall_at(self, t_s: float) -> float:
        return self.epoch + t_s / self.rate

    # --- faults ---------------------------------------------------------------------------------

    def inject(self, fault: Fault) -> Outcome:
        try:
            return self._inject(fault)
        except ZenithError as exc:  # the interface did not answer: said, not raised
            return Outcome(False, str(exc))

    def _inject(self, fault: Fault) -> Outcome:
        assert self.stack is not None
        if isinstance(fault, KillSupervisor):
            self.stack.kill_flight()
            return Outcome(True, "supervisor SIGKILLed; the bench restarts it on its state")
        if isinstance(fault, KillWorker):
            killed = kill_workers(fault.job, self.out)
            return Outcome(bool(killed), f"job {fault.job}'s worker (pid {', '.join(map(str, killed))}) SIGKILLed"
                           if killed else f"job {fault.job} has no worker at work", done=1 if killed else 0)
        if isinstance(fault, SeuFault):
            done, refused = self.flip(fault, fault.count)
            return Outcome(done == fault.count, f"{done} of {fault.count} bit flips in job {fault.job}'s "
                           f"{fault.target} ({fault.bits})" + (f"; refused: {refused}" if refused else ""), done)
        if isinstance(fault, EccFault):
            reply = self._client().send("ecc", corrected=fault.corrected, uncorrected=fault.uncorrected,
                                        xid=fault.xid or 0)
            return Outcome(reply["ok"], f"ECC corrected +{fault.corrected}, uncorrected +{fault.uncorrected}"
                           + (f", Xid {fault.xid}" if fault.xid else "") + ("" if reply["ok"] else
                                                                              f"; refused: {reply.get('detail') or reply['reason']}"))
        if isinstance(fault, LinkFault):
            options = fault_options(fault.preset, list(fault.faults))
            self._push("link", self.stack.mission.ports.link_control().address, pack_faults(options))
            return Outcome(True, f"link faults now {fault.preset}" + (f" with {', '.join(fault.faults)}"
                                                                      if fault.faults else ""))
        assert isinstance(fault, PowerFault)
        self._push("bus", self.stack.mission.ports.bus_control().address, pack_anomaly(fault.anomaly()))
        return Outcome(True, f"power: {fault.array_share:.0%} of the array working, {fault.extra_load_w:g} W "
                             "more load")

    def flip(self, fault: SeuFault, count: int) -> tuple[int, str]:
        """Up to ``count`` flips (each its own seed); how many the supervisor made, and why it refused
        the first it did not make."""
        for done in range(count):
            self._seu_seed += 1
            reply = self._client().send("flip", job=fault.job, target=fault.target, bits=fault.bits,
                                        seed=self._seu_seed, at=[])
            if not reply["ok"]:
                return done, str(reply.get("detail") or reply["reason"])
        return count, ""

    def _client(self) -> FaultClient:
        if self._faults is None:
            assert self.stack is not None
            self._faults = client_for(self.stack.mission_path, timeout_s=10.0)
        return self._faults

    def _push(self, name: str, address: str, message: bytes) -> None:
        socket = self._sockets.get(name)
        if socket is None:
            socket = self._sockets[name] = self._ctx.socket(zmq.PUSH)
            socket.setsockopt(zmq.LINGER, 1000)
            socket.connect(address)
        socket.send(message)

    def stop(self) -> dict[str, int | None]:
        if self._faults is not None:
            self._faults.close()
        for socket in self._sockets.values():
            socket.close()
        self._ctx.term()
        return self.stack.stop() if self.stack is not None else {}


def kill_workers(job: int, out: Path) -> list[int]:
    """SIGKILL the worker processes of ``job`` whose job directory is under ``out``; their PIDs."""
    root = out.resolve()
    killed = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if b"flight.jobs.worker" not in argv or len(argv) < 4:
            continue
        try:
            spec = json.loads(argv[-2] if argv[-1] == b"" else argv[-1])
            mine = spec.get("job") == job and Path(spec["workdir"]).resolve().is_relative_to(root)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if mine:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
                killed.append(int(proc.name))
            except ProcessLookupError:
                pass
    return killed

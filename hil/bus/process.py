"""``hil bus``: the spacecraft bus simulator as a process, the payload's power supply on the bench.

It steps the orbit, the EPS and the thermal nodes ``step`` simulated seconds at a time, ``rate``
times faster than the wall clock (an orbit in about a minute at rate 90), and after every step
publishes the bus state (base port + 8, PUB) to the supervisor. The supervisor reports the payload's
draw back (base port + 9, PULL): the bus carries the last draw it heard until it hears another, and
counts and drops a report that is not one. The bench's power anomalies come in on base port + 10
(PULL, :mod:`hil.bus.anomaly`): part of the array lost, a load stuck on, from then on. With
``--trace`` it writes every step as a JSON line (the bench's ground truth of the power: what the
mission's report plots and judges). On exit it prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import zmq

from flight.atomic_file import write_json_atomic
from flight.command_line import StopRequest
from flight.counters import Counters
from flight.link.config import from_table, read_toml
from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts
from flight.mission_config import load_mission
from flight.power.bus_message import BusMessageError, BusReport, pack_state, unpack_draw
from hil.bus.anomaly import MAX_MESSAGE as MAX_ANOMALY
from hil.bus.anomaly import unpack_anomaly
from hil.bus.eps import EpsSettings
from hil.bus.orbit import NAMED_ORBITS, Orbit
from hil.bus.simulator import BusSample, BusSettings, BusSimulator

MIN_WALL_STEP = 0.02  # seconds: the loop never spins faster than this, whatever the rate


@dataclass(frozen=True)
class BusRun:
    ports: BenchPorts
    orbit: Orbit
    start: float  # mission time (UNIX seconds) the bus starts at
    rate: float = 60.0  # simulated seconds per wall second
    step_s: float = 10.0  # simulated seconds per step
    duration: float | None = None  # wall seconds; None: until stopped
    settings: BusSettings = field(default_factory=BusSettings)
    stats: Path | None = None  # a JSON file of the latest state and counters, rewritten as it runs
    trace: Path | None = None  # every step as a JSON line
    begin: float | None = None  # UNIX time of the first step (its ports are bound before); None: at once

    def __post_init__(self) -> None:
        if not 0 < self.rate <= 1e5:
            raise ConfigError(f"--rate {self.rate}: in (0, 100000]")
        if not 0 < self.step_s <= 600:
            raise ConfigError(f"--step {self.step_s}: in (0, 600] simulated seconds")


def serve(run: BusRun, out: TextIO = sys.stdout) -> dict[str, object]:
    counters = Counters("bus")
    simulated = 86400.0 if run.duration is None else run.duration * run.rate
    bus = BusSimulator(run.orbit, run.start, min(simulated, 86400.0), run.settings)
    ctx = zmq.Context()
    state_out = ctx.socket(zmq.PUB)
    draws = ctx.socket(zmq.PULL)
    control = ctx.socket(zmq.PULL)
    for socket in (state_out, draws, control):
        socket.setsockopt(zmq.LINGER, 0)
    control.setsockopt(zmq.MAXMSGSIZE, MAX_ANOMALY)
    try:
        state_out.bind(run.ports.bus_state(True).address)
        draws.bind(run.ports.bus_draw(True).address)
        control.bind(run.ports.bus_control(True).address)
    except zmq.ZMQError as exc:
        ctx.destroy(linger=0)
        raise ConfigError(f"cannot bind the bus ports (base {run.ports.base}): {exc}") from None
    print(f"hil bus: orbit {run.orbit.mean_altitude_km:.0f} km × {run.orbit.inclination_deg:.1f}°, rate {run.rate:g}, "
          f"state on {run.ports.bus_state().address}", file=out, flush=True)
    payload_w, min_soc, max_gpu_c = 0.0, 1.0, -273.15
    wall_step = max(MIN_WALL_STEP, run.step_s / run.rate)
    if run.begin is not None:  # a bench that starts its processes ahead of the mission's first second
        time.sleep(max(0.0, run.begin - time.time()))
    stopping = StopRequest(run.duration)
    next_step = time.monotonic()
    trace = _open_trace(run.trace)
    try:
        while not stopping:
            payload_w = _take_draws(draws, payload_w, counters)
            _take_anomalies(control, bus, counters)
            sample = bus.advance(run.step_s, payload_w)
            counters.inc("steps")
            min_soc, max_gpu_c = min(min_soc, sample.soc), max(max_gpu_c, sample.gpu_c)
            report = BusReport(bus.t, sample.sunlit_fraction, sample.shed, bus.bus_state(), sample.plate_c,
                               sample.radiator_c)
            state_out.send(pack_state(report), zmq.NOBLOCK)
            counters.inc("states_sent")
            if trace is not None:
                trace.write(json.dumps(_trace_line(sample)) + "\n")
            if run.stats is not None and counters["steps"] % 10 == 0:
                write_json_atomic(run.stats, {"time": bus.t, "soc": sample.soc, "gpu_c": sample.gpu_c,
                                              "payload_w": sample.payload_w, "counters": counters.snapshot()})
            next_step += wall_step
            time.sleep(max(0.0, next_step - time.monotonic()))
    finally:
        ctx.destroy(linger=0)
        if trace is not None:
            trace.close()
    summary = {"simulated_s": counters["steps"] * run.step_s, "min_soc": min_soc, "max_gpu_c": max_gpu_c,
               "counters": counters.snapshot()}
    print(json.dumps(summary), file=out, flush=True)
    return summary


def _open_trace(path: Path | None) -> TextIO | None:
    if path is None:
        return None
    try:
        return path.open("a", buffering=1)  # line-buffered: a reader sees whole steps as they come
    except OSError as exc:
        raise ConfigError(f"--trace {path}: {exc.strerror}") from None


def _trace_line(sample: BusSample) -> dict[str, object]:
    return {"t": round(sample.time, 3), "sunlit": round(sample.sunlit_fraction, 4), "soc": round(sample.soc, 5),
            "array_w": round(sample.array_w, 1), "payload_w": round(sample.payload_w, 1),
            "gpu_c": round(sample.gpu_c, 2), "shed": sample.shed}


def _take_draws(draws: zmq.Socket, payload_w: float, counters: Counters) -> float:
    """The newest draw the payload reported (the last one heard, if none came)."""
    while draws.poll(0):
        try:
            payload_w = float(unpack_draw(draws.recv())["payload_w"])
            counters.inc("draws_heard")
        except BusMessageError:
            counters.inc("bad_draws")
    return payload_w


def _take_anomalies(control: zmq.Socket, bus: BusSimulator, counters: Counters) -> None:
    while control.poll(0):
        try:
            anomaly = unpack_anomaly(control.recv())
        except BusMessageError:
            counters.inc("bad_anomalies")
            continue
        bus.eps.array_share, bus.eps.extra_load_w = anomaly.array_share, anomaly.extra_load_w
        counters.inc("anomalies")


# ---- hil bus


def add_bus_command(commands: argparse._SubParsersAction[Any]) -> None:
    bus = commands.add_parser("bus", help="run the spacecraft bus simulator (orbit, power, thermal) for the payload",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                              allow_abbrev=False)
    where = bus.add_argument_group("where")
    where.add_argument("--mission", type=Path, metavar="FILE.toml", help="the mission file: its base port and host")
    where.add_argument("--base-port", type=int, help="the bench's base port (default: the mission's, else 5550)")
    orbit = bus.add_argument_group("orbit and time")
    orbit.add_argument("--orbit", choices=NAMED_ORBITS, default="default",
                       help="325 km at 53° (default), or a 550 km dawn-dusk sun-synchronous orbit")
    orbit.add_argument("--tle", type=Path, metavar="FILE", help="a TLE file of your own instead (2 or 3 lines)")
    orbit.add_argument("--start", type=float, metavar="UNIX_S", help="mission time to start at (default: the TLE's epoch)")
    orbit.add_argument("--start-wall", type=float, metavar="UNIX_S", help="the wall time at which the bus is at "
                       "--start: a bus started earlier waits for it, one started later begins that much further "
                       "along (how a bench keeps its processes in step; default: now)")
    orbit.add_argument("--rate", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    orbit.add_argument("--step", type=float, default=10.0, metavar="S", help="simulated seconds per step (default 10)")
    orbit.add_argument("--duration", type=float, metavar="S", help="wall seconds to run (default: until stopped)")
    eps = bus.add_argument_group("power (each option over --eps, over the defaults)")
    defaults = EpsSettings()
    eps.add_argument("--eps", type=Path, metavar="FILE.toml", help="the EPS's settings as a TOML table of "
                     "hil.bus.eps.EpsSettings fields (array_w, capacity_wh, initial_soc, shed_soc...)")
    eps.add_argument("--array-w", type=float, help=f"solar array, W (default {defaults.array_w:g})")
    eps.add_argument("--capacity-wh", type=float, help=f"battery, Wh (default {defaults.capacity_wh:g})")
    eps.add_argument("--soc", type=float, help=f"starting state of charge, 0..1 (default {defaults.initial_soc:g})")
    eps.add_argument("--bus-load-w", type=float, help=f"the bus's own loads, W (default {defaults.bus_load_w:g})")
    eps.add_argument("--payload-line-w", type=float,
                     help=f"the payload's power line rating, its allocation, W (default {defaults.payload_line_w:g})")
    bus.add_argument("--stats", type=Path, metavar="FILE", help="keep a JSON file of the latest state up to date")
    bus.add_argument("--trace", type=Path, metavar="FILE.jsonl", help="append every step as a JSON line")
    bus.set_defaults(handler=run_bus)


def run_bus(args: argparse.Namespace) -> int:
    mission = load_mission(args.mission)
    ports = BenchPorts(args.base_port, mission.ports.host) if args.base_port else mission.ports
    orbit = Orbit.from_file(args.tle) if args.tle is not None else Orbit.named(args.orbit)
    base = from_table(EpsSettings, read_toml(args.eps, "EPS settings"), "eps") if args.eps else EpsSettings()
    given = {name: value for name, value in (("array_w", args.array_w), ("capacity_wh", args.capacity_wh),
                                             ("initial_soc", args.soc), ("bus_load_w", args.bus_load_w),
                                             ("payload_line_w", args.payload_line_w)) if value is not None}
    eps = replace(base, **given)
    start = args.start if args.start is not None else orbit.epoch
    begin = None
    if args.start_wall is not None:  # in the future: wait for it; past: begin that far along
        begin = args.start_wall
        start += max(0.0, time.time() - args.start_wall) * args.rate
    run = BusRun(ports, orbit, start, args.rate, args.step,
                 args.duration, BusSettings(eps=eps), args.stats, args.trace, begin)
    serve(run)
    return 0

"""``hil stack``: the link emulator, the flight supervisor and the ground station (and, with ``--bus``, the
bus simulator), together, locally.

It writes a mission file (fresh keys, free ports) into the output directory, starts the three
processes, and keeps the supervisor alive as a bench keeper would: a supervisor that dies (a
SIGKILL, or its watchdog) is started again, on the same state. Ctrl-C stops everything cleanly.
Operators' tools point at the mission file: ``ground send --config OUT/zenith.toml PING``.
The :class:`Stack` context manager is the same thing for tests, benchmarks and the demo.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.command_line import StopRequest
from flight.link.errors import ConfigError, ZenithError
from flight.mission_config import load_mission
from ground.api import StationClient
from ground.control import StationUnavailable
from ground.iv_state import new_key_file
from hil.link.presets import FAULT_PRESETS, fault_options
from hil.ports import free_base_port
from hil.process_group import ProcessGroup

RESTART_DELAY = 0.3  # seconds before a dead supervisor is started again
READY_TIMEOUT = 30.0
LINES_KEPT = 10_000


@dataclass
class StackOptions:
    out: Path = Path("out/stack")
    faults: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    base_port: int | None = None
    clock_rate: float = 1.0
    restart: bool = True
    flight_toml: str = ""  # extra lines for the [flight] table
    ground_toml: str = ""  # extra lines for the [ground] table
    link_toml: str = ""  # extra tables under [link], e.g. "[link.fop]\nt1 = 0.3"
    capture: bool = False
    link_args: tuple[str, ...] = ()  # more `hil link` options, e.g. its pass windows from an orbit
    bus: bool = False  # also run `hil bus`: the payload's power supply, and the governor at work
    bus_rate: float = 60.0  # the bus's time acceleration
    bus_args: tuple[str, ...] = ()  # more `hil bus` options, e.g. ("--capacity-wh", "300")


def mission_text(base: int, options: StackOptions) -> str:
    # No anchor: the supervisor anchors the scaled clock at its first start and keeps it in its state.
    rate = f'[flight.clock]\nsource = "scaled"\nrate = {options.clock_rate}\n' \
        if options.clock_rate != 1.0 else ""
    return (f"# written by hil stack\nbase_port = {base}\n\n[link]\nkeys_file = \"keys.json\"\n{options.link_toml}\n\n"
            f"[flight]\nstate = \"flight-state.db\"\nheartbeats = \"bind:tcp://127.0.0.1:{base + 4}\"\n"
            f"{options.flight_toml}\n{rate}\n"
            f"[ground]\narchive = \"ground-archive.db\"\ntoken_file = \"ground.token\"\n{options.ground_toml}\n")


class Stack:
    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.out = options.out
        self.mission_path = self.out / "zenith.toml"
        self.group = ProcessGroup(self.out)
        self.restarts = 0
        self.lines: deque[tuple[str, str]] = deque(maxlen=LINES_KEPT)  # the newest, for diagnostics
        self.flight_starts = 0  # "supervisor up" lines: how many lives the supervisor has begun
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None
        self._flight_lock = threading.Lock()

    def start(self) -> Stack:
        self.out.mkdir(parents=True, exist_ok=True)
        keys = self.out / "keys.json"
        if not keys.exists():
            new_key_file(keys)  # fresh keys for a fresh bench; never committed
        if self.mission_path.exists():
            print(f"hil stack: reusing {self.mission_path} (its ports, clock and settings win over the options)",
                  flush=True)
        else:
            base = self.options.base_port or free_base_port()
            self.mission_path.write_text(mission_text(base, self.options))
        self.mission = load_mission(self.mission_path)
        base = self.mission.ports.base
        fault_args = [a for name, value in self.options.faults.items() for a in (f"--{name}", value)]
        capture = ["--capture", str(self.out / "capture.jsonl")] if self.options.capture else []
        self.group.start("link", "hil.cli", ["link", "--base-port", str(base), "--seed", str(self.options.seed),
                                             "--stats", str(self.out / "link-stats.json"), "--control", "bench",
                                             *capture, *self.options.link_args, *fault_args], self._line)
        if self.options.bus:
            self.group.start("bus", "hil.cli", ["bus", "--mission", str(self.mission_path), "--rate",
                                                str(self.options.bus_rate), "--stats", str(self.out / "bus-stats.json"),
                                                *self.options.bus_args], self._line)
        self._start_flight()
        self.group.start("ground", "ground.cli", ["station", "--config", str(self.mission_path)], self._line)
        self._wait_ready()
        if self.options.restart:
            self._keeper = threading.Thread(target=self._keep, name="flight-keeper", daemon=True)
            self._keeper.start()
        return self

    def _line(self, name: str, line: str) -> None:
        self.lines.append((name, line))
        if name == "flight" and line.startswith("flight: supervisor up"):
            self.flight_starts += 1

    def _start_flight(self) -> None:
        self.group.start("flight", "flight.cli", ["run", "--config", str(self.mission_path)], self._line)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for name in ("link", "flight", "ground", *(("bus",) if self.options.bus else ())):
                child = self.group.child(name)
                if child is not None and child.poll() is not None:
                    raise ZenithError(f"{name} exited with {child.returncode} at start; see {self.out}/{name}.log")
            try:  # the token file appears when the station has started
                with StationClient(self.mission, timeout=0.5) as client:
                    client.status()
                return
            except (StationUnavailable, ConfigError):
                if time.monotonic() > deadline:
                    raise ZenithError(f"the ground station did not answer within {READY_TIMEOUT:g} s") from None
                time.sleep(0.1)

    def _keep(self) -> None:
        while not self._stopping.wait(0.1):
            with self._flight_lock:
                child = self.group.child("flight")
                # Dead, not stopped: a kill, a crash or the watchdog (a clean stop, e.g. Ctrl-C, exits 0).
                if child is not None and child.poll() not in (None, 0) and not self._stopping.is_set():
                    time.sleep(RESTART_DELAY)
                    self.restarts += 1
                    self._start_flight()

    def link_epoch(self) -> float:
        """When the emulator started, which its pass windows count from: the time of its one line at
        start (its log is written then, and again only when it stops)."""
        return (self.out / "link.log").stat().st_mtime

    def kill_flight(self) -> None:
        """SIGKILL the supervisor, as a power glitch would; the keeper starts it again."""
        with self._flight_lock:
            child = self.group.child("flight")
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGKILL)
                child.wait()

    def client(self, timeout: float = 5.0) -> StationClient:
        return StationClient(self.mission, timeout=timeout)

    def stop(self) -> dict[str, int | None]:
        self._stopping.set()
        if self._keeper is not None:
            self._keeper.join(timeout=2)
        return self.group.stop_all()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# --- the command --------------------------------------------------------------------------------


def add_stack_command(commands: argparse._SubParsersAction[Any]) -> None:
    stack = commands.add_parser(
        "stack", help="run the link emulator, flight supervisor and ground station together",
        description="Start `hil link`, `flight run` and `ground station` with a generated mission file (fresh "
                    "keys, free ports) in --out, restart the supervisor if it dies, and stop everything on "
                    "Ctrl-C. Then, in another terminal: ground send --config OUT/zenith.toml PING")
    stack.add_argument("--faults", choices=sorted(FAULT_PRESETS), default="none",
                       help="link fault preset (default none)")
    stack.add_argument("--fault", action="append", default=[], metavar="OPTION=VALUE",
                       help="override one `hil link` option, e.g. --fault loss=0.2 (repeatable)")
    stack.add_argument("--seed", type=int, default=0, help="seed of the link faults (default 0)")
    stack.add_argument("--out", type=Path, default=Path("out/stack"), help="directory for the mission file, state, "
                       "archive and logs (default out/stack; an existing mission file there is reused)")
    stack.add_argument("--base-port", type=int, help="first of ten bench ports (default: any free ones)")
    stack.add_argument("--rate", type=float, default=1.0, help="spacecraft clock rate (default 1: real time)")
    stack.add_argument("--bus", action="store_true", help="also run the bus simulator (`hil bus`): eclipses, "
                       "battery and temperature, with the power governor managing the jobs")
    stack.add_argument("--bus-rate", type=float, default=60.0, help="the bus's time acceleration (default 60)")
    stack.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    stack.set_defaults(handler=run_stack)


def run_stack(args: argparse.Namespace) -> int:
    try:
        faults = fault_options(args.faults, args.fault)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    options = StackOptions(out=args.out, faults=faults, seed=args.seed, base_port=args.base_port,
                           clock_rate=args.rate, bus=args.bus, bus_rate=args.bus_rate)
    stopping = StopRequest(args.duration)
    with Stack(options) as stack:
        print(f"hil stack: up (faults {args.faults}); logs and state in {args.out}", flush=True)
        print(f"  try: ground send --config {stack.mission_path} PING", flush=True)
        print(f"       ground tlm --config {stack.mission_path}", flush=True)
        print("  Ctrl-C stops everything.", flush=True)
        while not stopping:
            time.sleep(0.2)
        print("hil stack: stopping", flush=True)
    print(f"hil stack: stopped ({stack.restarts} supervisor restarts)", flush=True)
    return 0

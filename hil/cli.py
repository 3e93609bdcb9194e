"""``hil``: the test bench's command line, one subcommand per bench process.

Each subcommand is a pair: ``add_<name>_command(commands)`` declares its options and sets
``handler``, and ``run_<name>(args) -> int`` does the work. Errors the user can fix (a bad option,
an unreadable file, a port in use) come back as :class:`ZenithError` and are printed as one line
on stderr with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from flight.command_line import run_subcommand
from flight.link.config import read_toml
from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts, Endpoint
from hil.bus.orbit import NAMED_ORBITS, Orbit
from hil.bus.process import add_bus_command
from hil.demo import add_demo_command
from hil.link.emulator import EmulatorConfig, LinkEndpoints, serve
from hil.link.faults import FaultConfig, fault_settings, parse_setting
from hil.mission.command import add_mission_command
from hil.seu_campaign import add_seu_command
from hil.stack import add_stack_command

DIRECTIONS = {"up": "uplink (ground to flight)", "down": "downlink (flight to ground)"}
FLAGS = {"passes": "pass"}  # option names that read better than the field name
ENDPOINTS = {
    "ground_up": "where ground sends telecommands",
    "flight_up": "where flight receives telecommands",
    "flight_down": "where flight sends telemetry",
    "ground_down": "where ground receives telemetry",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other error of ours; --help has the usage.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _flag(name: str) -> str:
    return FLAGS.get(name, name).replace("_", "-")


# ---- hil link


def add_link_command(commands: argparse._SubParsersAction[Any]) -> None:
    link = commands.add_parser(
        "link",
        help="run the link emulator between ground and flight",
        usage="%(prog)s [options]",
        description="Emulate the radio link: forward frames between ground and flight over ZeroMQ, "
        "with seeded faults and pass windows. Prints a JSON summary of its counters on exit "
        "(SIGINT, SIGTERM or --duration).",
        epilog="Fault settings come from the defaults (no faults), then --config, then the options for both "
        "directions, then the --up-*/--down-* options, each overriding the one before.",
        allow_abbrev=False,
    )
    where = link.add_argument_group("endpoints (the emulator binds all four by default)")
    where.add_argument(
        "--base-port", type=int, default=5550, help="first of four consecutive ports (default 5550)"
    )
    where.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for name, text in ENDPOINTS.items():
        where.add_argument(
            f"--{_flag(name)}",
            metavar="ENDPOINT",
            help=f"{text}: bind:ADDRESS or connect:ADDRESS (default: bind on the base port)",
        )
    run = link.add_argument_group("run")
    run.add_argument("--seed", type=int, help="seed of the fault models (default: --config's seed, else 0)")
    run.add_argument(
        "--config", type=Path, metavar="FILE.toml", help="fault settings: tables [up] and [down]"
    )
    run.add_argument("--capture", type=Path, metavar="FILE", help="write every frame's fate as JSON lines")
    run.add_argument("--stats", type=Path, metavar="FILE", help="keep a JSON file of the counters up to date")
    run.add_argument(
        "--stats-interval", type=float, default=1.0, metavar="S", help="seconds between --stats writes"
    )
    run.add_argument(
        "--duration", type=float, metavar="S", help="exit after S seconds (default: run until stopped)"
    )
    run.add_argument("--epoch", type=float, metavar="UNIX_S", help="count the pass windows (and every time) from "
                     "this moment instead of the emulator's start: how a bench keeps its processes in step")
    run.add_argument("--control", metavar="ENDPOINT", help="take changes of the faults while running (typed msgpack, "
                     "hil.link.control): bind:ADDRESS, or 'bench' for base port + 11 (default: none)")

    both = link.add_argument_group("faults, both directions")
    for setting in fault_settings():
        both.add_argument(
            f"--{_flag(setting.name)}",
            dest=f"both.{setting.name}",
            metavar=setting.metavar,
            help=f"{setting.help} (default {setting.default})" if setting.default else setting.help,
        )
    for direction, text in DIRECTIONS.items():
        one = link.add_argument_group(f"faults, {text} only: override the option without the prefix")
        for setting in fault_settings():
            one.add_argument(
                f"--{direction}-{_flag(setting.name)}",
                dest=f"{direction}.{setting.name}",
                metavar=setting.metavar,
                help=f"--{_flag(setting.name)} for the {direction}link only",
            )
    orbit = link.add_argument_group(
        "passes from the orbit (instead of --pass): the link is up only while a station sees the satellite")
    orbit.add_argument("--orbit-passes", choices=NAMED_ORBITS,
                       help="take the pass windows from this orbit (the bus simulator's)")
    orbit.add_argument("--stations", default="redmond,hartebeesthoek", metavar="NAME,...",
                       help="ground stations: svalbard, redmond, hartebeesthoek (default redmond,hartebeesthoek)")
    orbit.add_argument("--orbit-start", type=float, metavar="UNIX_S", help="mission time at start (default: the epoch)")
    orbit.add_argument("--orbit-rate", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    orbit.add_argument("--orbit-hours", type=float, default=24.0, help="simulated hours of passes (default 24)")
    link.set_defaults(handler=run_link)


def _read_config_file(path: Path) -> dict[str, Any]:
    data = read_toml(path, "fault config")
    unknown = sorted(set(data) - {"seed", *DIRECTIONS})
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; expected seed, [up] and [down]")
    for direction in DIRECTIONS:
        if not isinstance(data.get(direction, {}), dict):
            raise ConfigError(f"{path}: {direction} must be a table, [{direction}]")
    if "seed" in data and (isinstance(data["seed"], bool) or not isinstance(data["seed"], int)):
        raise ConfigError(f"{path}: seed must be an integer")
    return data


def _faults(args: argparse.Namespace, direction: str, table: dict[str, Any]) -> FaultConfig:
    values = dict(table)
    for scope in ("both", direction):
        for setting in fault_settings():
            text = getattr(args, f"{scope}.{setting.name}")
            if text is not None:
                values[setting.name] = parse_setting(setting.name, text)
    try:
        return FaultConfig.from_mapping(values)
    except ConfigError as exc:
        raise ConfigError(f"{direction}: {exc}") from None


def _endpoints(args: argparse.Namespace) -> LinkEndpoints:
    if not 1 <= args.base_port <= 65535 - 3:
        raise ConfigError(f"--base-port {args.base_port} leaves no room for four ports (1..65532)")
    bench = LinkEndpoints.bench(BenchPorts(args.base_port, args.host))
    chosen = {
        name: Endpoint.parse(text) if (text := getattr(args, name)) else getattr(bench, name)
        for name in ENDPOINTS
    }
    return LinkEndpoints(**chosen)


def link_config(args: argparse.Namespace) -> EmulatorConfig:
    """The parsed ``hil link`` options → the emulator's configuration, or a ConfigError."""
    data = _read_config_file(args.config) if args.config else {}
    if args.orbit_passes:
        if getattr(args, "both.passes") is not None or getattr(args, "both.pass_period") is not None:
            raise ConfigError("--orbit-passes gives the pass windows: not with --pass or --pass-period")
        setattr(args, "both.passes", _orbit_passes(args))
    return EmulatorConfig(
        endpoints=_endpoints(args),
        up=_faults(args, "up", data.get("up", {})),
        down=_faults(args, "down", data.get("down", {})),
        seed=args.seed if args.seed is not None else data.get("seed", 0),
        capture=args.capture,
        stats=args.stats,
        stats_interval=args.stats_interval,
        duration=args.duration,
        control=_control(args),
        epoch=args.epoch,
    )


def _control(args: argparse.Namespace) -> Endpoint | None:
    if args.control is None:
        return None
    if args.control == "bench":
        return BenchPorts(args.base_port, args.host).link_control(bind=True)
    return Endpoint.parse(args.control)


def _orbit_passes(args: argparse.Namespace) -> str:
    """The orbit's pass windows as --passes text (START:END,...), in wall seconds."""
    from hil.bus.link_passes import orbit_windows, stations_named

    orbit = Orbit.named(args.orbit_passes)
    start = args.orbit_start if args.orbit_start is not None else orbit.epoch
    windows = orbit_windows(orbit, stations_named(n for n in args.stations.split(",") if n), start,
                            args.orbit_hours, args.orbit_rate)
    if not windows:
        raise ConfigError(f"the stations {args.stations} never see the satellite in {args.orbit_hours:g} h")
    return ",".join(f"{begin:.3f}:{end:.3f}" for begin, end in windows)


def run_link(args: argparse.Namespace) -> int:
    summary = serve(link_config(args))
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0


# ---- the command table: each module adds its subcommand (add_<name>_command / run_<name>).

SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[Any]], None], ...] = (
    add_link_command, add_stack_command, add_demo_command, add_seu_command, add_bus_command, add_mission_command)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hil", description="Zenith test bench: the emulated link and the simulated spacecraft."
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND", required=True)
    for add_command in SUBCOMMANDS:
        add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

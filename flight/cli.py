"""``flight``: the payload's command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from flight.command_line import endpoint_argument, run_subcommand
from flight.dictionary import load_dictionary
from flight.link.config import LinkConfig, SdlsSettings, load_link_config
from flight.link.errors import ZenithError
from flight.link.transport import BenchPorts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flight", description="Zenith flight software (the payload side).")
    sub = parser.add_subparsers(dest="command", required=True)
    link = sub.add_parser("link", help="run the payload's end of the link (uplink, FARM-1, SDLS, downlink)",
                          description="Receive CLTUs/TC frames, decode commands against the dictionary, "
                                      "report PUS 1 verification and send TM frames carrying the CLCW.")
    link.add_argument("--config", type=Path, help="link configuration (TOML); defaults without SDLS need --insecure")
    link.add_argument("--dictionary", type=Path, help="dictionary file (default: the built-in zenith.json)")
    link.add_argument("--base-port", type=int, default=5550, help="bench ports: connect to base+1 (TC) and base+2 (TM)")
    link.add_argument("--host", default="127.0.0.1", help="host of the link emulator")
    link.add_argument("--uplink", type=endpoint_argument, help="TC endpoint instead of the bench port (bind:/connect:ADDR)")
    link.add_argument("--downlink", type=endpoint_argument, help="TM endpoint instead of the bench port")
    link.add_argument("--arrivals", type=Path, help="append every command that arrives to this JSON-lines file")
    link.add_argument("--duration", type=float, help="stop after this many seconds")
    link.add_argument("--keys", type=Path, help="SDLS key file (overrides keys_file in the config)")
    link.add_argument("--state", type=Path, help="FARM-1 and anti-replay state file, kept across restarts "
                                                 "(written before any command is acted on)")
    link.add_argument("--insecure", action="store_true", help="run without SDLS: accept unauthenticated commands "
                                                              "(bench only)")
    link.set_defaults(handler=_link)

    run = sub.add_parser("run", help="run the payload supervisor (commanding, telemetry, storage, health)",
                         description="The payload supervisor: FARM-1, SDLS and the downlink, command dispatch with "
                                     "PUS 1 verification, housekeeping, events, the time-based schedule, the "
                                     "onboard store and health, with every state kept in one SQLite database so "
                                     "a killed supervisor restarts where it was. Stops on SIGINT or SIGTERM.")
    run.add_argument("--config", type=Path, help="mission config (TOML, tables [link] and [flight]); "
                                                 "default: bench defaults")
    run.add_argument("--dictionary", type=Path, help="dictionary file (default: the built-in zenith.json)")
    run.add_argument("--duration", type=float, help="stop after this many seconds")
    run.add_argument("--insecure", action="store_true", help="run without SDLS: accept unauthenticated commands "
                                                             "(bench only)")
    run.set_defaults(handler=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    from flight.mission_config import load_mission
    from flight.supervisor.process import run_supervisor

    mission = load_mission(args.config)
    if args.insecure:
        mission = dataclasses.replace(mission, link=dataclasses.replace(mission.link, sdls=SdlsSettings(())))
    elif not mission.link.sdls.associations:
        raise ZenithError("no SDLS security association is configured: refusing commands without a key "
                          "(pass --insecure for a bench without keys)")
    return run_supervisor(mission, load_dictionary(args.dictionary), args.duration)


def _link(args: argparse.Namespace) -> int:
    from flight.link_process import run_link_node

    config = load_link_config(args.config) if args.config else LinkConfig()
    if args.insecure:
        config = dataclasses.replace(config, sdls=SdlsSettings(()))
    elif not config.sdls.associations:
        raise ZenithError("no SDLS security association is configured: refusing commands without a key "
                          "(pass --insecure for a bench without keys)")
    if args.keys:
        config = dataclasses.replace(config, keys_file=str(args.keys))
    ports = BenchPorts(args.base_port, args.host)
    return run_link_node(config, load_dictionary(args.dictionary), args.uplink or ports.flight_uplink(),
                         args.downlink or ports.flight_downlink(), args.arrivals, args.duration, state=args.state)


def main(argv: list[str] | None = None) -> int:
    return run_subcommand(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

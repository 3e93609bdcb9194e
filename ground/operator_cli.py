"""The operators' subcommands of ``ground``: station, web, send, tlm, events, history, schedule.

Tables are for people (rich); ``--json`` prints one JSON object per line for scripts. Arguments are
given as ``key=value`` and read by the type the dictionary gives them, so ``ground send PARAM_SET
name=events.flood_limit value=50`` sends an integer, and a mistake is named before anything is sent.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from flight.dictionary import Dictionary, load_dictionary
from flight.dictionary.model import Argument, Command, Severity
from flight.dictionary.types import INTEGER_RANGES, json_value
from flight.link.errors import CommandError
from flight.mission_config import load_mission
from ground.api import WAITS, AssertionFailed, CommandTimeout, StationClient
from ground.archive import Stage
from ground.files.cli import add_files_commands
from ground.jobs_cli import add_jobs_commands

EXIT_FAILED = 1
STAGE_STYLE = {True: "green", False: "bold red"}
FAILURE_REASONS = {1: "malformed packet", 2: "unknown command", 3: "bad argument", 4: "not allowed in this mode",
                   5: "execution error"}


def add_operator_commands(sub: argparse._SubParsersAction[Any]) -> None:
    station = sub.add_parser("station", help="run the ground station (FOP-1, SDLS, archive, gap fill)",
                             description="The ground's end of the link with its SQLite archive: uplinks commands "
                                         "through COP-1 and SDLS, archives every telemetry packet, and asks the "
                                         "payload to play back what loss of signal hid. Stops on SIGINT/SIGTERM.")
    _config(station)
    station.add_argument("--duration", type=float, help="stop after this many seconds")
    station.set_defaults(handler=_station)

    console = sub.add_parser("web", help="serve the operator web console (localhost by default)",
                             description="The web console beside the running station: telemetry, events, "
                                         "commands with their verification, reading the station's archive. It "
                                         "binds to localhost unless --host says otherwise; commanding from the "
                                         "page needs the operator token (the station's token file).")
    _config(console)
    console.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    console.add_argument("--port", type=int, default=8600, help="port (default 8600)")
    console.set_defaults(handler=_web)

    send = sub.add_parser("send", help="send a command and follow its verification",
                          description="Validate a command against the dictionary, uplink it through the running "
                                      "station and print each PUS 1 verification stage as it arrives. Exit code 1 "
                                      "on a failure report or a timeout.")
    send.add_argument("name", help="command name, e.g. PING")
    send.add_argument("arguments", nargs="*", metavar="key=value", help="arguments, typed by the dictionary")
    send.add_argument("--wait", choices=WAITS, default="completed", help="what to wait for (default completed)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    _config(send, json_output=True)
    send.set_defaults(handler=_send)

    tlm = sub.add_parser("tlm", help="show telemetry values from the archive")
    tlm.add_argument("channels", nargs="*", metavar="CHANNEL", help="channels to show (default: all)")
    tlm.add_argument("--follow", action="store_true", help="keep printing new values as they arrive")
    _config(tlm, json_output=True)
    tlm.set_defaults(handler=_tlm)

    events = sub.add_parser("events", help="show events from the archive")
    events.add_argument("--follow", action="store_true", help="keep printing new events as they arrive")
    events.add_argument("--severity", choices=[s.name.lower() for s in Severity], help="at least this severe")
    events.add_argument("--limit", type=int, default=50, help="the newest N events (default 50)")
    _config(events, json_output=True)
    events.set_defaults(handler=_events)

    history = sub.add_parser("history", help="show the command history with its verification stages")
    history.add_argument("--limit", type=int, default=30, help="the newest N commands (default 30)")
    _config(history, json_output=True)
    history.set_defaults(handler=_history)

    schedule = sub.add_parser("schedule", help="the on-board time-based schedule (PUS 11)")
    actions = schedule.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="insert a time-tagged command")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=float, help="mission time (s since 1970-01-01 UTC)")
    when.add_argument("--in", dest="after", type=float,
                      help="seconds from now on the spacecraft clock (as its housekeeping last reported it)")
    add.add_argument("name", help="command name")
    add.add_argument("arguments", nargs="*", metavar="key=value")
    _config(add, json_output=True)
    listing = actions.add_parser("list", help="ask the payload for its schedule and print it")
    _config(listing, json_output=True)
    delete = actions.add_parser("delete", help="delete a scheduled activity")
    delete.add_argument("activity", type=int, help="activity ID (from `ground schedule list`)")
    _config(delete, json_output=True)
    for action in (add, listing, delete):
        action.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    schedule.set_defaults(handler=_schedule)
    add_files_commands(sub)
    add_jobs_commands(sub)


def _config(parser: argparse.ArgumentParser, json_output: bool = False) -> None:
    parser.add_argument("--config", type=Path, help="mission config (TOML); default: bench defaults")
    if json_output:
        parser.add_argument("--json", action="store_true", help="JSON lines instead of tables")


# --- argument parsing ---------------------------------------------------------------------------


def parse_arguments(dictionary: Dictionary, name: str, items: list[str]) -> dict[str, Any]:
    """``key=value`` words → typed arguments; a CommandError names the argument that is wrong."""
    command = dictionary.command(name)
    if command is None:
        raise CommandError("name", f"unknown command {name!r} (see the dictionary)")
    by_name = {a.name: a for a in command.arguments}
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise CommandError(f"{name}.{item}", "arguments are key=value")
        argument = by_name.get(key)
        if argument is None:
            raise CommandError(f"{name}.{key}", f"unknown argument (known: {', '.join(by_name) or 'none'})")
        values[key] = parse_value(argument, text, f"{name}.{key}")
    return values


def parse_value(argument: Argument, text: str, where: str) -> Any:
    kind = argument.type.name
    try:
        if kind in INTEGER_RANGES:
            return int(text, 0)
        if kind in ("f32", "f64"):
            return float(text)
        if kind == "bool":
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        if kind == "bytes":
            return bytes.fromhex(text)
        if kind == "scalar":
            return _scalar(text)
    except (ValueError, KeyError):
        raise CommandError(where, f"{text!r} is not a {kind}") from None
    return text  # string, and enum labels


def octets_from_hex(command: Command, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments with each ``bytes`` one given as hex text ("0a1b2c", as `ground send` takes it)
    turned into octets: for the formats that have no octet strings (TOML scenarios, JSON requests).
    A CommandError names the argument whose text is not hex."""
    out = dict(arguments)
    for argument in command.arguments:
        value = out.get(argument.name)
        if argument.type.name == "bytes" and isinstance(value, str):
            out[argument.name] = parse_value(argument, value, f"{command.name}.{argument.name}")
    return out


def _scalar(text: str) -> Any:
    for convert in (lambda t: int(t, 0), float):
        try:
            return convert(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


# --- handlers -----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> StationClient:
    return StationClient(load_mission(args.config))


def _station(args: argparse.Namespace) -> int:
    from ground.station import run_station
    from ground.station_config import ground_settings

    mission = load_mission(args.config)
    return run_station(mission, load_dictionary(), ground_settings(mission), args.duration)


def _web(args: argparse.Namespace) -> int:
    from ground.web.server import run_web

    return run_web(load_mission(args.config), args.host, args.port)


def _send(args: argparse.Namespace) -> int:
    with _client(args) as gs:
        arguments = parse_arguments(gs.dictionary, args.name, args.arguments)
        return _run_command(gs, args, args.name, arguments)


def _run_command(gs: StationClient, args: argparse.Namespace, name: str, arguments: dict[str, Any],
                 at: float | None = None) -> int:
    console = Console(highlight=False)

    def show(stage: Stage) -> None:
        if args.json:
            print(json.dumps({"command": name, **_stage_dict(stage)}), flush=True)
        else:
            console.print(f"{name}: [{STAGE_STYLE[stage.ok]}]{_stage_text(stage)}[/]")

    try:
        result = gs.send(name, arguments, wait=args.wait if hasattr(args, "wait") else "completed",
                         timeout=args.timeout, at=at, on_stage=show)
    except CommandTimeout as exc:
        console.print(f"[bold red]timeout:[/] {exc}") if not args.json else print(json.dumps({"timeout": str(exc)}))
        return EXIT_FAILED
    if not args.json and getattr(args, "wait", "completed") == "none":
        console.print(f"{name}: queued for uplink (command {result.command_id})")
    return 0 if result.ok else EXIT_FAILED


def _stage_text(stage: Stage) -> str:
    if stage.ok:
        step = f" {stage.step}" if stage.step is not None else ""
        return f"{stage.stage}{step} ok"
    return f"{stage.stage} FAILED: {FAILURE_REASONS.get(stage.code or 0, stage.code)} ({stage.field})"


def _stage_dict(stage: Stage) -> dict[str, Any]:
    return {"stage": stage.stage, "ok": stage.ok, "code": stage.code, "field": stage.field, "step": stage.step,
            "time": stage.time}


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if math.isfinite(t) else str(t)


def _tlm(args: argparse.Namespace) -> int:
    with _client(args) as gs:
        gs.dictionary.channels_named(args.channels)  # each one known, or a clear error
        latest = gs.latest(args.channels or None)
        if args.json:
            for name, (t, value) in latest.items():
                print(json.dumps({"channel": name, "time": t, "value": value}))
        else:
            _tlm_table(gs, latest)
        if not args.follow:
            return 0
        since = max((t for t, _ in latest.values()), default=0.0)
        names = args.channels or [c.name for c in gs.dictionary.telemetry]
        while True:
            time.sleep(1.0)
            fresh = {n: gs.archive.values(n, since=since + 1e-6) for n in names}
            for name, rows in fresh.items():
                for t, value in rows:
                    print(json.dumps({"channel": name, "time": t, "value": value}) if args.json
                          else f"{_when(t)}  {name:<28} {value}", flush=True)
                    since = max(since, t)


def _tlm_table(gs: StationClient, latest: dict[str, tuple[float, Any]]) -> None:
    from flight.supervisor.health.limits import Level, level_of

    table = Table(title="telemetry")
    for column in ("channel", "value", "units", "time (UTC)"):
        table.add_column(column)
    style = {Level.NOMINAL: "", Level.WARNING: "yellow", Level.CRITICAL: "bold red"}
    for name, (t, value) in sorted(latest.items()):
        channel = gs.dictionary.channel(name)
        units = channel.units if channel else ""
        level = level_of(channel.limits, value)[0] if channel else Level.NOMINAL
        shown = f"{value:.6g}" if isinstance(value, float) else str(value)
        table.add_row(name, f"[{style[level]}]{shown}[/]" if style[level] else shown, units, _when(t))
    Console().print(table)


def _events(args: argparse.Namespace) -> int:
    severity = Severity[args.severity.upper()] if args.severity else None
    with _client(args) as gs:
        newest = gs.archive.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
        events = gs.events(max(0, newest - args.limit) if args.limit else 0, None, severity)
        _print_events(events, args.json)
        last = events[-1].id if events else newest
        while args.follow:
            time.sleep(0.5)
            events = gs.events(last, None, severity)
            _print_events(events, args.json)
            last = events[-1].id if events else last
    return 0


def _print_events(events: list[Any], as_json: bool) -> None:
    style = {Severity.INFO: "", Severity.LOW: "cyan", Severity.MEDIUM: "yellow", Severity.HIGH: "bold red"}
    console = Console(highlight=False)
    for e in events:
        if as_json:
            print(json.dumps({"id": e.id, "time": e.time, "name": e.name, "severity": e.severity.name.lower(),
                              "message": e.message, "arguments": json_value(e.arguments)}), flush=True)
        else:
            label = f"[{style[e.severity]}]{e.severity.name:<6}[/]" if style[e.severity] else f"{e.severity.name:<6}"
            console.print(f"{_when(e.time)}  {label} {e.name:<20} {e.message}")


def _history(args: argparse.Namespace) -> int:
    with _client(args) as gs:
        rows = gs.history(args.limit)
    if args.json:
        for command, stages in rows:
            print(json.dumps({"id": command.id, "name": command.name, "arguments": json_value(command.arguments),
                              "source": command.source, "sent": command.sent,
                              "stages": [_stage_dict(s) for s in stages]}))
        return 0
    table = Table(title="command history")
    for column in ("id", "sent (UTC)", "command", "source", "verification"):
        table.add_column(column)
    for command, stages in rows:
        text = ", ".join(f"[{STAGE_STYLE[s.ok]}]{_stage_text(s)}[/]" for s in stages) or "[dim]no report yet[/]"
        arguments = " ".join(f"{k}={v}" for k, v in json_value(command.arguments).items())
        table.add_row(str(command.id), _when(command.sent), f"{command.name} {arguments}".strip(), command.source, text)
    Console().print(table)
    return 0


def _schedule(args: argparse.Namespace) -> int:
    with _client(args) as gs:
        if args.action == "add":
            arguments = parse_arguments(gs.dictionary, args.name, args.arguments)
            at = args.at if args.at is not None else gs.mission_time() + args.after
            return _run_command(gs, args, args.name, arguments, at=at)
        if args.action == "delete":
            return _run_command(gs, args, "SCHEDULE_DELETE", {"activity": args.activity})
        return _schedule_list(gs, args)


def _schedule_list(gs: StationClient, args: argparse.Namespace) -> int:
    try:
        activities = gs.ask_report("SCHEDULE_LIST", {}, 11, 10, args.timeout)
    except AssertionFailed as exc:
        print(exc)
        return EXIT_FAILED
    if args.json:
        for activity, at, name, _packet in activities:
            print(json.dumps({"activity": activity, "time": at, "command": name}))
        return 0
    table = Table(title=f"on-board schedule ({len(activities)} activities)")
    for column in ("activity", "release (UTC)", "command"):
        table.add_column(column)
    for activity, at, name, _packet in activities:
        table.add_row(str(activity), _when(at), name)
    Console().print(table)
    return 0

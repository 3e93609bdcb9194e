"""``ground files get|put|list``: file transfers through the running station, with a progress bar.

The station does the transfer (its CFDP entity); these commands ask for it on the control socket
and follow it until it ends. Exit code 0 when the file arrived with its checksum verified, 1 when
the transfer failed or the wait timed out (the transfer itself goes on in the station).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from flight.mission_config import load_mission
from ground.api import StationClient

EXIT_FAILED = 1
POLL = 0.2


def add_files_commands(sub: argparse._SubParsersAction[Any]) -> None:
    files = sub.add_parser("files", help="CFDP file transfer with the payload: get, put, list",
                           description="Move files between the ground and the payload's filestore with CFDP "
                                       "(class 2 by default: acknowledged, survives loss and loss of signal; "
                                       "class 1: unacknowledged). Uplinked files land in the payload's uplink/ "
                                       "area, as data only.")
    actions = files.add_subparsers(dest="action", required=True)
    get = actions.add_parser("get", help="downlink REMOTE (a path in the payload's filestore) to LOCAL")
    get.add_argument("remote")
    get.add_argument("local", type=Path)
    put = actions.add_parser("put", help="uplink LOCAL to REMOTE (under the payload's uplink/ area)")
    put.add_argument("local", type=Path)
    put.add_argument("remote")
    listing = actions.add_parser("list", help="the station's file transfers, or (--remote) a payload directory")
    listing.add_argument("--remote", nargs="?", const=".", metavar="DIR",
                         help="list this directory of the payload's filestore instead (default: its root)")
    listing.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a remote listing")
    for action in (get, put):
        action.add_argument("--class", dest="cfdp_class", type=int, choices=(1, 2), default=2,
                            help="CFDP class (default 2)")
        action.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow it (default 3600)")
        action.add_argument("--no-wait", action="store_true", help="only ask for the transfer")
    for action in (get, put, listing):
        action.add_argument("--config", type=Path, help="mission config (TOML); default: bench defaults")
        action.add_argument("--json", action="store_true", help="JSON lines instead of a progress bar or table")
    files.set_defaults(handler=_files)


def _files(args: argparse.Namespace) -> int:
    with StationClient(load_mission(args.config)) as gs:
        if args.action == "list" and args.remote is not None:
            return _list_remote(gs, args.remote, args.timeout, args.json)
        if args.action == "list":
            return _list(gs, args.json)
        local = str(args.local.expanduser().resolve())
        if args.action == "put":
            request = gs.control.call("files_put", local=local, remote=args.remote, cfdp_class=args.cfdp_class)
        else:
            request = gs.control.call("files_get", local=local, remote=args.remote, cfdp_class=args.cfdp_class)
        first = request["request"]
        if args.no_wait:
            _show(first, args.json)
            return 0
        final = follow(gs, first["id"], args.timeout, args.json)
    if final is None:
        return EXIT_FAILED
    _show(final, args.json)
    return 0 if final["state"] == "finished" else EXIT_FAILED


def follow(gs: StationClient, request_id: str, timeout: float, as_json: bool = False) -> dict[str, Any] | None:
    """Poll the station until the request ends; None if it did not within ``timeout``."""
    deadline = time.monotonic() + timeout
    if as_json:
        while time.monotonic() < deadline:
            request = gs.control.call("files_status", id=request_id)["request"]
            if request["state"] != "active":
                return request
            time.sleep(POLL)
        return None
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(request_id, total=None)
        while time.monotonic() < deadline:
            request = gs.control.call("files_status", id=request_id)["request"]
            label = f"{request['kind']} {request['remote']}"
            progress.update(task, description=label, completed=request["progress"] or 0, total=request["size"])
            if request["state"] != "active":
                return request
            time.sleep(POLL)
    return None


def _show(request: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(request), flush=True)
        return
    console = Console(highlight=False)
    if request["state"] == "finished":
        verified = "verified" if request["verified"] else "not verified (class 1)"
        console.print(f"[green]{request['kind']} {request['remote']} -> {request['local']}: {request['size']} "
                      f"octets, {request['checksum_type']} {request['checksum']} {verified}[/] "
                      f"({_repairs(request)})")
    elif request["state"] == "failed":
        console.print(f"[bold red]{request['kind']} {request['remote']} failed:[/] {request['condition']}")
    else:
        console.print(f"{request['kind']} {request['remote']}: requested (id {request['id']})")


def _list_remote(gs: StationClient, directory: str, timeout: float, as_json: bool) -> int:
    request = gs.control.call("files_list_remote", remote=directory)["request"]
    final = follow(gs, request["id"], timeout, as_json=True)  # a listing is small: no progress bar
    if final is None or final["state"] != "finished":
        _show(final or request, as_json)
        return EXIT_FAILED
    entries = final.get("listing", [])
    if as_json:
        for entry in entries:
            print(json.dumps(entry))
        return 0
    table = Table(title=f"payload:{directory} ({len(entries)} files)")
    for column in ("name", "octets", "modified (UTC)"):
        table.add_column(column)
    for entry in entries:
        modified = entry.get("mtime")
        when = datetime.fromtimestamp(modified, UTC).strftime("%Y-%m-%d %H:%M:%S") if \
            isinstance(modified, int | float) else ""
        table.add_row(str(entry["name"]), str(entry["size"]), when)
    Console().print(table)
    return 0


def _repairs(request: dict[str, Any]) -> str:
    """What class 2 repaired, as this end saw it: the receiver counts its NAKs, the sender its resends."""
    if request["kind"] == "get":
        return f"{request['naks']} NAK PDUs sent"
    return f"{request['retransmitted']} PDUs retransmitted"


def _list(gs: StationClient, as_json: bool) -> int:
    requests = [r for r in gs.control.call("files_list")["requests"] if r["kind"] != "list"]
    if as_json:
        for request in requests:
            print(json.dumps(request))
        return 0
    table = Table(title="file transfers")
    for column in ("id", "kind", "remote", "local", "class", "state", "octets", "checksum", "repairs"):
        table.add_column(column)
    for r in requests:
        size = f"{r['progress']}/{r['size']}" if r["state"] == "active" else str(r["size"])
        state = r["state"] if r["state"] != "failed" else f"failed: {r['condition']}"
        checksum = f"{r['checksum']}{' ✓' if r['verified'] else ''}"
        table.add_row(r["id"], r["kind"], r["remote"], r["local"], str(r["cfdp_class"]), state, size, checksum,
                      _repairs(r))
    Console().print(table)
    return 0

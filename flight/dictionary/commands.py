"""Telecommand application data: arguments checked against the dictionary and encoded with msgpack.

Wire form of a PUS TC's application data: for PUS 8,1 a 2-octet function ID first; then, when the
command has arguments, one msgpack array holding them in dictionary order (enums as their codes).
A command without arguments has no msgpack part at all, so a standard PUS 17,1 with empty
application data is a valid PING.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from flight.dictionary.model import FUNCTION_MANAGEMENT, Command, Dictionary, Event
from flight.link.errors import CommandError
from flight.link.pus import ACK_ALL, build_tc

MAX_APP_DATA = 4096


@dataclass(frozen=True, slots=True)
class DecodedCommand:
    command: Command
    arguments: dict[str, Any]


def check_arguments(command: Command | Event, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Validate given arguments (by name) of a command or an event; return them in canonical form."""
    known = {a.name for a in command.arguments}
    for name in arguments:
        if name not in known:
            raise CommandError(f"{command.name}.{name}", "unknown argument")
    checked = {}
    for arg in command.arguments:
        if arg.name not in arguments:
            raise CommandError(f"{command.name}.{arg.name}", "missing argument")
        checked[arg.name] = arg.type.check(arguments[arg.name], f"{command.name}.{arg.name}")
    return checked


def pack_arguments(command: Command | Event, arguments: Mapping[str, Any]) -> bytes:
    """The checked arguments as one msgpack array in dictionary order (enums as codes); nothing at all
    when there are none."""
    checked = check_arguments(command, arguments)
    if not command.arguments:
        return b""
    return msgpack.packb([arg.type.to_wire(checked[arg.name]) for arg in command.arguments], use_bin_type=True)


def encode_app_data(command: Command, arguments: dict[str, Any]) -> bytes:
    head = command.function_id.to_bytes(2, "big") if command.function_id is not None else b""
    return head + pack_arguments(command, arguments)


def encode_command(dictionary: Dictionary, name: str, arguments: dict[str, Any] | None = None,
                   seq_count: int = 0, ack_flags: int = ACK_ALL, source_id: int = 0) -> bytes:
    """A complete PUS-C TC packet for a dictionary command."""
    command = dictionary.command(name)
    if command is None:
        raise CommandError("name", f"unknown command {name!r}")
    app_data = encode_app_data(command, arguments or {})
    return build_tc(command.apid, command.service, command.subtype, app_data, seq_count, source_id, ack_flags)


def _reject_ext(code: int, data: bytes) -> Any:
    raise CommandError("app_data", f"msgpack extension type {code} is not allowed")


def decode_app_data(dictionary: Dictionary, service: int, subtype: int, app_data: bytes) -> DecodedCommand:
    """Find the command and check every argument; errors name the offending field."""
    if len(app_data) > MAX_APP_DATA:
        raise CommandError("app_data", f"{len(app_data)} octets exceeds {MAX_APP_DATA}")
    function_id = None
    if (service, subtype) == FUNCTION_MANAGEMENT:
        if len(app_data) < 2:
            raise CommandError("function_id", "PUS 8,1 needs a 2-octet function ID")
        function_id = int.from_bytes(app_data[:2], "big")
        app_data = app_data[2:]
    command = dictionary.command_for(service, subtype, function_id)
    if command is None:
        detail = f" function {function_id}" if function_id is not None else ""
        raise CommandError("opcode", f"no command for PUS {service},{subtype}{detail}")
    if not command.arguments:
        if app_data:
            raise CommandError(f"{command.name}", f"takes no arguments, got {len(app_data)} octets")
        return DecodedCommand(command, {})
    try:
        values = msgpack.unpackb(app_data, raw=False, strict_map_key=True, ext_hook=_reject_ext)
    except CommandError:
        raise
    except Exception as exc:  # msgpack reports garbage through several exception types
        raise CommandError(f"{command.name}", f"arguments are not valid msgpack: {exc}") from None
    if not isinstance(values, list) or len(values) != len(command.arguments):
        raise CommandError(f"{command.name}", f"expected an array of {len(command.arguments)} arguments")
    arguments = {arg.name: arg.type.from_wire(value, f"{command.name}.{arg.name}")
                 for arg, value in zip(command.arguments, values, strict=True)}
    return DecodedCommand(command, arguments)

"""Changing the link's faults while it runs: how ``hil mission`` turns a quiet pass into a harsh one.

The bench sends the emulator a ``faults`` message (typed msgpack, on base port + 11 when the
emulator was started with ``--control``): ``hil link`` options and their values as text, the way
:func:`~hil.link.presets.fault_options` resolves a preset and its overrides. From then on each
direction has those faults, on top of the defaults (no fault), with its pass windows unchanged: the
passes come from the orbit, not from a fault preset. A message that is not one, or that names an
option the link lacks or a value out of range, is a :class:`LinkControlError`, counted and dropped;
the faults stay as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from flight.link.errors import ConfigError
from flight.message_schema import MessageError, checked, pack
from hil.link.faults import FaultConfig, parse_setting
from hil.link.presets import setting_of

MAX_MESSAGE = 4096
MAX_OPTIONS = 64
PROTOCOL = {"faults": {"options": dict}}
PASS_SETTINGS = ("passes", "pass_period", "pass_duration", "pass_offset")
DIRECTIONS = ("up", "down")


class LinkControlError(MessageError):
    """A link control message that cannot be applied; the reason names the option."""


def pack_faults(options: Mapping[str, str]) -> bytes:
    return pack("faults", options=dict(options))


def unpack_faults(raw: bytes) -> dict[str, str]:
    """The options of a ``faults`` message: at most ``MAX_OPTIONS`` pairs of text."""
    _, fields = checked(raw, PROTOCOL, "link control message", MAX_MESSAGE, LinkControlError)
    options = fields["options"]
    if len(options) > MAX_OPTIONS:
        raise LinkControlError(f"faults.options: {len(options)} options, at most {MAX_OPTIONS}")
    for name, value in options.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise LinkControlError("faults.options: every option and value is text")
    return options


def reconfigured(options: Mapping[str, str], current: Mapping[str, FaultConfig]) -> dict[str, FaultConfig]:
    """Each direction's new faults: the options (``loss`` for both, ``up-loss`` for one, which wins)
    over no faults, keeping the direction's pass windows. LinkControlError names a bad option."""
    chosen: dict[str, dict[str, object]] = {d: {} for d in DIRECTIONS}
    # Both directions first, so that a one-direction option overrides whatever order they came in.
    for name, text in sorted(options.items(), key=lambda item: item[0].startswith(DIRECTIONS)):
        setting = setting_of(name)
        if setting is None:
            raise LinkControlError(f"faults.options: `hil link` has no fault option --{name}")
        if setting in PASS_SETTINGS:
            raise LinkControlError(f"faults.options: --{name}: the pass windows are the orbit's; they do not change")
        try:
            value = parse_setting(setting, text)
        except ConfigError as exc:
            raise LinkControlError(f"faults.options: {exc}") from None
        for direction in DIRECTIONS:
            if not name.startswith(DIRECTIONS) or name.startswith(f"{direction}-"):
                chosen[direction][setting] = value
    configs = {}
    for direction in DIRECTIONS:
        passes = {name: getattr(current[direction], name) for name in PASS_SETTINGS}
        try:
            configs[direction] = dataclasses.replace(FaultConfig(), **chosen[direction], **passes)
        except ConfigError as exc:
            raise LinkControlError(f"faults.options: {direction}: {exc}") from None
    return configs

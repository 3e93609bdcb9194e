"""Managed parameters of the link, shared by both ends, loaded from a TOML file.

Frame formats, virtual channels, COP-1 and SDLS parameters must agree between ground and flight, so
both read the same file. Every table and key is checked: an unknown key or a wrong type is a
ConfigError naming it, never a silent default. Example::

    spacecraft_id = 42
    keys_file = "zenith-keys.json"      # relative to this file; never committed

    [tc]
    cltu = true
    randomize = true
    [[tc.channels]]
    vcid = 0
    farm_window = 10

    [fop]
    window = 5
    t1 = 1.0

    [tm]
    frame_length = 1115

    [[sdls.associations]]
    spi = 1
    key_id = "tc-0"
    virtual_channel_ids = [0]
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from flight.link.errors import ConfigError, LinkError
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls, SecurityAssociation, ServiceType


def _require(checks: dict[str, bool], what: str) -> None:
    """Raise a ConfigError naming every managed parameter that is out of range."""
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ConfigError(f"{what}: {', '.join(bad)} out of range")


@dataclasses.dataclass(frozen=True, slots=True)
class TcChannel:
    vcid: int = 0
    segmented: bool = False  # the VC carries segment headers (MAP IDs)
    farm_window: int = 10  # W: even, 2..254
    farm_buffer: int = 64
    # Set V(R) travels in clear (BC frames carry no SDLS): a forged one would make the ground confirm
    # commands the payload never took. Zenith's ground recovers with Unlock, so it is refused unless
    # a mission says otherwise here.
    accept_set_vr: bool = False

    def __post_init__(self) -> None:
        _require({"vcid (0..63)": 0 <= self.vcid <= 63,
                  "farm_window (even, 2..254)": 2 <= self.farm_window <= 254 and self.farm_window % 2 == 0,
                  "farm_buffer (>= 1)": self.farm_buffer >= 1}, "tc channel")


@dataclasses.dataclass(frozen=True, slots=True)
class TcSettings:
    cltu: bool = True
    randomize: bool = True
    correct_errors: bool = True
    channels: tuple[TcChannel, ...] = (TcChannel(),)

    def __post_init__(self) -> None:
        vcids = [c.vcid for c in self.channels]
        _require({"channels (at least one)": bool(vcids), "channels (distinct vcids)": len(set(vcids)) == len(vcids)},
                 "tc")


@dataclasses.dataclass(frozen=True, slots=True)
class FopSettings:
    vcid: int = 0
    window: int = 3  # K: frames outstanding; at most FARM-1's W/2, enough to cover the round trip
    t1: float = 0.5  # seconds: longer than a round trip plus K frame times on the slowest uplink
    transmission_limit: int = 10
    timeout_type: int = 0  # 0: alert when the limit is reached; 1: suspend
    # After the ground starts and synchronises, it waits this long before sending: a frame of its
    # previous session still on its way must land first, or FARM-1 could take it for a new one.
    start_settle: float = 1.0
    # Packets waiting behind others share a frame, as many as fit (CCSDS 232.0 blocking): a backlog
    # then costs COP-1 a round trip per frame, not per command.
    blocking: bool = True

    def __post_init__(self) -> None:
        _require({"vcid (0..63)": 0 <= self.vcid <= 63, "window (1..255)": 1 <= self.window <= 255,
                  "t1 (> 0)": self.t1 > 0, "transmission_limit (>= 1)": self.transmission_limit >= 1,
                  "timeout_type (0 or 1)": self.timeout_type in (0, 1),
                  "start_settle (>= 0)": self.start_settle >= 0}, "fop")


@dataclasses.dataclass(frozen=True, slots=True)
class TmSettings:
    frame_length: int = 1115
    fecf: bool = True
    ocf: bool = True
    # The downlink's pace (frames per second, idle interval) is the payload's alone: the on-board
    # parameters link.tm_frame_rate and link.tm_frame_interval.

    def __post_init__(self) -> None:
        _require({"frame_length (14..2048)": 14 <= self.frame_length <= 2048}, "tm")


DEFAULT_ASSOCIATION = SecurityAssociation(spi=1, key_id="tc-0", virtual_channel_ids=(0,))


@dataclasses.dataclass(frozen=True, slots=True)
class SdlsSettings:
    # Commanding is authenticated unless a configuration says otherwise, in so many words.
    associations: tuple[SecurityAssociation, ...] = (DEFAULT_ASSOCIATION,)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkConfig:
    spacecraft_id: int = 42
    keys_file: str = ""
    tc: TcSettings = TcSettings()
    fop: FopSettings = FopSettings()
    tm: TmSettings = TmSettings()
    sdls: SdlsSettings = SdlsSettings()

    def __post_init__(self) -> None:
        _require({"spacecraft_id (0..1023)": 0 <= self.spacecraft_id <= 1023}, "link")
        channel = self.channel(self.fop.vcid)
        if channel is None:
            raise ConfigError(f"fop.vcid: virtual channel {self.fop.vcid} is not one of tc.channels")
        if self.fop.window > channel.farm_window // 2:
            # Beyond FARM-1's positive window, one lost frame would put FARM-1 in Lockout.
            raise ConfigError(f"fop.window: K={self.fop.window} exceeds half of FARM-1's window "
                              f"W={channel.farm_window} on virtual channel {channel.vcid}")

    def channel(self, vcid: int) -> TcChannel | None:
        return next((c for c in self.tc.channels if c.vcid == vcid), None)

    def relative_to(self, base: Path) -> LinkConfig:
        """The config with its key file found from ``base`` (the folder of the file it came from)."""
        keys = self.keys_path(base)
        return dataclasses.replace(self, keys_file=str(keys)) if keys else self

    def keys_path(self, base: Path | None = None) -> Path | None:
        if not self.keys_file:
            return None
        path = Path(self.keys_file)
        return path if path.is_absolute() or base is None else base / path


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's tables; a ConfigError naming ``what`` and the file when it cannot be read."""
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid TOML: {exc}") from None


def load_link_config(path: str | Path) -> LinkConfig:
    path = Path(path)
    return from_table(LinkConfig, read_toml(path, "link config"), "").relative_to(path.parent)


def from_table(cls: type, table: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking keys and types against its fields."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'config'}: expected a table")
    hints = typing.get_type_hints(cls)
    settable = [f for f in dataclasses.fields(cls) if f.init]  # a field the class derives is not the file's
    names = {f.name for f in settable}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"{_join(where, unknown[0])}: unknown key (known: {', '.join(sorted(names))})")
    for f in settable:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in table:
            raise ConfigError(f"{_join(where, f.name)}: missing")
    values = {name: _convert(hints[name], table[name], _join(where, name)) for name in table}
    try:
        return cls(**values)
    except (ConfigError, LinkError, ValueError) as exc:
        raise ConfigError(f"{where or 'config'}: {exc}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_table(hint, value, where)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected an array")
        return tuple(_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
            try:
                return _convert(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} has the wrong type")
    if origin is dict:  # a free table (e.g. a command's arguments): its contents are checked where it is used
        return value if isinstance(value, dict) else _fail(where, "table", value)
    if hint is bytes:
        try:
            return bytes.fromhex(value) if isinstance(value, str) else _fail(where, "hex string", value)
        except ValueError:
            raise ConfigError(f"{where}: {value!r} is not hex") from None
    if isinstance(hint, type) and issubclass(hint, ServiceType):
        try:
            return ServiceType(value)
        except ValueError:
            raise ConfigError(f"{where}: one of {', '.join(s.value for s in ServiceType)}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        return _fail(where, hint.__name__, value)
    return value


def _fail(where: str, expected: str, value: Any) -> Any:
    raise ConfigError(f"{where}: expected {expected}, got {type(value).__name__}")


def build_sdls(config: LinkConfig) -> Sdls | None:
    """SDLS for the configured associations, keys from the key file; None when none are configured."""
    if not config.sdls.associations:
        return None
    path = config.keys_path()
    if path is None:
        raise ConfigError("sdls.associations are configured but keys_file is not set")
    return Sdls(list(config.sdls.associations), KeyRing.load(path))

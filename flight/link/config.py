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


@dataclasses.dataclass(frozen=True, slots=True)
class TcChannel:
    vcid: int = 0
    segmented: bool = False  # the VC carries segment headers (MAP IDs)
    farm_window: int = 10
    farm_buffer: int = 64


@dataclasses.dataclass(frozen=True, slots=True)
class TcSettings:
    cltu: bool = True
    randomize: bool = True
    correct_errors: bool = True
    channels: tuple[TcChannel, ...] = (TcChannel(),)


@dataclasses.dataclass(frozen=True, slots=True)
class FopSettings:
    vcid: int = 0
    window: int = 5
    t1: float = 1.0
    transmission_limit: int = 10
    timeout_type: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class TmSettings:
    frame_length: int = 1115
    fecf: bool = True
    ocf: bool = True
    frame_interval: float = 0.05  # seconds between frames when idle: keeps the CLCW fresh


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

    def channel(self, vcid: int) -> TcChannel | None:
        return next((c for c in self.tc.channels if c.vcid == vcid), None)

    def keys_path(self, base: Path | None = None) -> Path | None:
        if not self.keys_file:
            return None
        path = Path(self.keys_file)
        return path if path.is_absolute() or base is None else base / path


def load_link_config(path: str | Path) -> LinkConfig:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read link config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"link config {path} is not valid TOML: {exc}") from None
    config = from_table(LinkConfig, doc, "")
    keys = config.keys_path(path.parent)
    return dataclasses.replace(config, keys_file=str(keys)) if keys else config


def from_table(cls: type, table: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a TOML table, checking keys and types against its fields."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where or 'config'}: expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - names)
    if unknown:
        raise ConfigError(f"{_join(where, unknown[0])}: unknown key (known: {', '.join(sorted(names))})")
    for f in dataclasses.fields(cls):
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

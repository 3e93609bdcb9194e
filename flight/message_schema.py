"""Typed msgpack messages between our own processes: ``{"kind": ..., fields}``, checked on arrival.

The worker protocol, the bench's fault requests and the bus simulator's state all travel this way,
and each receiver reads them as it reads anything from outside its own process: size-limited, the
kind one it knows, every field present with its type (a bool is not an int; an int passes for a
float) and within what it is stored as (u32 counts, f32 values, SQLite integers). Anything else is
a typed error naming the field, to be counted and dropped. No torch here.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack

from flight.link.errors import ZenithError

U32 = 1 << 32
MAX_WIDE = 1 << 62  # far beyond any device's bytes or any nanosecond clock, and inside SQLite's signed integers
WIDE = ("memory", "scrubbed_bytes", "seq")  # the integers that may pass 32 bits
F32_MAX = 3.4028234663852886e38

Protocol = dict[str, dict[str, type | tuple[type, ...]]]


class MessageError(ZenithError):
    """A message that is not what its protocol says."""


def pack(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"kind": kind, **fields}, use_bin_type=True)


def checked(raw: bytes, protocol: Protocol, what: str, limit: int,
            error: type[MessageError] = MessageError) -> tuple[str, dict[str, Any]]:
    """A msgpack map ``{"kind": ..., fields}`` of at most ``limit`` octets whose kind is in ``protocol``
    and whose fields have its types and fit their ranges; only those fields are returned. Anything
    else raises ``error``, naming the field."""
    message = _map(raw, limit, error)
    kind = message.pop("kind", None)
    if not isinstance(kind, str) or kind not in protocol:  # a list or map as the kind is not hashable
        raise error(f"unknown {what} {kind!r}")
    for name, wanted in protocol[kind].items():
        value = message.get(name)
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            message[name] = value = float(value)
        if not isinstance(value, wanted) or isinstance(value, bool) and wanted is not bool:
            raise error(f"{kind}.{name}: {type(value).__name__}, expected {wanted}")
        _check_range(kind, name, value, error)
    return kind, {name: message[name] for name in protocol[kind]}  # only the protocol's fields go on


def _check_range(kind: str, name: str, value: Any, error: type[MessageError]) -> None:
    """Values must fit where they go: u32 steps and ids in events and records, f32 losses, SQLite integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        high = MAX_WIDE if name in WIDE else U32
        if not 0 <= value < high:
            raise error(f"{kind}.{name}: {value} out of [0, {high})")
    elif isinstance(value, float) and math.isfinite(value) and abs(value) > F32_MAX:
        raise error(f"{kind}.{name}: {value} does not fit an f32")  # NaN and inf mean "none"
    elif isinstance(value, list) and not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < U32
                                             for i in value):
        raise error(f"{kind}.{name}: not a list of u32 integers (token ids, an element and a bit)")


def _map(raw: bytes, limit: int, error: type[MessageError]) -> dict[str, Any]:
    if len(raw) > limit:
        raise error(f"{len(raw)} octets, at most {limit}")
    try:
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise error(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
        raise error("not a map with string keys")
    return message

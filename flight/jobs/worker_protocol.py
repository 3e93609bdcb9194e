"""Messages between the supervisor and its job workers: msgpack maps over a ZMQ DEALER/ROUTER pair.

Each message is ``{"kind": ..., ...fields}``. The supervisor reads what a worker sends as it reads
anything from outside its own process: size-limited, type-checked, and a bad message is counted and
dropped, never trusted. No torch here: the supervisor imports this module.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack

from flight.link.errors import ZenithError

MAX_MESSAGE = 64 * 1024
U32 = 1 << 32
MAX_WIDE = 1 << 62  # far beyond any device's bytes or any nanosecond clock, and inside SQLite's signed integers
WIDE = ("memory", "scrubbed_bytes", "seq")  # the integers that may pass 32 bits
F32_MAX = 3.4028234663852886e38  # a sample of text or an inference result; longer output goes as a file

# What a worker sends, and the fields each must carry (with their types).
FROM_WORKER: dict[str, dict[str, type | tuple[type, ...]]] = {
    "hello": {"device": str, "step": int},
    "heartbeat": {},
    "progress": {"step": int, "loss": float, "tokens_per_s": float, "lr": float, "memory": int},
    "eval": {"step": int, "train_loss": float, "val_loss": float},
    "sample": {"step": int, "text": str},
    "checkpoint": {"step": int, "path": str, "write_s": float},
    "checkpoint_rejected": {"path": str, "reason": str},
    "checkpoint_failed": {"reason": str},
    "resumed": {"step": int, "path": str},
    "paused": {"step": int},
    "output": {"text": str, "ids": list, "ttft_s": float, "tokens_per_s": float},
    "done": {"step": int, "loss": float, "val_loss": float, "tokens_per_s": float, "checkpoint": str},
    "failed": {"reason": str, "device_error": bool},
    # upset protection (flight/seu): one "upset" per damaged block or guard trip, and running totals
    "upset": {"step": int, "target": str, "block": int, "action": str, "lost_steps": int},
    "protection": {"scrubbed_bytes": int, "detections": int, "rollbacks": int, "lost_steps": int, "repairs": int},
    # a bench-injected upset (``hil seu inject``), where it landed
    "injected": {"step": int, "target": str, "element": int, "bit": int},
    "inject_refused": {"reason": str},
}
# What the supervisor sends. "inject" flips a bit at the next step boundary: ``target`` is a class of
# tensor (param, optim, any, weights) or one tensor's name, ``bits`` a bit class, ``at`` [] for a
# random element and bit or [element, bit]. "checkpoint_period" is Young/Daly's interval in seconds.
TO_WORKER: dict[str, dict[str, type | tuple[type, ...]]] = {
    "pause": {}, "resume": {}, "stop": {}, "scrub": {},
    "inject": {"target": str, "bits": str, "seed": int, "at": list},
    "checkpoint_period": {"seconds": float},
}


class WorkerMessageError(ZenithError):
    """A worker message that is not what the protocol says."""


def pack(kind: str, **fields: Any) -> bytes:
    return msgpack.packb({"kind": kind, **fields}, use_bin_type=True)


def unpack_from_worker(raw: bytes) -> tuple[str, dict[str, Any]]:
    """A worker's message, checked; WorkerMessageError for anything else."""
    return checked(raw, FROM_WORKER, "message kind")


def unpack_to_worker(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The supervisor's command to a worker, checked the same way."""
    return checked(raw, TO_WORKER, "command for a worker")


def checked(raw: bytes, protocol: dict[str, dict[str, type | tuple[type, ...]]],
            what: str) -> tuple[str, dict[str, Any]]:
    """A msgpack map ``{"kind": ..., fields}`` whose kind is in ``protocol`` and whose fields have its
    types and fit their ranges; only those fields are returned."""
    message = _map(raw)
    kind = message.pop("kind", None)
    if kind not in protocol:
        raise WorkerMessageError(f"unknown {what} {kind!r}")
    for name, wanted in protocol[kind].items():
        value = message.get(name)
        if wanted is float and isinstance(value, int) and not isinstance(value, bool):
            message[name] = value = float(value)
        if not isinstance(value, wanted) or isinstance(value, bool) and wanted is not bool:
            raise WorkerMessageError(f"{kind}.{name}: {type(value).__name__}, expected {wanted}")
        _check_range(kind, name, value)
    return kind, {name: message[name] for name in protocol[kind]}  # only the protocol's fields go on


def _check_range(kind: str, name: str, value: Any) -> None:
    """Values must fit where they go: u32 steps and ids in events and records, f32 losses, SQLite integers."""
    if isinstance(value, int) and not isinstance(value, bool):
        high = MAX_WIDE if name in WIDE else U32
        if not 0 <= value < high:
            raise WorkerMessageError(f"{kind}.{name}: {value} out of [0, {high})")
    elif isinstance(value, float) and math.isfinite(value) and abs(value) > F32_MAX:
        raise WorkerMessageError(f"{kind}.{name}: {value} does not fit an f32")  # NaN and inf mean "none"
    elif isinstance(value, list) and not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < U32
                                             for i in value):
        raise WorkerMessageError(f"{kind}.{name}: not a list of u32 integers (token ids, an element and a bit)")


def _map(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE:
        raise WorkerMessageError(f"{len(raw)} octets, at most {MAX_MESSAGE}")
    try:
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise WorkerMessageError(f"not msgpack: {type(exc).__name__}") from None
    if not isinstance(message, dict) or not all(isinstance(k, str) for k in message):
        raise WorkerMessageError("not a map with string keys")
    return message

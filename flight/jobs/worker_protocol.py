"""Messages between the supervisor and its job workers: msgpack maps over a ZMQ DEALER/ROUTER pair.

Each message is ``{"kind": ..., ...fields}``. The supervisor reads what a worker sends as it reads
anything from outside its own process: size-limited, type-checked, and a bad message is counted and
dropped, never trusted. No torch here: the supervisor imports this module.
"""

from __future__ import annotations

from typing import Any

from flight.message_schema import MessageError, Protocol, checked, pack

__all__ = ["FROM_WORKER", "MAX_MESSAGE", "TO_WORKER", "WorkerMessageError", "pack", "unpack_from_worker",
           "unpack_to_worker"]

MAX_MESSAGE = 64 * 1024  # a sample of text or an inference result; longer output goes as a file

# What a worker sends, and the fields each must carry (with their types).
FROM_WORKER: Protocol = {
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
TO_WORKER: Protocol = {
    "pause": {}, "resume": {}, "stop": {}, "scrub": {},
    "inject": {"target": str, "bits": str, "seed": int, "at": list},
    "checkpoint_period": {"seconds": float},
    "duty": {"duty": float},  # the power governor's duty cycle: the job pauses between steps for the rest
}


class WorkerMessageError(MessageError):
    """A worker message that is not what the protocol says."""


def unpack_from_worker(raw: bytes) -> tuple[str, dict[str, Any]]:
    """A worker's message, checked; WorkerMessageError for anything else."""
    return checked(raw, FROM_WORKER, "message kind", MAX_MESSAGE, WorkerMessageError)


def unpack_to_worker(raw: bytes) -> tuple[str, dict[str, Any]]:
    """The supervisor's command to a worker, checked the same way."""
    return checked(raw, TO_WORKER, "command for a worker", MAX_MESSAGE, WorkerMessageError)

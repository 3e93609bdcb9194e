"""The bench's fault requests to the supervisor: what they hold, how they are signed, how they are checked.

Test-only, and off unless the mission file names a key: a bench holding the key can flip bits in a
running job, corrupt a checkpoint file or count ECC errors in the simulated GPU. No one else can, so a
request carries an HMAC-SHA256 under that key, and a sequence number that must grow, so that a request
heard once cannot be played again (the last accepted one is kept in the state database, across
restarts). The client uses the clock in nanoseconds as its sequence.

Wire: a msgpack array ``[body, mac]`` of two byte strings; ``body`` is a msgpack map ``{"kind": ...,
"seq": ..., fields}``. The MAC is checked before the body is even parsed: nothing unauthenticated
reaches the decoder. The reply is a msgpack map ``{"ok": bool, "reason": str, "detail": str}``.
No torch here: the supervisor imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from flight.link.errors import ZenithError
from flight.message_schema import MessageError, Protocol, checked
from flight.seu.bit_class import BIT_CLASSES

KEY_ID = "bench"  # the key's name in its key file (the SDLS key file's format)
MAX_REQUEST = 4096

FAULTS: Protocol = {
    # errors the simulated GPU counts (xid 0: none)
    "ecc": {"seq": int, "corrected": int, "uncorrected": int, "xid": int},
    # one bit of a running job's memory: target param, optim, weights, any or a tensor's name;
    # at = [] for a seeded random element and bit, or [element, bit]
    "flip": {"seq": int, "job": int, "target": str, "bits": str, "seed": int, "at": list},
    # one bit of the job's newest checkpoint file, at a seeded random place
    "checkpoint": {"seq": int, "job": int, "seed": int},
}
REASONS = ("malformed", "unauthenticated", "replayed", "invalid", "refused")


class FaultRequestError(ZenithError):
    """A request the supervisor will not carry out; ``reason`` is one of REASONS (the counter it bumps)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class FaultRequest:
    kind: str
    seq: int
    fields: dict[str, Any]


def _mac(key: bytes) -> hmac.HMAC:
    return hmac.HMAC(key, hashes.SHA256())


def seal(key: bytes, kind: str, seq: int, **fields: Any) -> bytes:
    """A signed request (the bench's side)."""
    body = msgpack.packb({"kind": kind, "seq": seq, **fields}, use_bin_type=True)
    mac = _mac(key)
    mac.update(body)
    return msgpack.packb([body, mac.finalize()], use_bin_type=True)


def open_request(key: bytes, raw: bytes, last_seq: int) -> FaultRequest:
    """The request in ``raw`` if it is signed with ``key``, newer than ``last_seq`` and well formed."""
    if len(raw) > MAX_REQUEST:
        raise FaultRequestError("malformed", f"{len(raw)} octets, at most {MAX_REQUEST}")
    try:
        outer = msgpack.unpackb(raw, raw=False)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise FaultRequestError("malformed", f"not msgpack: {type(exc).__name__}") from None
    if not (isinstance(outer, list) and len(outer) == 2 and all(isinstance(part, bytes) for part in outer)):
        raise FaultRequestError("malformed", "not [body, mac] as two byte strings")
    body, tag = outer
    mac = _mac(key)
    mac.update(body)
    try:
        mac.verify(tag)  # constant time
    except InvalidSignature:
        raise FaultRequestError("unauthenticated", "the MAC does not match the bench key") from None
    try:
        kind, fields = checked(body, FAULTS, "fault kind", MAX_REQUEST)
    except MessageError as exc:
        raise FaultRequestError("invalid", str(exc)) from None
    seq = fields.pop("seq")
    if seq <= last_seq:
        raise FaultRequestError("replayed", f"sequence {seq} is not after {last_seq}")
    if "bits" in fields and fields["bits"] not in BIT_CLASSES:
        raise FaultRequestError("invalid", f"bits {fields['bits']!r}: one of {', '.join(BIT_CLASSES)}")
    if "at" in fields and len(fields["at"]) not in (0, 2):
        raise FaultRequestError("invalid", "at: [] (random) or [element, bit]")
    return FaultRequest(kind, seq, fields)


def reply(ok: bool, reason: str = "", detail: str = "") -> bytes:
    return msgpack.packb({"ok": ok, "reason": reason, "detail": detail}, use_bin_type=True)

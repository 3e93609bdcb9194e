"""Power anomalies the bench injects into the running bus simulator: part of the array lost, a load
stuck on. Typed msgpack on the bus's control port (base + 10); a message that is not one is a
:class:`~flight.power.bus_message.BusMessageError`, counted and dropped by the bus. The bus is the
bench's own model of the spacecraft, so this port takes no key, and binds where the bench does."""

from __future__ import annotations

from dataclasses import dataclass

from flight.message_schema import checked, pack
from flight.power.bus_message import BusMessageError

MAX_MESSAGE = 256
PROTOCOL = {"anomaly": {"array_share": float, "extra_load_w": float}}


@dataclass(frozen=True)
class Anomaly:
    array_share: float = 1.0  # of the array still working
    extra_load_w: float = 0.0  # a load stuck on, on top of the bus's own

    def __post_init__(self) -> None:
        if not 0 <= self.array_share <= 1:
            raise BusMessageError(f"anomaly.array_share: {self.array_share} is not in [0, 1]")
        if not 0 <= self.extra_load_w <= 10_000:
            raise BusMessageError(f"anomaly.extra_load_w: {self.extra_load_w} W is not in [0, 10000]")


def pack_anomaly(anomaly: Anomaly) -> bytes:
    return pack("anomaly", array_share=anomaly.array_share, extra_load_w=anomaly.extra_load_w)


def unpack_anomaly(raw: bytes) -> Anomaly:
    _, fields = checked(raw, PROTOCOL, "bus control message", MAX_MESSAGE, BusMessageError)
    return Anomaly(**fields)  # NaN fails both range checks

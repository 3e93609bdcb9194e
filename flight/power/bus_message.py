"""The payload's interface to the spacecraft bus: the bus's state in, the payload's power draw out.

On the bench the bus is ``hil bus`` (base port + 8 carries its state, + 9 the draw back); in flight it
would be the spacecraft's EPS. Both directions are typed msgpack maps
(:mod:`flight.message_schema`), and the state is also checked for sense (a state of charge in
[0, 1], finite powers, an eclipse that ends after it begins), because the governor acts on it: a
message that fails is counted and dropped, and the governor keeps the last good state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from flight.message_schema import MessageError, Protocol, checked, pack
from flight.power.governor import BusState

MAX_MESSAGE = 2048
STATE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "time": float, "sunlit_fraction": float, "shed": bool, "soc": float, "capacity_wh": float, "array_w": float,
    "sunlit_array_w": float, "bus_load_w": float, "in_eclipse": bool, "eclipse_entry_s": float,
    "eclipse_exit_s": float, "gpu_temp_c": float, "charge_efficiency": float, "discharge_efficiency": float,
    "max_charge_w": float, "allocation_w": float, "plate_c": float, "radiator_c": float,
}
FROM_BUS: Protocol = {"state": STATE_FIELDS}
TO_BUS: Protocol = {"draw": {"payload_w": float, "cap_w": float, "duty": float, "running": bool}}


class BusMessageError(MessageError):
    """A bus message that is malformed, or a state that makes no sense."""


@dataclass(frozen=True)
class BusReport:
    time: float  # the bus's clock (mission time, UNIX seconds)
    sunlit_fraction: float
    shed: bool  # the EPS has cut the payload off
    state: BusState  # what the governor plans with
    plate_c: float  # the payload's cold plate
    radiator_c: float


def pack_state(report: BusReport) -> bytes:
    return pack("state", time=report.time, sunlit_fraction=report.sunlit_fraction, shed=report.shed,
                plate_c=report.plate_c, radiator_c=report.radiator_c, **asdict(report.state))


def unpack_state(raw: bytes) -> BusReport:
    _, fields = checked(raw, FROM_BUS, "bus message", MAX_MESSAGE, BusMessageError)
    floats = {name: value for name, value in fields.items() if isinstance(value, float)}
    bad = next((name for name, value in floats.items() if not math.isfinite(value)), None)
    if bad is not None:
        raise BusMessageError(f"state.{bad}: {floats[bad]} is not a number")
    sense = {
        "soc": 0 <= fields["soc"] <= 1, "sunlit_fraction": 0 <= fields["sunlit_fraction"] <= 1,
        "capacity_wh": fields["capacity_wh"] > 0, "charge_efficiency": 0 < fields["charge_efficiency"] <= 1,
        "discharge_efficiency": 0 < fields["discharge_efficiency"] <= 1,
        "eclipse_entry_s": 0 <= fields["eclipse_entry_s"] <= fields["eclipse_exit_s"],
        **{name: fields[name] >= 0 for name in ("array_w", "sunlit_array_w", "bus_load_w", "max_charge_w",
                                                "allocation_w")},
        **{name: fields[name] > -273.15 for name in ("gpu_temp_c", "plate_c", "radiator_c")},
    }
    wrong = next((name for name, ok in sense.items() if not ok), None)
    if wrong is not None:
        raise BusMessageError(f"state.{wrong}: {fields[wrong]} makes no sense")
    head = {name: fields.pop(name) for name in ("time", "sunlit_fraction", "shed", "plate_c", "radiator_c")}
    return BusReport(state=BusState(**fields), **head)


def pack_draw(payload_w: float, cap_w: float, duty: float, running: bool) -> bytes:
    return pack("draw", payload_w=payload_w, cap_w=cap_w, duty=duty, running=running)


def unpack_draw(raw: bytes) -> dict[str, float | bool]:
    _, fields = checked(raw, TO_BUS, "payload message", MAX_MESSAGE, BusMessageError)
    if not (math.isfinite(fields["payload_w"]) and 0 <= fields["payload_w"] <= 1e5):
        raise BusMessageError(f"draw.payload_w: {fields['payload_w']} is not a power the payload can draw")
    return fields

"""The bus interface's messages: the state round-trips, senseless or malformed ones are typed errors."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.message_schema import MessageError
from flight.power.bus_message import (
    STATE_FIELDS,
    BusMessageError,
    BusReport,
    pack_draw,
    pack_state,
    unpack_draw,
    unpack_state,
)
from flight.power.governor import BusState

STATE = BusState(soc=0.7, capacity_wh=400.0, array_w=0.0, sunlit_array_w=2400.0, bus_load_w=250.0, in_eclipse=True,
                 eclipse_entry_s=0.0, eclipse_exit_s=1200.0, gpu_temp_c=41.5)
REPORT = BusReport(time=1.77e9, sunlit_fraction=0.0, shed=False, state=STATE, plate_c=30.5, radiator_c=-12.0)


def fields() -> dict[str, Any]:
    return msgpack.unpackb(pack_state(REPORT))


def test_a_state_round_trips() -> None:
    assert unpack_state(pack_state(REPORT)) == REPORT
    assert set(fields()) == {"kind", *STATE_FIELDS}


@pytest.mark.parametrize(("name", "value"), [
    ("soc", 1.5), ("soc", -0.1), ("capacity_wh", 0.0), ("charge_efficiency", 0.0), ("sunlit_fraction", 2.0),
    ("eclipse_entry_s", 2000.0), ("array_w", -5.0), ("gpu_temp_c", math.nan), ("bus_load_w", math.inf),
    ("allocation_w", -1.0), ("radiator_c", -300.0), ("plate_c", math.inf),
])
def test_a_state_that_makes_no_sense_is_refused_naming_the_field(name: str, value: float) -> None:
    raw = msgpack.packb({**fields(), name: value})
    with pytest.raises(BusMessageError, match=f"state.{name}"):
        unpack_state(raw)


def test_a_wrongly_typed_or_missing_field_is_refused() -> None:
    with pytest.raises(BusMessageError, match="state.in_eclipse"):
        unpack_state(msgpack.packb({**fields(), "in_eclipse": 1}))
    partial = fields()
    del partial["soc"]
    with pytest.raises(BusMessageError, match="state.soc"):
        unpack_state(msgpack.packb(partial))


def test_the_draw_round_trips_and_an_impossible_one_is_refused() -> None:
    assert unpack_draw(pack_draw(455.0, 600.0, 0.75, True)) == {"payload_w": 455.0, "cap_w": 600.0, "duty": 0.75,
                                                                 "running": True}
    for bad in (-1.0, math.nan, 1e9):
        with pytest.raises(BusMessageError, match="draw.payload_w"):
            unpack_draw(pack_draw(bad, 0.0, 0.0, False))


def test_errors_are_message_errors() -> None:
    assert issubclass(BusMessageError, MessageError)


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=600))
def test_arbitrary_bytes_raise_nothing_but_a_bus_message_error(raw: bytes) -> None:
    for unpack in (unpack_state, unpack_draw):
        with contextlib.suppress(BusMessageError):
            unpack(raw)


@settings(max_examples=300, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(sorted(STATE_FIELDS)), st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
                               | st.floats() | st.text(max_size=4), max_size=4))
def test_any_edit_of_a_state_is_read_as_a_sensible_state_or_refused(changes: dict[str, Any]) -> None:
    try:
        report = unpack_state(msgpack.packb({**fields(), **changes}))
    except BusMessageError:
        return
    state = report.state
    assert 0 <= state.soc <= 1 and state.capacity_wh > 0 and 0 <= state.eclipse_entry_s <= state.eclipse_exit_s
    assert all(math.isfinite(getattr(state, name)) for name in ("array_w", "bus_load_w", "gpu_temp_c", "max_charge_w"))

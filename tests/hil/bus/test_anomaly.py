"""The bench's power anomalies: they round-trip, and anything else is a typed refusal."""

from __future__ import annotations

import math

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.power.bus_message import BusMessageError
from hil.bus.anomaly import Anomaly, pack_anomaly, unpack_anomaly


def test_an_anomaly_round_trips() -> None:
    assert unpack_anomaly(pack_anomaly(Anomaly(0.5, 150.0))) == Anomaly(0.5, 150.0)


@pytest.mark.parametrize(("share", "load"), [(1.5, 0.0), (-0.1, 0.0), (math.nan, 0.0), (1.0, -5.0), (1.0, 1e6),
                                             (1.0, math.inf)])
def test_an_anomaly_out_of_range_is_refused(share: float, load: float) -> None:
    raw = msgpack.packb({"kind": "anomaly", "array_share": share, "extra_load_w": load})
    with pytest.raises(BusMessageError, match="anomaly"):
        unpack_anomaly(raw)


@given(st.binary(max_size=300))
def test_garbage_is_a_bus_message_error(raw: bytes) -> None:
    try:
        unpack_anomaly(raw)
    except BusMessageError:
        return

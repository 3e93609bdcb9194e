"""The link's control messages: decoded strictly, applied over no faults, pass windows kept."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.link.control import LinkControlError, pack_faults, reconfigured, unpack_faults
from hil.link.faults import FaultConfig

PASSES = FaultConfig(passes=((10.0, 20.0),), loss=0.5)


def test_a_preset_and_a_one_direction_override() -> None:
    configs = reconfigured(unpack_faults(pack_faults({"up-loss": "0.3", "loss": "0.1", "delay": "0.2"})),
                           {"up": PASSES, "down": FaultConfig()})
    assert configs["up"].loss == 0.3 and configs["down"].loss == 0.1  # the direction's option wins
    assert configs["up"].delay == configs["down"].delay == 0.2
    assert configs["up"].passes == ((10.0, 20.0),) and configs["down"].passes == ()


def test_options_left_out_go_back_to_no_fault() -> None:
    assert reconfigured({}, {"up": PASSES, "down": PASSES})["up"] == FaultConfig(passes=((10.0, 20.0),))


@pytest.mark.parametrize(("options", "says"), [
    ({"warp": "9"}, "no fault option --warp"),
    ({"loss": "1.5"}, "loss"),
    ({"up-jitter": "soon"}, "jitter"),
    ({"pass": "0:10"}, "the orbit's"),
    ({"down-pass-period": "30"}, "the orbit's"),
])
def test_bad_options_are_named(options: dict[str, str], says: str) -> None:
    with pytest.raises(LinkControlError, match=says):
        reconfigured(options, {"up": FaultConfig(), "down": FaultConfig()})


def test_options_must_be_text() -> None:
    with pytest.raises(LinkControlError, match="text"):
        unpack_faults(pack_faults({"loss": 0.5}))  # type: ignore[dict-item]


@given(st.binary(max_size=300))
def test_garbage_is_a_typed_rejection(raw: bytes) -> None:
    try:
        options = unpack_faults(raw)
    except LinkControlError:
        return
    with contextlib.suppress(LinkControlError):
        reconfigured(options, {"up": FaultConfig(), "down": FaultConfig()})

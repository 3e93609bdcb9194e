from __future__ import annotations

import pytest
import torch

from flight.seu.bitflip import flip_bit
from flight.seu.host_shadow import HostShadow


def test_a_shadow_restores_the_tensors_in_place_and_the_rng() -> None:
    live = {"w": torch.randn(100), "m": torch.zeros(5)}
    kept = {name: t.clone() for name, t in live.items()}
    objects = {name: t.data_ptr() for name, t in live.items()}
    shadow = HostShadow()
    assert not shadow.held and not shadow.intact()
    shadow.take(7, live)
    draws = torch.rand(3)
    live["w"].mul_(2)
    flip_bit(live["m"], 1, 30)
    assert shadow.intact() and shadow.restore(live) == 7
    assert all(torch.equal(live[n], kept[n]) and live[n].data_ptr() == objects[n] for n in live)
    assert torch.equal(torch.rand(3), draws)  # the replay draws what the first run drew


def test_an_upset_in_the_shadow_itself_is_seen() -> None:
    live = {"w": torch.randn(100)}
    shadow = HostShadow()
    shadow.take(1, live)
    flip_bit(shadow._buffers["w"], 3, 2)
    assert not shadow.intact()


def test_buffers_are_reused_and_a_shadow_of_other_tensors_is_refused() -> None:
    live = {"w": torch.randn(10)}
    shadow = HostShadow()
    shadow.take(1, live)
    buffer = shadow._buffers["w"].data_ptr()
    shadow.take(2, live)
    assert shadow._buffers["w"].data_ptr() == buffer and shadow.step == 2
    with pytest.raises(ValueError, match="does not hold"):
        shadow.restore({"other": torch.zeros(10)})

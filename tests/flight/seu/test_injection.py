"""The bench's upsets in a job's tensors: a class or a tensor, a bit class, seeded or chosen; refusals named."""

from __future__ import annotations

import pytest
import torch

from flight.seu.bitflip import BitClass, bits_of
from flight.seu.injection import InjectionRefused, inject


def tensors() -> dict[str, torch.Tensor]:
    return {"param.wte.weight": torch.zeros(64, 8), "param.ln.bias": torch.zeros(8),
            "optim.wte.weight.exp_avg": torch.zeros(64, 8), "optim.wte.weight.step": torch.zeros((), dtype=torch.int64)}


def words(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.reshape(-1).view(torch.int32 if tensor.dtype == torch.float32 else torch.int64)


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[tuple[str, int]]:
    """Elements whose bits differ (-0.0 == 0.0, so values would miss a sign flip)."""
    return [(name, int(i)) for name in before
            for i in torch.nonzero(words(before[name]) != words(after[name])).flatten()]


@pytest.mark.parametrize("target", ["param", "optim", "any"])
@pytest.mark.parametrize("bits", ["sign", "exponent", "mantissa", "any"])
def test_a_seeded_flip_lands_in_the_class_asked_and_changes_exactly_that_bit(target: str, bits: str) -> None:
    live, before = tensors(), tensors()
    flip = inject(live, target, bits, seed=11, at=[])
    assert target == "any" or flip.tensor.startswith(target + ".")
    assert changed(before, live) == [(flip.tensor, flip.element)]
    tensor = live[flip.tensor]
    assert flip.bit in bits_of(tensor.dtype, BitClass(bits))
    assert int(words(tensor)[flip.element]) & (1 << flip.bit) != 0  # the tensors were all zero bits: the flipped one is set
    again = tensors()
    assert inject(again, target, bits, seed=11, at=[]) == flip  # the same seed, the same upset


def test_an_exponent_flip_never_picks_an_integer_tensor() -> None:
    for seed in range(50):
        assert not inject(tensors(), "optim", "exponent", seed, []).tensor.endswith(".step")


def test_a_chosen_bit_of_a_named_tensor() -> None:
    live = tensors()
    flip = inject(live, "param.wte.weight", "exponent", seed=0, at=[17, 30])
    assert (flip.tensor, flip.element, flip.bit) == ("param.wte.weight", 17, 30)
    assert live["param.wte.weight"].reshape(-1)[17] == 2.0  # 0x40000000


@pytest.mark.parametrize(("target", "bits", "at", "message"), [
    ("param.nope", "any", [], "no such tensor or class"),
    ("weights.x", "any", [], "no such tensor or class"),
    ("param", "exponential", [], "bits 'exponential'"),
    ("optim.wte.weight.step", "exponent", [], "has exponent bits"),
    ("param", "any", [0, 1], "one tensor by name"),
    ("param.ln.bias", "any", [3], "one tensor by name"),
    ("param.ln.bias", "exponent", [3, 2], "not a exponent bit"),
    ("param.ln.bias", "any", [8, 0], "has 8"),
])
def test_what_a_job_cannot_do_is_refused_naming_why(target: str, bits: str, at: list[int], message: str) -> None:
    live, before = tensors(), tensors()
    with pytest.raises(InjectionRefused, match=message):
        inject(live, target, bits, seed=1, at=at)
    assert changed(before, live) == []

"""A bench-injected upset in a running job: which tensor, which element, which bit (``hil seu inject``).

The bench names a target: a class of tensor (``param`` or ``optim`` in training, ``weights`` in
inference, ``any`` for all of them) or one tensor by name, and a bit class. Within a class the
element is drawn in proportion to tensor size, as a particle would hit, from a seeded generator, so
an injection can be replayed; ``at`` = [element, bit] chooses the bit instead. Only tensors that have
bits of the asked class are candidates: an int8 quantized weight has no exponent.
"""

from __future__ import annotations

import random

import torch

from flight.seu.bit_class import BIT_CLASSES, BitClass
from flight.seu.bitflip import Flip, apply, bits_of, random_flip
from flight.seu.training_state import tensor_class

CLASSES = ("any", "param", "optim", "weights")


class InjectionRefused(ValueError):
    """An injection that names nothing in this job, or a bit the tensor does not have."""


def inject(tensors: dict[str, torch.Tensor], target: str, bits: str, seed: int, at: list[int]) -> Flip:
    """Flip one bit as asked, in place; the flip made."""
    try:
        bit_class = BitClass(bits)
    except ValueError:
        raise InjectionRefused(f"bits {bits!r}: one of {', '.join(BIT_CLASSES)}") from None
    chosen = _targets(tensors, target)
    if at:
        return _chosen(chosen, target, bit_class, at)
    candidates = {name: t for name, t in chosen.items() if _has_bits(t, bit_class) and t.numel() > 0}
    if not candidates:
        raise InjectionRefused(f"no tensor in {target!r} has {bit_class.value} bits")
    flip = random_flip(random.Random(seed), candidates, bit_class)
    apply(flip, tensors)
    return flip


def _targets(tensors: dict[str, torch.Tensor], target: str) -> dict[str, torch.Tensor]:
    if target in ("any", "weights"):
        return tensors
    if target in CLASSES:
        found = {name: t for name, t in tensors.items() if tensor_class(name) == target}
    else:
        found = {target: tensors[target]} if target in tensors else {}
    if not found:
        raise InjectionRefused(f"target {target!r}: no such tensor or class in this job "
                               f"(classes: {', '.join(CLASSES)})")
    return found


def _chosen(chosen: dict[str, torch.Tensor], target: str, bit_class: BitClass, at: list[int]) -> Flip:
    if len(chosen) != 1 or len(at) != 2:
        raise InjectionRefused("a chosen bit needs one tensor by name and at = [element, bit]")
    (name, tensor), (element, bit) = next(iter(chosen.items())), at
    if not _has_bits(tensor, bit_class) or bit not in bits_of(tensor.dtype, bit_class):
        raise InjectionRefused(f"bit {bit} of {target} ({tensor.dtype}) is not a {bit_class.value} bit")
    if element >= tensor.numel():
        raise InjectionRefused(f"element {element}: {target} has {tensor.numel()}")
    flip = Flip(name, element, bit, tensor.element_size())
    apply(flip, chosen)
    return flip


def _has_bits(tensor: torch.Tensor, bit_class: BitClass) -> bool:
    try:
        bits_of(tensor.dtype, bit_class)
    except ValueError:
        return False
    return True

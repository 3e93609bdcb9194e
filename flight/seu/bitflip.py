"""Flipping one bit of a tensor in place: the upset the bench injects (``hil seu``) and the tests use.

Which bit matters. In an IEEE float a flipped high exponent bit turns a weight of 0.01 into about
1e36, which wrecks a model in one step; a low mantissa bit changes it by one part in ten million.
So an injection can be uniform over the bits, or aimed at a class of them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from flight.seu.bit_class import BitClass
from flight.seu.block_checksum import BLOCK_BYTES

__all__ = ["BitClass", "Flip", "apply", "bits_of", "flip_bit", "random_flip"]


# (total bits, exponent bits) of the floating types a model holds
_FLOAT_LAYOUT = {torch.float32: (32, 8), torch.float16: (16, 5), torch.bfloat16: (16, 8), torch.float64: (64, 11)}
_SAME_WIDTH_INT = {8: torch.uint8, 16: torch.int16, 32: torch.int32, 64: torch.int64}


def bits_of(dtype: torch.dtype, bit_class: BitClass) -> range:
    """The bit positions (0 = least significant) of one element that belong to a class."""
    width = torch.empty((), dtype=dtype).element_size() * 8
    if bit_class is BitClass.ANY:
        return range(width)
    if dtype not in _FLOAT_LAYOUT:
        raise ValueError(f"{bit_class.value} bits are a floating-point idea; {dtype} has none")
    _, exponent = _FLOAT_LAYOUT[dtype]
    mantissa = width - 1 - exponent
    return {BitClass.SIGN: range(width - 1, width), BitClass.EXPONENT: range(mantissa, width - 1),
            BitClass.MANTISSA: range(mantissa)}[bit_class]


@dataclass(frozen=True)
class Flip:
    tensor: str
    element: int
    bit: int
    itemsize: int

    @property
    def block(self) -> int:
        """The checksum block holding the flipped bit."""
        return self.element * self.itemsize // BLOCK_BYTES


def flip_bit(tensor: torch.Tensor, element: int, bit: int) -> None:
    """Invert one bit of one element, in place, wherever the tensor lives."""
    width = tensor.element_size() * 8
    if not 0 <= element < tensor.numel() or not 0 <= bit < width:
        raise ValueError(f"element {element} bit {bit} is outside a tensor of {tensor.numel()} × {width} bits")
    words = tensor.detach().reshape(-1).view(_SAME_WIDTH_INT[width])
    mask = 1 << bit
    if words.dtype.is_signed and bit == width - 1:
        mask -= 1 << width  # the sign bit of a signed integer, as the negative number it is
    words[element] ^= mask


def random_flip(rng: random.Random, tensors: dict[str, torch.Tensor], bit_class: BitClass = BitClass.ANY) -> Flip:
    """A flip at a random element of a random tensor, chosen in proportion to size (as a particle would)."""
    names = [name for name, t in tensors.items() if t.numel() > 0]
    if not names:
        raise ValueError("nothing to flip")
    name = rng.choices(names, weights=[tensors[n].numel() for n in names])[0]
    tensor = tensors[name]
    return Flip(name, rng.randrange(tensor.numel()), rng.choice(bits_of(tensor.dtype, bit_class)),
                tensor.element_size())


def apply(flip: Flip, tensors: dict[str, torch.Tensor]) -> None:
    flip_bit(tensors[flip.tensor], flip.element, flip.bit)

from __future__ import annotations

import random

import pytest
import torch

from flight.seu.bitflip import BitClass, Flip, apply, bits_of, flip_bit, random_flip


@pytest.mark.parametrize(("dtype", "sign", "exponent", "mantissa"), [
    (torch.float32, [31], range(23, 31), range(0, 23)),
    (torch.bfloat16, [15], range(7, 15), range(0, 7)),
    (torch.float16, [15], range(10, 15), range(0, 10)),
])
def test_the_bit_classes_of_each_float_type(dtype: torch.dtype, sign: list[int], exponent: range,
                                            mantissa: range) -> None:
    assert list(bits_of(dtype, BitClass.SIGN)) == sign
    assert bits_of(dtype, BitClass.EXPONENT) == exponent and bits_of(dtype, BitClass.MANTISSA) == mantissa
    assert len(bits_of(dtype, BitClass.ANY)) == len(sign) + len(exponent) + len(mantissa)


def test_integers_have_no_exponent() -> None:
    assert len(bits_of(torch.int64, BitClass.ANY)) == 64
    with pytest.raises(ValueError, match="floating-point"):
        bits_of(torch.int64, BitClass.EXPONENT)


def test_a_flip_does_what_the_bit_means_and_a_second_undoes_it() -> None:
    tensor = torch.tensor([0.01, 0.75, -2.0])
    original = tensor.clone()
    flip_bit(tensor, 0, 31)
    assert tensor[0] == -0.01
    flip_bit(tensor, 1, 30)  # the top exponent bit: 0.75 becomes 2.6e38
    assert tensor[1] > 1e38
    flip_bit(tensor, 2, 0)  # the lowest mantissa bit: one ulp
    assert tensor[2] != -2.0 and abs(tensor[2] + 2.0) < 1e-6
    for element, bit in ((0, 31), (1, 30), (2, 0)):
        flip_bit(tensor, element, bit)
    assert torch.equal(tensor, original)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64, torch.int64, torch.uint8])
def test_every_bit_of_every_width_flips_and_flips_back(dtype: torch.dtype) -> None:
    tensor = torch.ones(3, dtype=dtype)
    for bit in bits_of(dtype, BitClass.ANY):
        flip_bit(tensor, 1, bit)
        assert not torch.equal(tensor, torch.ones(3, dtype=dtype))  # a NaN equals nothing: that counts too
        flip_bit(tensor, 1, bit)
        assert torch.equal(tensor, torch.ones(3, dtype=dtype))


def test_flips_outside_the_tensor_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        flip_bit(torch.zeros(4), 4, 0)
    with pytest.raises(ValueError, match="outside"):
        flip_bit(torch.zeros(4), 0, 32)


def test_random_flips_land_in_proportion_to_size_and_in_their_class() -> None:
    tensors = {"big": torch.zeros(100_000), "small": torch.zeros(10), "empty": torch.zeros(0)}
    rng = random.Random(3)
    flips = [random_flip(rng, tensors, BitClass.EXPONENT) for _ in range(300)]
    assert sum(f.tensor == "big" for f in flips) > 290 and all(f.tensor != "empty" for f in flips)
    assert all(23 <= f.bit < 31 and 0 <= f.element < tensors[f.tensor].numel() for f in flips)
    assert random_flip(random.Random(3), tensors) == random_flip(random.Random(3), tensors)  # seeded: replayable


def test_a_flip_names_its_checksum_block_and_applies_by_name() -> None:
    flip = Flip("w", element=16384 + 5, bit=3, itemsize=4)
    assert flip.block == 1
    tensors = {"w": torch.zeros(20_000)}
    apply(flip, tensors)
    assert tensors["w"].nonzero().flatten().tolist() == [16389]
    with pytest.raises(ValueError, match="nothing"):
        random_flip(random.Random(1), {"empty": torch.zeros(0)})

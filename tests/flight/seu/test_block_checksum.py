from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.seu.bitflip import flip_bit
from flight.seu.block_checksum import (
    BlockMap,
    block_count,
    byte_view,
    differing_blocks,
    fletcher_reference,
)

BLOCK = 256  # small blocks, so that a small tensor has many


@given(element=st.integers(0, 999), bit=st.integers(0, 31))
@settings(max_examples=200, deadline=None)
def test_any_single_flip_changes_exactly_the_crc_of_its_block(element: int, bit: int) -> None:
    tensor = torch.linspace(-3, 3, 1000)
    blocks = BlockMap({"t": tensor}, BLOCK)
    before = blocks.checksums()
    flip_bit(tensor, element, bit)
    assert blocks.differing(before, blocks.checksums()) == [("t", element * 4 // BLOCK)]


@given(data=st.binary(min_size=1, max_size=2000), position=st.integers(0, 1 << 20), bit=st.integers(0, 7))
@settings(max_examples=200, deadline=None)
def test_any_single_flip_changes_the_fletcher_sums_of_its_block(data: bytes, position: int, bit: int) -> None:
    """The CUDA kernel's arithmetic (tested on the GPU against this reference) misses no single upset,
    a short last word included."""
    before = np.frombuffer(data, dtype=np.uint8).copy()
    after = before.copy()
    position %= before.size
    after[position] ^= 1 << bit
    assert differing_blocks(fletcher_reference(before, BLOCK), fletcher_reference(after, BLOCK)) == [
        position // BLOCK]


def test_fletcher_sums_see_words_that_trade_places() -> None:
    words = np.array([1, 2, 3, 4], dtype="<u4")
    swapped = np.array([2, 1, 3, 4], dtype="<u4")
    assert differing_blocks(fletcher_reference(words.view(np.uint8)), fletcher_reference(swapped.view(np.uint8))) == [0]


def test_blocks_cover_the_tensor_and_an_empty_one_has_one() -> None:
    assert block_count(0) == 1 and block_count(1, 256) == 1 and block_count(257, 256) == 2
    assert len(BlockMap({"t": torch.zeros(1000)}, BLOCK).checksums().cpu) == 16
    assert len(BlockMap({"t": torch.zeros(0)}, BLOCK).checksums().cpu) == 1


def test_the_checksums_read_the_tensor_in_place() -> None:
    tensor = torch.arange(10, dtype=torch.float32)
    assert byte_view(tensor).data_ptr() == tensor.data_ptr()


def test_a_strided_tensor_is_refused_rather_than_copied() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        BlockMap({"t": torch.zeros(8, 8).t()})


def test_device_checksums_are_compared_on_the_device() -> None:
    reference = torch.tensor([[1, 2], [3, 4], [5, 6]])
    current = torch.tensor([[1, 2], [3, 5], [5, 6]])
    assert differing_blocks(reference, current) == [1] and differing_blocks(reference, reference.clone()) == []


def test_a_block_map_names_each_changed_block_of_many_tensors() -> None:
    tensors = {"big": torch.randn(1000), "small": torch.randn(3), "empty": torch.zeros(0)}
    blocks = BlockMap(tensors, BLOCK)
    sealed = blocks.checksums()
    assert len(sealed.cpu) == 16 + 1 + 1 and blocks.nbytes == 4012
    assert blocks.differing(sealed, blocks.checksums()) == []
    flip_bit(tensors["big"], 999, 0)
    flip_bit(tensors["small"], 2, 31)
    assert blocks.differing(sealed, blocks.checksums()) == [("big", 15), ("small", 0)]


def test_a_block_map_knows_when_its_tensors_are_no_longer_the_same() -> None:
    tensors = {"a": torch.zeros(10)}
    blocks = BlockMap(tensors)
    assert blocks.matches(tensors) and blocks.matches({"a": tensors["a"]})
    assert not blocks.matches({"a": torch.zeros(10)}) and not blocks.matches({"b": tensors["a"]})


@given(data=st.binary(min_size=0, max_size=3000))
@settings(max_examples=100, deadline=None)
def test_the_torch_form_of_the_cuda_sums_equals_the_reference(data: bytes) -> None:
    """The fallback where cupy is missing, and a check of the arithmetic the kernel implements."""
    from flight.seu.cuda_checksum import torch_checksums

    raw = np.frombuffer(data, dtype=np.uint8).copy()
    tensor = torch.from_numpy(raw)
    assert (torch_checksums(tensor, BLOCK).numpy() == fletcher_reference(raw, BLOCK).view(np.int64)).all()

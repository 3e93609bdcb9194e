from __future__ import annotations

import torch

from flight.seu.bitflip import flip_bit
from flight.seu.scrubber import Detection, Scrubber


def test_a_flip_after_the_seal_is_found_by_tensor_and_block() -> None:
    tensors = {"a": torch.randn(50_000), "b": torch.randn(10)}
    scrubber = Scrubber(lambda: tensors)
    assert not scrubber.sealed and scrubber.verify() == []
    scrubber.seal()
    assert scrubber.verify() == [] and scrubber.scrubbed_bytes == 2 * 200_040  # the seal and one read
    flip_bit(tensors["a"], 40_000, 5)
    flip_bit(tensors["b"], 0, 30)
    assert sorted(scrubber.verify(), key=lambda d: d.tensor) == [Detection("a", 2), Detection("b", 0)]
    assert scrubber.detections == 2 and scrubber.scrubbed_bytes == 3 * 200_040  # a seal and two reads


def test_a_seal_takes_the_tensors_as_they_now_are() -> None:
    tensors = {"a": torch.zeros(10)}
    scrubber = Scrubber(lambda: tensors)
    scrubber.seal()
    tensors["a"] += 1  # a legitimate update, then a fresh seal
    scrubber.seal()
    tensors["new"] = torch.zeros(3)  # the set is asked for afresh at each seal
    scrubber.seal()
    read = scrubber.scrubbed_bytes
    assert scrubber.verify() == [] and scrubber.scrubbed_bytes - read == 52  # the new tensor is read too

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from flight.seu.bitflip import flip_bit
from flight.seu.weight_scrubber import RepairFailed, WeightScrubber, resident_tensors
from tests.flight.jobs._tiny import Recorder


@dataclass(slots=True)
class Layer:
    weight: torch.Tensor
    norm: torch.Tensor


@dataclass
class Model:
    layers: list[Layer]
    head: torch.Tensor
    _cache: torch.Tensor = field(default_factory=lambda: torch.ones(3))  # built from the weights: not one


def model() -> Model:
    torch.manual_seed(0)
    head = torch.randn(50_000)
    return Model([Layer(torch.randn(40_000), torch.ones(8)) for _ in range(2)], head)


def test_resident_tensors_walks_objects_slots_lists_and_modules_once_each() -> None:
    tensors = resident_tensors(model())
    assert list(tensors) == ["layers.0.weight", "layers.0.norm", "layers.1.weight", "layers.1.norm", "head"]
    linear = torch.nn.Linear(3, 2)
    assert set(resident_tensors(linear)) == {"weight", "bias"}
    assert len(resident_tensors([linear, linear.weight])) == 2  # the same storage once


def test_a_damaged_block_is_repaired_in_place_from_the_golden_copy() -> None:
    live = resident_tensors(model())
    before = {name: t.clone() for name, t in live.items()}
    report = Recorder()
    scrubber = WeightScrubber(live, lambda: resident_tensors(model()), 0.0, report)
    objects = {name: t.data_ptr() for name, t in live.items()}
    flip_bit(live["layers.1.weight"], 20_000, 30)  # block 1 of 3
    flip_bit(live["head"], 5, 0)
    assert scrubber.scrub(step=7) == 2
    assert all(torch.equal(live[n], before[n]) and live[n].data_ptr() == objects[n] for n in live)
    upsets = report.of("upset")
    assert [(u["target"], u["block"], u["step"]) for u in upsets] == [("layers.1.weight", 1, 7), ("head", 0, 7)]
    assert all(u["action"] == "repaired in place from the golden copy" for u in upsets)
    assert scrubber.stats()["repairs"] == 2 and scrubber.scrub() == 0


def test_the_schedule_is_kept_and_the_golden_copy_built_only_when_needed() -> None:
    now = [0.0]
    built: list[int] = []

    def golden() -> dict[str, torch.Tensor]:
        built.append(1)
        return resident_tensors(model())

    live = resident_tensors(model())
    scrubber = WeightScrubber(live, golden, 5.0, clock=lambda: now[0])
    flip_bit(live["head"], 0, 3)
    sealed = scrubber.scrubber.scrubbed_bytes
    assert scrubber.maybe_scrub() == 0 and scrubber.scrubber.scrubbed_bytes == sealed  # not due yet: not read
    now[0] = 5.0
    assert scrubber.maybe_scrub() == 1 and built == [1]
    now[0] = 6.0
    read = scrubber.scrubber.scrubbed_bytes
    assert scrubber.maybe_scrub() == 0 and scrubber.scrubber.scrubbed_bytes == read and built == [1]


def test_a_golden_copy_that_does_not_restore_the_seal_is_an_error() -> None:
    live = resident_tensors(model())
    scrubber = WeightScrubber(live, lambda: {name: torch.zeros_like(t) for name, t in live.items()}, 0.0)
    flip_bit(live["head"], 0, 3)
    with pytest.raises(RepairFailed, match="still differs"):
        scrubber.scrub()

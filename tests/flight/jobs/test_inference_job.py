"""Inference jobs with an upset in their weights mid-generation: the scrub repairs the block from the
weights' source on disk, and the answer is the one an undisturbed run gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from flight.jobs import inference_job
from flight.jobs.device import Device
from flight.jobs.inference_job import run_inference
from flight.jobs.job_spec import parse_job_config
from flight.seu.bitflip import BitClass, apply, random_flip
from flight.seu.weight_scrubber import WeightScrubber
from tests.flight.jobs._tiny import Recorder
from tests.flight.jobs.test_nanogpt_inference import trained  # noqa: F401  (the fixture)

CPU = Device(torch.device("cpu"))
FIXTURES = Path(__file__).parent / "gemma" / "fixtures"


class Upset:
    """Flips one bit of the job's weights before token ``at`` (through the job's beat, between tokens)."""

    def __init__(self, at: int, bit_class: BitClass = BitClass.EXPONENT) -> None:
        self.at, self.bit_class, self.calls, self.flip = at, bit_class, 0, None
        self.scrubbers: list[WeightScrubber] = []

    def watch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        upset = self

        class Watched(WeightScrubber):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                upset.scrubbers.append(self)

        monkeypatch.setattr(inference_job, "WeightScrubber", Watched)

    def __call__(self) -> None:
        self.calls += 1
        if self.calls == self.at + 1 and self.scrubbers:  # the first beat follows the load
            import random

            tensors = self.scrubbers[0].tensors
            self.flip = random_flip(random.Random(self.at), tensors, self.bit_class)
            apply(self.flip, tensors)


def test_a_nanogpt_job_repairs_a_flipped_weight_and_answers_as_if_untouched(trained: Path, tmp_path: Path,  # noqa: F811
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_job_config("INFER", json.dumps({"model": "job:4", "prompt": "To be", "max_new_tokens": 12,
                                                     "scrub_interval": 0}))
    clean = run_inference(settings, tmp_path / "job-5", CPU)
    upset, report = Upset(at=4), Recorder()
    upset.watch(monkeypatch)
    hit = run_inference(settings, tmp_path / "job-5", CPU, beat=upset, report=report)
    assert upset.flip is not None and hit["ids"] == clean["ids"]
    [found] = report.of("upset")
    assert (found["target"], found["block"]) == (upset.flip.tensor, upset.flip.block)
    assert found["action"] == "repaired in place from the golden copy" and report.of("protection")[-1]["repairs"] == 1


def test_scrub_now_is_taken_between_tokens(trained: Path, tmp_path: Path) -> None:  # noqa: F811
    settings = parse_job_config("INFER", json.dumps({"model": "job:4", "prompt": "To be", "max_new_tokens": 5,
                                                     "scrub_interval": 3600}))
    asked = iter([False, True, False, False])
    report = Recorder()
    run_inference(settings, tmp_path / "job-5", CPU, report=report, scrub_asked=lambda: next(asked, False))
    assert len(report.of("protection")) == 2  # the one asked for, and the last look after the answer


def test_gemma_repairs_a_flipped_weight_block_from_the_gguf_and_gives_the_reference_ids(
        monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = json.loads((FIXTURES / "greedy_reference.json").read_text())
    orbit = next(p for p in fixture["prompts"] if p["name"] == "orbit")
    settings = parse_job_config("INFER", json.dumps({"prompt": orbit["text"], "max_new_tokens": 6,
                                                     "scrub_interval": 0}))
    upset, report = Upset(at=2, bit_class=BitClass.ANY), Recorder()
    upset.watch(monkeypatch)
    output = run_inference(settings, Path("unused"), CPU, beat=upset, report=report)
    assert upset.flip is not None and output["ids"] == orbit["ids"][:6]  # transformers' greedy ids, in fp32
    [found] = report.of("upset")
    assert (found["target"], found["block"]) == (upset.flip.tensor, upset.flip.block)

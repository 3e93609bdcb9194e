"""Inference jobs with an upset in their weights mid-generation: the scrub repairs the block from the
weights' source on disk, and the answer is the one an undisturbed run gives."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from flight.jobs.device import Device
from flight.jobs.inference_job import run_inference
from flight.jobs.job_spec import parse_job_config
from flight.seu.bitflip import Flip
from flight.seu.injection import inject
from tests.flight.jobs._tiny import Recorder
from tests.flight.jobs.test_nanogpt_inference import trained  # noqa: F401  (the fixture)

CPU = Device(torch.device("cpu"))
FIXTURES = Path(__file__).parent / "gemma" / "fixtures"


class Upset:
    """The bench's upset (``hil seu inject flip``) before token ``at``: through the job's inject hook, which
    hands it the weights it scrubs, between tokens."""

    def __init__(self, at: int, bits: str = "exponent") -> None:
        self.at, self.bits = at, bits
        self.flip: Flip | None = None

    def __call__(self, tensors: dict[str, torch.Tensor], token: int) -> None:
        if token == self.at:
            self.flip = inject(tensors, "weights", self.bits, seed=self.at, at=[])


def test_a_nanogpt_job_repairs_a_flipped_weight_and_answers_as_if_untouched(trained: Path, tmp_path: Path) -> None:  # noqa: F811
    settings = parse_job_config("INFER", json.dumps({"model": "job:4", "prompt": "To be", "max_new_tokens": 12,
                                                     "scrub_interval": 0}))
    clean = run_inference(settings, tmp_path / "job-5", CPU)
    upset, report = Upset(at=4), Recorder()
    hit = run_inference(settings, tmp_path / "job-5", CPU, report=report, inject=upset)
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


def test_gemma_repairs_a_flipped_weight_block_from_the_gguf_and_gives_the_reference_ids() -> None:
    fixture = json.loads((FIXTURES / "greedy_reference.json").read_text())
    orbit = next(p for p in fixture["prompts"] if p["name"] == "orbit")
    settings = parse_job_config("INFER", json.dumps({"prompt": orbit["text"], "max_new_tokens": 6,
                                                     "scrub_interval": 0}))
    upset, report = Upset(at=2, bits="any"), Recorder()
    output = run_inference(settings, Path("unused"), CPU, report=report, inject=upset)
    assert upset.flip is not None and output["ids"] == orbit["ids"][:6]  # transformers' greedy ids, in fp32
    [found] = report.of("upset")
    assert (found["target"], found["block"]) == (upset.flip.tensor, upset.flip.block)

"""Upsets in a training job's state: each is found, rolled back and replayed, and the run ends exactly
as an undisturbed one did (same losses, bit for bit)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from flight.jobs.batches import TokenData
from flight.jobs.checkpoint import load_file
from flight.jobs.device import Device
from flight.jobs.trainer import Trainer, TrainResult
from flight.seu.bitflip import BitClass, Flip, apply, random_flip
from tests.flight.jobs._tiny import Recorder, tiny_spec

pytestmark = pytest.mark.usefixtures("one_thread", "tiny_config")

CPU = Device(torch.device("cpu"))
MAX_ITERS = 30


@pytest.fixture(scope="module")
def data(real_prepared: Path) -> TokenData:
    return TokenData.open(real_prepared)


@pytest.fixture
def undisturbed(data: TokenData, one_thread: None, tiny_config: str) -> TrainResult:
    """The run as it goes with no upset (on one thread, as the runs it is compared with)."""
    return Trainer(tiny_spec(max_iters=MAX_ITERS), data, CPU).run()


def run(data: TokenData, upset: Any, checkpoints: Path | None = None, **spec: Any) -> tuple[TrainResult, Recorder]:
    reports = Recorder()
    trainer = Trainer(tiny_spec(**{"max_iters": MAX_ITERS, **spec}), data, CPU, checkpoints, report=reports)
    trainer.between_steps = upset
    return trainer.run(), reports


class FlipOnce:
    """At the end of step ``at``, flip one bit of a tensor whose name starts with ``prefix``."""

    def __init__(self, at: int, prefix: str, bit_class: BitClass, seed: int = 5) -> None:
        self.at, self.prefix, self.bit_class, self.rng = at, prefix, bit_class, random.Random(seed)
        self.flip: Flip | None = None

    def __call__(self, trainer: Trainer) -> None:
        if trainer.step == self.at and self.flip is None:
            assert trainer.protection is not None
            tensors = {n: t for n, t in trainer.protection.tensors().items() if n.startswith(self.prefix)}
            self.flip = random_flip(self.rng, tensors, self.bit_class)
            apply(self.flip, tensors)


@pytest.mark.parametrize("prefix", ["param.", "optim.", "optim.blocks.0.attn.proj.weight.exp_avg_sq",
                                    "optim.wte.weight.step"])
@pytest.mark.parametrize("bit_class", [BitClass.SIGN, BitClass.EXPONENT, BitClass.MANTISSA])
def test_a_flip_in_each_class_of_state_and_bit_is_found_and_rolled_back(data: TokenData, undisturbed: TrainResult,
                                                                         prefix: str, bit_class: BitClass) -> None:
    upset = FlipOnce(12, prefix, bit_class)
    result, reports = run(data, upset, shadow_interval=5)
    assert upset.flip is not None
    [report] = reports.of("upset")
    assert (report["target"], report["block"], report["step"]) == (upset.flip.tensor, upset.flip.block, 12)
    assert report["action"] == "rolled back to step 10 (shadow)" and report["lost_steps"] == 2
    assert result.losses == undisturbed.losses and result.iters == MAX_ITERS
    stats = reports.of("protection")[-1]
    assert stats["detections"] == 1 and stats["rollbacks"] == 1 and stats["lost_steps"] == 2


def test_a_damaged_shadow_is_passed_over_for_the_last_checkpoint(data: TokenData, undisturbed: TrainResult,
                                                                 tmp_path: Path) -> None:
    def upset(trainer: Trainer) -> None:
        if trainer.step == 13 and not hits:
            assert trainer.protection is not None and trainer.protection.shadow is not None
            shadow = trainer.protection.shadow._buffers["param.wte.weight"]
            shadow.view(torch.int32)[0] ^= 1 << 20
            trainer.model.wte.weight.data.view(torch.int32)[0] ^= 1 << 20
            hits.append(trainer.step)

    hits: list[int] = []
    result, reports = run(data, upset, tmp_path, shadow_interval=12, checkpoint_interval=5)
    [report] = reports.of("upset")
    assert report["action"] == "rolled back to step 10 (checkpoint step-000000010.safetensors)"
    assert report["lost_steps"] == 3 and result.losses == undisturbed.losses


def test_a_loss_spike_from_an_unprotected_upset_is_rolled_back(data: TokenData, undisturbed: TrainResult) -> None:
    """An upset in the activations: no checksum covers them, the loss guard sees what it did."""
    hook: list[Any] = []

    def corrupt_once(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        hook.pop().remove()
        return output * 30  # logits thirty times too sure of themselves

    def upset(trainer: Trainer) -> None:
        if trainer.step == 25 and not fired:
            hook.append(trainer.model.lm_head.register_forward_hook(corrupt_once))
            fired.append(True)

    fired: list[bool] = []
    result, reports = run(data, upset, shadow_interval=5)
    [report] = reports.of("upset")
    assert report["target"].startswith("loss guard: loss") and "spiked" in report["target"]
    assert report["action"] == "rolled back to step 25 (shadow)" and report["lost_steps"] == 1
    assert result.losses == undisturbed.losses


def test_a_non_finite_loss_is_rolled_back(data: TokenData, undisturbed: TrainResult) -> None:
    def upset(trainer: Trainer) -> None:
        if trainer.step == 7 and not fired:
            handle = trainer.model.ln_f.register_forward_hook(lambda _m, _i, out: handle.remove() or out * torch.nan)
            fired.append(True)

    fired: list[bool] = []
    result, reports = run(data, upset, shadow_interval=5)
    [report] = reports.of("upset")
    assert report["target"] == "loss guard: loss nan" and report["action"] == "rolled back to step 5 (shadow)"
    assert result.losses == undisturbed.losses


def test_a_checkpoint_copied_while_the_upset_was_in_memory_is_written_again(data: TokenData, tmp_path: Path,
                                                                             real_prepared: Path) -> None:
    clean_dir, hit_dir = tmp_path / "clean", tmp_path / "hit"
    run(data, lambda _t: None, clean_dir, shadow_interval=5, checkpoint_interval=10, max_iters=20)
    upset = FlipOnce(10, "param.", BitClass.EXPONENT)
    run(data, upset, hit_dir, shadow_interval=5, checkpoint_interval=10, max_iters=20)
    for name in ("step-000000010.safetensors", "step-000000020.safetensors"):
        clean, hit = load_file(clean_dir / name), load_file(hit_dir / name)
        assert all(torch.equal(clean.tensors[n], hit.tensors[n]) for n in clean.tensors)


class BenchLink:
    """What the worker's between-steps hook reads of its WorkerLink: the supervisor's asks, and reports."""

    def __init__(self, at: int, request: dict[str, Any]) -> None:
        self.at, self.request = at, request
        self.injections: list[dict[str, Any]] = []
        self.scrub_requested = False
        self.checkpoint_period: float | None = 30.0
        self.reports = Recorder()

    def report(self, kind: str, fields: dict[str, Any]) -> None:
        self.reports(kind, fields)


@pytest.mark.parametrize("target", ["param", "optim", "param.wte.weight", "optim.wte.weight.exp_avg"])
def test_a_bench_injection_through_the_worker_lands_where_it_says_and_is_rolled_back(
        data: TokenData, undisturbed: TrainResult, target: str) -> None:
    """``hil seu inject flip``'s path in the worker: the flip is made between steps, reported, then found."""
    from flight.jobs.worker import _between_steps

    link = BenchLink(12, {"target": target, "bits": "exponent", "seed": 3, "at": []})

    def hook(trainer: Trainer) -> None:
        if trainer.step == link.at and not link.reports.of("injected"):
            link.injections.append(link.request)
        _between_steps(trainer, link)  # type: ignore[arg-type]
        assert trainer.checkpoint_period_s == 30.0  # the supervisor's Young/Daly advice reaches the trainer

    result, reports = run(data, hook, shadow_interval=5)
    [injected] = link.reports.of("injected")
    assert injected["step"] == 12 and (target in ("param", "optim") and injected["target"].startswith(target + ".")
                                       or injected["target"] == target)
    [upset] = reports.of("upset")
    assert upset["target"] == injected["target"] and upset["step"] == 12
    assert upset["block"] == injected["element"] * 4 // (64 * 1024)  # float32 state
    assert result.losses == undisturbed.losses


def test_a_bench_injection_the_job_cannot_make_is_refused_and_reported(data: TokenData) -> None:
    from flight.jobs.worker import _between_steps

    link = BenchLink(3, {"target": "param.nowhere", "bits": "any", "seed": 3, "at": []})
    link.injections.append(link.request)
    trainer = Trainer(tiny_spec(max_iters=3), data, CPU)
    _between_steps(trainer, link)  # type: ignore[arg-type]
    assert link.injections == [] and link.reports.of("injected") == []
    assert link.reports.of("inject_refused") == [
        {"reason": "target 'param.nowhere': no such tensor or class in this job (classes: any, param, optim, weights)"}]


def test_protection_off_lets_a_flip_through(data: TokenData, undisturbed: TrainResult) -> None:
    """The control: without the scrubber, the same upset changes the run (so the tests above can fail)."""
    upset = FlipOnce(12, "param.", BitClass.EXPONENT)
    result, reports = run(data, upset, scrub=False, guard=False)
    assert reports.of("upset") == [] and result.losses != undisturbed.losses


def test_an_upset_before_the_first_shadow_after_step_zero_goes_back_to_the_start(data: TokenData,
                                                                                 undisturbed: TrainResult) -> None:
    """The shadow of step 0 holds no optimizer state (AdamW makes it at its first step): a rollback to it
    starts the optimizer afresh, as the run did."""
    upset = FlipOnce(3, "optim.", BitClass.EXPONENT)
    result, reports = run(data, upset, shadow_interval=25)
    [report] = reports.of("upset")
    assert report["action"] == "rolled back to step 0 (shadow)" and report["lost_steps"] == 3
    assert result.losses == undisturbed.losses

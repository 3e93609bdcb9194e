"""Data-parallel training over gloo ranks on the CPU: two ranks with the same global batch take the steps
one process takes, only rank 0 reports and writes checkpoints, and a world that cannot split the
batch is refused.

The ranks are spawned processes, so the config is a shipped one (a config patched into CONFIGS here
would not exist in them): shakespeare_cpu for a few steps, samples of one token.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from flight.jobs import ddp
from flight.jobs.batches import BatchError, TokenData
from flight.jobs.checkpoint import load_file
from flight.jobs.ddp import free_port, train_ddp
from flight.jobs.device import Device
from flight.jobs.trainer import Trainer, TrainingError, TrainSpec
from tests.flight.jobs._tiny import FileReport

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 6
SPEC = TrainSpec(config="shakespeare_cpu", seed=3, max_iters=STEPS, log_interval=1, checkpoint_interval=1000,
                 sample_tokens=1)
# Observed: per-step losses agree to a relative 1.2e-7 and the final weights to an absolute 1.4e-7 (float32
# rounding: the all-reduce sums the two halves' gradients in another order than one backward pass does).
# The tolerances leave a margin of about a hundred.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


def test_two_ranks_take_the_steps_one_process_takes(real_prepared: Path, tmp_path: Path) -> None:
    report = FileReport(tmp_path / "events.jsonl")
    parallel = train_ddp(SPEC, real_prepared, world=2, device="cpu", checkpoints=tmp_path / "ddp", report=report)

    single_trainer = Trainer(SPEC, TokenData.open(real_prepared), Device(torch.device("cpu")))
    single = single_trainer.run()

    assert parallel.iters == single.iters == STEPS
    assert sorted(parallel.losses) == sorted(single.losses) == list(range(1, STEPS + 1))
    for step in single.losses:
        assert parallel.losses[step] == pytest.approx(single.losses[step], rel=LOSS_RTOL), step
    assert single.losses[STEPS] < single.losses[1]

    # Only rank 0 reported (one progress event a step) and wrote the checkpoint.
    events = report.events()
    assert [e["step"] for e in events if e["kind"] == "progress"] == list(range(1, STEPS + 1))
    assert [e["step"] for e in events if e["kind"] == "checkpoint"] == [STEPS]
    assert parallel.checkpoint == str(tmp_path / "ddp" / f"step-{STEPS:09d}.safetensors")

    saved = load_file(Path(parallel.checkpoint))
    assert saved.step == STEPS
    weights = single_trainer.model.state_dict()
    for name, tensor in saved.tensors.items():
        if name in weights:
            torch.testing.assert_close(tensor, weights[name], rtol=0, atol=WEIGHT_ATOL, msg=name)
    assert parallel.val_loss == pytest.approx(single.val_loss, rel=LOSS_RTOL)


def test_a_world_that_does_not_split_the_batch_fails_in_each_rank(real_prepared: Path) -> None:
    # What each of 5 spawned ranks runs (spawning them costs half a minute here): shakespeare_cpu's
    # batch of 12 does not split 5 ways.
    trainer = Trainer(SPEC, TokenData.open(real_prepared), Device(torch.device("cpu")), rank=0, world=5)
    with pytest.raises(BatchError, match="a global batch of 12 does not split over 5 ranks"):
        trainer.run()


def test_a_world_that_does_not_split_the_batch_is_refused_before_spawning(real_prepared: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def spawned(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the ranks were spawned")

    monkeypatch.setattr(ddp.mp, "start_processes", spawned)
    with pytest.raises(TrainingError, match="12"):
        train_ddp(SPEC, real_prepared, world=5, device="cpu")


def test_a_world_without_ranks_is_refused(real_prepared: Path) -> None:
    with pytest.raises(TrainingError, match="at least one"):
        train_ddp(SPEC, real_prepared, world=0, device="cpu")


def test_more_cuda_ranks_than_devices_are_refused(real_prepared: Path) -> None:
    with pytest.raises(TrainingError, match="CUDA devices"):
        train_ddp(SPEC, real_prepared, world=torch.cuda.device_count() + 1, device="cuda")


def test_a_free_port_is_a_port() -> None:
    assert 0 < free_port() < 65536

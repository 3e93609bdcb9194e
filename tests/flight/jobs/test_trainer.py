"""The training loop, on a tiny config and the real corpus: its reports, that it learns, an exact resume
from a checkpoint (dropout on, so the RNG has to come back too), the fall back past a damaged
checkpoint, and the specs and checkpoints that are refused."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from flight.jobs.batches import TokenData
from flight.jobs.checkpoint import CheckpointStore
from flight.jobs.configs import CONFIGS, GPTConfig
from flight.jobs.device import Device
from flight.jobs.trainer import Trainer, TrainingError, TrainResult, TrainSpec
from tests.flight.jobs._tiny import TINY, Recorder, tiny_spec

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = Device(torch.device("cpu"))


@pytest.fixture(scope="module")
def data(real_prepared: Path) -> TokenData:
    return TokenData.open(real_prepared)


def train(spec: TrainSpec, data: TokenData, checkpoints: Path | None = None, resume: bool = False,
          report: Recorder | None = None) -> TrainResult:
    trainer = Trainer(spec, data, CPU, checkpoints, report=report or Recorder())
    if resume:
        trainer.resume()
    return trainer.run()


def test_a_run_reports_progress_evaluations_samples_and_checkpoints(tiny_config: str, data: TokenData,
                                                                     tmp_path: Path) -> None:
    report = Recorder()
    result = train(tiny_spec(max_iters=20, log_interval=5, checkpoint_interval=10), data, tmp_path, report=report)
    progress = report.of("progress")
    assert [p["step"] for p in progress] == [5, 10, 15, 20]
    assert all(p.keys() == {"step", "loss", "tokens_per_s", "lr", "memory"} for p in progress)
    assert all(0 < p["loss"] < 10 and p["tokens_per_s"] > 0 and p["lr"] > 0 and p["memory"] > 0 for p in progress)
    (evaluation,) = report.of("eval")  # eval_interval 20
    assert evaluation.keys() == {"step", "train_loss", "val_loss"} and evaluation["step"] == 20
    (sample,) = report.of("sample")
    assert sample["step"] == 20 and isinstance(sample["text"], str) and len(sample["text"]) == 8
    assert set(sample["text"]) <= set(data.vocab)
    checkpoints = report.of("checkpoint")
    assert [c["step"] for c in checkpoints] == [10, 20]
    assert all(c.keys() == {"step", "path", "write_s"} and Path(c["path"]).is_file() for c in checkpoints)
    assert result.iters == 20 and result.checkpoint == checkpoints[-1]["path"]
    assert result.train_loss == evaluation["train_loss"] and result.val_loss == evaluation["val_loss"]
    assert result.losses == {p["step"]: p["loss"] for p in progress} and result.tokens_per_s > 0
    assert result.as_dict().keys() == {"tokens_per_s", "iters", "train_loss", "val_loss", "checkpoint"}


def test_the_loss_goes_down(tiny_config: str, data: TokenData) -> None:
    result = train(tiny_spec(max_iters=50, log_interval=1, checkpoint_interval=1000), data)
    losses = [result.losses[step] for step in range(1, 51)]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert first > math.log(84) - 0.3  # about uniform over the 84 symbols at first
    assert last < first - 1.0, (first, last)
    assert result.val_loss is not None and result.val_loss < first - 1.0


def test_a_resumed_run_repeats_the_losses_of_the_uninterrupted_one_exactly(tiny_config: str, data: TokenData,
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    assert TINY[0].dropout > 0  # the dropout masks come from the RNG: a resume must restore it
    spec = tiny_spec(max_iters=20, log_interval=1, checkpoint_interval=10)
    whole = train(spec, data, tmp_path)
    assert sorted(whole.losses) == list(range(1, 21))
    (tmp_path / "step-000000020.safetensors").unlink()  # as if the job had stopped after step 10's checkpoint
    report = Recorder()
    resumed = train(spec, data, tmp_path, resume=True, report=report)
    assert report.of("resumed") == [{"step": 10, "path": str(tmp_path / "step-000000010.safetensors")}]
    assert resumed.iters == 20 and sorted(resumed.losses) == list(range(11, 21))
    assert resumed.losses == {step: whole.losses[step] for step in range(11, 21)}
    assert resumed.val_loss == whole.val_loss

    # The check has teeth: without the RNG state the dropout masks, and so the losses, differ.
    (tmp_path / "step-000000020.safetensors").unlink()
    monkeypatch.setattr(torch, "set_rng_state", lambda _state: None)
    careless = train(spec, data, tmp_path, resume=True)
    assert careless.losses[11] != whole.losses[11]


def test_a_damaged_newest_checkpoint_is_reported_and_the_one_before_used(tiny_config: str, data: TokenData,
                                                                        tmp_path: Path) -> None:
    spec = tiny_spec(max_iters=20, log_interval=1, checkpoint_interval=10)
    whole = train(spec, data, tmp_path)
    newest = tmp_path / "step-000000020.safetensors"
    damaged = bytearray(newest.read_bytes())
    damaged[-100] ^= 0x04
    newest.write_bytes(bytes(damaged))
    report = Recorder()
    trainer = Trainer(spec, data, CPU, tmp_path, report=report)
    rejected = trainer.resume()
    assert [r.path for r in rejected] == [newest] and trainer.step == 10
    assert report.events[0] == ("checkpoint_rejected", {"path": str(newest), "reason": rejected[0].reason})
    assert "fails its CRC-32C" in rejected[0].reason
    assert report.events[1] == ("resumed", {"step": 10, "path": str(tmp_path / "step-000000010.safetensors")})
    resumed = trainer.run()
    assert resumed.losses == {step: whole.losses[step] for step in range(11, 21)}
    assert CheckpointStore(tmp_path).latest()[0].step == 20  # type: ignore[union-attr]  # rewritten, verified


def test_an_advised_checkpoint_period_makes_a_checkpoint_due_however_few_steps_passed(
        tiny_config: str, data: TokenData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Young/Daly's interval from the supervisor: at least that often in seconds, as well as every
    checkpoint_interval steps. Each step here takes 10 s by the trainer's clock."""
    now = [0.0]
    monkeypatch.setattr("flight.jobs.trainer.time.monotonic", lambda: now[0])
    report = Recorder()
    trainer = Trainer(tiny_spec(max_iters=12, checkpoint_interval=100, keep=20), data, CPU, tmp_path, report=report)
    trainer.between_steps = lambda t: now.__setitem__(0, now[0] + 10.0)
    trainer.checkpoint_period_s = 25.0
    trainer.run()
    # The clock moves after each step's checks: step 4 is the first to see 30 s (≥ 25) gone; and the end.
    assert [c["step"] for c in report.of("checkpoint")] == [4, 7, 10, 12]
    report.events.clear()
    trainer.checkpoint_period_s = None
    trainer.train_config = replace(trainer.train_config, max_iters=20)
    trainer.run()
    assert [c["step"] for c in report.of("checkpoint")] == [20]  # only the steps (and the end) without it


def test_a_checkpoint_of_another_config_is_refused(tiny_config: str, data: TokenData, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CONFIGS, "tiny2", TINY)
    CheckpointStore(tmp_path).save(Trainer(tiny_spec(), data, CPU).snapshot())
    other = Trainer(tiny_spec(config="tiny2"), data, CPU, tmp_path)
    with pytest.raises(TrainingError, match="the checkpoint's config is 'tiny', not 'tiny2'"):
        other.resume()


def test_a_checkpoint_of_another_seed_is_refused(tiny_config: str, data: TokenData, tmp_path: Path) -> None:
    CheckpointStore(tmp_path).save(Trainer(tiny_spec(), data, CPU).snapshot())
    other = Trainer(tiny_spec(seed=8), data, CPU, tmp_path)
    with pytest.raises(TrainingError, match="the checkpoint's seed is 7, not 8"):  # another batch order
        other.resume()


def test_resuming_with_no_checkpoint_starts_from_scratch(tiny_config: str, data: TokenData, tmp_path: Path) -> None:
    report = Recorder()
    trainer = Trainer(tiny_spec(), data, CPU, tmp_path / "empty", report=report)
    assert trainer.resume() == [] and trainer.step == 0 and report.events == []
    assert Trainer(tiny_spec(), data, CPU).resume() == []  # no checkpoint directory at all


@pytest.mark.parametrize(("spec", "message"), [
    (TrainSpec(config="nonesuch"), "config 'nonesuch': one of"),
    (TrainSpec(max_iters=0), "max_iters 0 must be at least 1"),
    (TrainSpec(max_iters=-5), "max_iters -5 must be at least 1"),
])
def test_impossible_specs_are_refused(spec: TrainSpec, message: str, data: TokenData) -> None:
    with pytest.raises(TrainingError, match=message):
        spec.configs()
    with pytest.raises(TrainingError, match=message):
        Trainer(spec, data, CPU)


def test_a_model_with_a_smaller_vocabulary_than_the_data_is_refused(data: TokenData,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    gpt, train_config = TINY
    monkeypatch.setitem(CONFIGS, "small", (replace(gpt, vocab_size=40), train_config))
    with pytest.raises(TrainingError, match="the data has 84 symbols, the model 40"):
        Trainer(TrainSpec(config="small"), data, CPU)


def test_sampling_leaves_the_training_rng_alone(data: TokenData, monkeypatch: pytest.MonkeyPatch) -> None:
    gpt, train_config = TINY
    monkeypatch.setitem(CONFIGS, "tiny", (gpt, replace(train_config, eval_interval=4)))  # samples at 4, 8, 12
    spec = tiny_spec(max_iters=12, log_interval=1, sample_tokens=16)
    report = Recorder()
    sampled = train(spec, data, report=report)
    assert [s["step"] for s in report.of("sample")] == [4, 8, 12]

    trainer = Trainer(spec, data, CPU)
    state = torch.get_rng_state()
    assert len(trainer.sample()) == 16 and torch.equal(torch.get_rng_state(), state)

    monkeypatch.setattr(Trainer, "sample", lambda self, tokens=None: "")
    silent = train(spec, data)
    assert silent.losses == sampled.losses


def test_should_stop_ends_the_run_early(tiny_config: str, data: TokenData) -> None:
    trainer = Trainer(tiny_spec(max_iters=20), data, CPU)
    result = trainer.run(should_stop=lambda: trainer.step >= 3)
    assert result.iters == 3 and sorted(result.losses) == [1, 2, 3] and result.checkpoint is None


def test_the_initial_weights_depend_only_on_the_seed(tiny_config: str, data: TokenData) -> None:
    a, b = Trainer(tiny_spec(), data, CPU), Trainer(tiny_spec(), data, CPU)
    c = Trainer(tiny_spec(seed=8), data, CPU)
    assert torch.equal(a.model.wte.weight, b.model.wte.weight)
    assert not torch.equal(a.model.wte.weight, c.model.wte.weight)
    assert isinstance(a.gpt_config, GPTConfig) and a.train_config.max_iters == 20


def test_evaluations_and_samples_beat_as_they_go(tiny_config: str, data: TokenData) -> None:
    """A worker beats from inside long work, so a slow sample on a busy machine is not taken for a hang."""
    beats: list[int] = []
    trainer = Trainer(tiny_spec(sample_tokens=24), data, CPU, beat=lambda: beats.append(1))
    trainer.sample()
    assert len(beats) == 24
    beats.clear()
    trainer.evaluate()
    assert len(beats) == 2 * trainer.train_config.eval_iters

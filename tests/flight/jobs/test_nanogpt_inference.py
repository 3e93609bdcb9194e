"""Inference from a trained NanoGPT checkpoint: what the file carries is enough, and a bad file is refused."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from flight.jobs.batches import TokenData
from flight.jobs.checkpoint import CheckpointError, CheckpointStore, encode
from flight.jobs.device import Device
from flight.jobs.inference_job import run_inference
from flight.jobs.job_spec import parse_job_config
from flight.jobs.nanogpt_inference import complete, load_checkpoint
from flight.jobs.trainer import Trainer
from tests.flight.jobs._tiny import tiny_spec

CPU = Device(torch.device("cpu"))


@pytest.fixture
def trained(tiny_config: str, tiny_prepared: Path, tmp_path: Path) -> Path:
    """The checkpoint directory of a tiny model trained 20 steps."""
    directory = tmp_path / "job-4" / "checkpoints"
    Trainer(tiny_spec(), TokenData.open(tiny_prepared), CPU, directory).run()
    return directory


def test_the_newest_checkpoint_of_a_directory_continues_a_prompt(trained: Path) -> None:
    loaded = load_checkpoint(trained, torch.device("cpu"))
    assert loaded.step == 20
    result = complete(loaded, "To be", 12)
    assert result["prompt_ids"] == loaded.encode("To be") and len(result["ids"]) == 12
    assert result["text"] == loaded.decode(result["ids"]) and result["ttft_s"] > 0
    assert complete(loaded, "To be", 12)["ids"] == result["ids"]  # greedy: the same every time


def test_one_file_is_enough_and_sampling_repeats_with_its_seed(trained: Path) -> None:
    newest = CheckpointStore(trained).generations()[0]
    loaded = load_checkpoint(newest, torch.device("cpu"))
    first = complete(loaded, "Or", 20, greedy=False, seed=5)
    assert complete(loaded, "Or", 20, greedy=False, seed=5)["ids"] == first["ids"]
    assert complete(loaded, "Or", 20, greedy=False, seed=6)["ids"] != first["ids"]


def test_a_prompt_with_characters_the_model_never_saw_is_refused(trained: Path) -> None:
    with pytest.raises(CheckpointError, match="outside the vocabulary"):
        complete(load_checkpoint(trained, torch.device("cpu")), "Zürich ✓", 5)


def test_a_checkpoint_whose_config_is_not_a_gpt_is_refused(trained: Path, tmp_path: Path) -> None:
    from flight.jobs.checkpoint import load_file

    snapshot = load_file(CheckpointStore(trained).generations()[0])
    for bad in ({**snapshot.meta["gpt"], "n_head": 5}, {**snapshot.meta["gpt"], "evil": 1}, "gpt"):
        snapshot.meta["gpt"] = bad
        path = tmp_path / "bad.safetensors"
        path.write_bytes(encode(snapshot))
        with pytest.raises(CheckpointError, match="not a GPT"):
            load_checkpoint(path, torch.device("cpu"))


def test_a_pickle_or_an_empty_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(path, torch.device("cpu"))
    with pytest.raises(CheckpointError, match="no verified checkpoint"):
        load_checkpoint(tmp_path, torch.device("cpu"))


def test_an_inference_job_runs_a_training_jobs_checkpoint(trained: Path, tmp_path: Path) -> None:
    settings = parse_job_config("INFER", '{"model": "job:4", "prompt": "To be", "max_new_tokens": 8}')
    output = run_inference(settings, tmp_path / "job-5", CPU)
    assert set(output) == {"text", "ids", "ttft_s", "tokens_per_s"} and len(output["ids"]) == 8


def test_flight_infer_continues_a_prompt_from_a_checkpoint_directory(trained: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from flight.cli import main

    assert main(["infer", "--model", str(trained), "--prompt", "To be", "--max-new-tokens", "9", "--greedy",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    loaded = load_checkpoint(trained, torch.device("cpu"))
    assert out["ids"] == complete(loaded, "To be", 9)["ids"] and out["stop_reason"] == "max_new_tokens"
    assert out["prompt_ids"] == loaded.encode("To be") and out["text"] == loaded.decode(out["ids"])

"""``flight train``: a short run prints its result as JSON with a loadable checkpoint, ``--resume`` goes on
from it, a bad argument is an error message and an exit status (not a traceback), and the command line
itself never imports torch (the supervisor must not)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flight import cli
from flight.jobs import shakespeare

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = ["train", "--config", "shakespeare_cpu", "--json", "--checkpoint-interval", "2", "--log-interval", "1",
        "--device", "cpu"]


@pytest.fixture
def one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command gives torch a thread per core it may use: one here. On a busy shared machine two threads
    contend, and the evaluation alone can take ten times longer."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})


def test_a_short_run_prints_its_result_and_leaves_a_checkpoint(real_prepared: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               one_core: None) -> None:
    from flight.jobs.checkpoint import load_file

    out = tmp_path / "run"
    assert cli.main([*ARGS, "--max-iters", "3", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result.keys() == {"tokens_per_s", "iters", "train_loss", "val_loss", "checkpoint"}
    assert result["iters"] == 3 and result["tokens_per_s"] > 0
    assert 0 < result["train_loss"] < 6 and 0 < result["val_loss"] < 6
    assert result["checkpoint"] == str(out / "step-000000003.safetensors")
    snapshot = load_file(Path(result["checkpoint"]))
    assert snapshot.step == 3 and snapshot.meta["spec"]["config"] == "shakespeare_cpu"
    assert sorted(p.name for p in out.iterdir()) == ["step-000000002.safetensors", "step-000000003.safetensors"]
    assert "step      3  loss" in captured.err and "--- sample at step 3 ---" in captured.err

    assert cli.main([*ARGS, "--max-iters", "5", "--out", str(out), "--resume"]) == 0
    captured = capsys.readouterr()
    resumed = json.loads(captured.out)
    assert resumed["iters"] == 5 and resumed["checkpoint"] == str(out / "step-000000005.safetensors")
    assert 'resumed: {"step": 3' in captured.err
    assert "step      3  loss" not in captured.err and "step      4  loss" in captured.err
    assert load_file(Path(resumed["checkpoint"])).step == 5


@pytest.mark.parametrize("iters", ["0", "-3"])
def test_an_impossible_iteration_count_is_an_error_not_a_traceback(iters: str, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fetch(*_args: object) -> Path:
        raise AssertionError("the data was fetched for a command that is refused")

    monkeypatch.setattr(shakespeare, "prepared", no_fetch)
    assert cli.main([*ARGS, "--max-iters", iters, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"flight train: error: max_iters {iters} must be at least 1" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_a_non_numeric_iteration_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*ARGS, "--max-iters", "many"])
    assert exit_info.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_an_unknown_config_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--config", "gpt5"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'gpt5'" in capsys.readouterr().err


def test_the_command_line_does_not_import_torch() -> None:
    probe = ("import sys, flight.cli\n"
             "flight.cli.build_parser().parse_args(['train', '--config', 'shakespeare_cpu'])\n"
             "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout

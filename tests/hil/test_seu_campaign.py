"""``hil seu campaign``: the issue's campaign (≥ 200 flips on the CPU training config) and its CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.cli import main
from hil.seu_campaign import CampaignSpec, plan, run_campaign


@pytest.fixture
def one_thread() -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # beside another test worker on two cores, one thread each is fastest
    yield
    torch.set_num_threads(before)


def test_two_hundred_flips_on_the_cpu_config_are_all_detected_and_the_loss_is_unchanged(one_thread: None) -> None:
    result = run_campaign(CampaignSpec(flips=200, steps=240, seed=3))
    assert result["injected"] == 200 and result["detected"] == 200 and result["missed"] == 0
    assert result["unexpected_detections"] == 0 and result["coverage"] == 1.0
    assert result["rollbacks"] == 200 and result["detection_latency_steps"]["max"] == 0  # before any update
    loss = result["val_loss"]
    assert loss["difference"] <= 0.05 and loss["with_upsets"] == loss["fault_free"]  # exact replays
    assert result["passed"]


def test_exponent_flips_in_the_optimizer_state_only(one_thread: None) -> None:
    result = run_campaign(CampaignSpec(flips=12, steps=30, seed=5, bits="exponent", targets=("optim",),
                                       shadow_interval=4))
    assert result["detected"] == 12 and result["lost_steps"] > 0 and result["passed"]


def test_the_flip_plan_is_seeded_and_fits_the_run() -> None:
    spec = CampaignSpec(flips=5, steps=10, seed=2)
    assert plan(spec) == plan(spec) and len(set(plan(spec))) == 5 and all(1 <= s < 10 for s in plan(spec))
    with pytest.raises(ValueError, match="need more than"):
        plan(CampaignSpec(flips=10, steps=10))


def test_the_cli_prints_and_writes_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               one_thread: None) -> None:
    out = tmp_path / "seu.json"
    assert main(["seu", "campaign", "--flips", "3", "--steps", "8", "--json", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text()) and printed["detected"] == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--targets", "weights"], "--targets 'weights'"),
    (["--flips", "9", "--steps", "9"], "9 flips need more than 9 steps"),
    (["--config", "nope"], "--config 'nope'"),
    (["--shadow-interval", "-1", "--flips", "1", "--steps", "2"], "--shadow-interval"),
])
def test_bad_options_get_one_clear_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seu", "campaign", *argv]) == 2
    assert message in capsys.readouterr().err

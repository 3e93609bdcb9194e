"""A training job commanded from the ground, on the real processes: supervisor, worker, link, station.

The operator sends JOB_START through the emulated link; the supervisor starts a worker that trains
NanoGPT on the complete works on this CPU; its progress, evaluations and samples come down as
telemetry and land in the ground archive, and the validation loss goes below the bar.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flight.jobs.checkpoint import load_file
from flight.jobs.shakespeare import prepared
from hil.stack import Stack, StackOptions

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("one_training_at_a_time")]  # see conftest
# shakespeare_cpu's loss after 300 of its 600 steps is about 2.46 (ln 84 = 4.43 untrained, about 3.3 for
# character frequencies alone): below 2.6 the model has learned which characters follow which.
VAL_LOSS_BAR = 2.6
TRAINING = {"config": "shakespeare_cpu", "max_iters": 300, "log_interval": 50, "checkpoint_interval": 100}


def test_a_training_job_from_the_ground_learns_and_its_telemetry_reaches_the_archive(tmp_path: Path) -> None:
    prepared()  # the corpus, fetched once per machine, before the clock starts
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        result = gs.send("JOB_START", {"kind": "TRAIN", "config": json.dumps(TRAINING)})
        assert result.ok, result
        queued = gs.assert_event("JOB_QUEUED", timeout=30)
        job = queued.arguments["job"]
        gs.assert_event("JOB_STARTED", timeout=60, job=job, attempt=1)
        done = gs.assert_event("JOB_COMPLETED", timeout=600, job=job)
        assert done.arguments["steps"] == 300 and done.arguments["loss"] < VAL_LOSS_BAR
        gs.await_tlm("job.state", lambda state: state == "COMPLETED", timeout=30)

        progress = [r.body for r in gs.archive.reports(130, 2) if r.body["job"] == job]
        steps = [p["step"] for p in progress if p["kind"] == "progress"]
        assert steps == [50, 100, 150, 200, 250, 300]
        assert all(p["tokens_per_s"] > 0 and p["lr"] > 0 and p["memory"] > 0 for p in progress
                   if p["kind"] == "progress")
        evaluations = [p for p in progress if p["kind"] == "eval"]
        assert [e["step"] for e in evaluations] == [100, 200, 300]
        assert evaluations[-1]["val_loss"] == pytest.approx(done.arguments["loss"], rel=1e-6)
        samples = [r.body for r in gs.archive.reports(130, 3) if r.body["job"] == job]
        assert [s["step"] for s in samples] == [100, 200, 300] and all(s["text"] for s in samples)
        checkpoints = sorted((tmp_path / "files" / "jobs" / f"job-{job}" / "checkpoints").glob("step-*.safetensors"))
        # Every 100 steps, and at least every Young/Daly interval (seconds) as the supervisor advised: the
        # newest three generations are kept, the last of them the final step's.
        assert len(checkpoints) == 3 and checkpoints[-1].name == "step-000000300.safetensors"


def _ground(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ground.cli", *args], capture_output=True, text=True, timeout=300)


def test_an_operator_trains_asks_its_checkpoint_for_text_and_steers_jobs_from_the_command_line(
        tmp_path: Path) -> None:
    prepared()
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        config = str(stack.mission_path)
        train = _ground("jobs", "train", "--max-iters", "40", "--checkpoint-interval", "20", "--config", config,
                        "--json")
        assert train.returncode == 0, train.stdout + train.stderr
        job = json.loads(train.stdout)["job"]
        gs.assert_event("JOB_COMPLETED", timeout=300, job=job)

        infer = _ground("jobs", "infer", "ROMEO.\n", "--model", f"job:{job}", "--max-new-tokens", "24",
                        "--config", config, "--json")
        asked = json.loads(infer.stdout)["job"]
        gs.assert_event("JOB_COMPLETED", timeout=120, job=asked)
        [answer] = [json.loads(line) for line in _ground("jobs", "show", str(asked), "--config", config,
                                                          "--json").stdout.splitlines()]
        assert len(answer["ids"]) == 24 and answer["text"] and answer["tokens_per_s"] > 0

        remote = f"jobs/job-{job}/checkpoints/step-{40:09d}.safetensors"  # its checkpoint comes down by CFDP
        got = _ground("files", "get", remote, str(tmp_path / "down.safetensors"), "--config", config, "--json")
        assert got.returncode == 0, got.stdout + got.stderr
        assert load_file(tmp_path / "down.safetensors").step == 40  # every tensor's CRC-32C verified

        shown = _ground("jobs", "show", str(job), "--config", config).stdout
        assert "step     40" in shown and "--- sample at step 40 ---" in shown
        listed = _ground("jobs", "list", "--config", config, "--json").stdout.splitlines()
        listing = [json.loads(line) for line in listed]
        assert [(j["job"], j["kind"], j["state"]) for j in listing] == [(job, "TRAIN", "COMPLETED"),
                                                                       (asked, "INFER", "COMPLETED")]

        long = json.loads(_ground("jobs", "train", "--max-iters", "100000", "--config", config, "--json").stdout)["job"]
        gs.assert_event("JOB_STARTED", timeout=120, job=long)
        assert _ground("jobs", "pause", str(long), "--config", config).returncode == 0
        gs.assert_event("JOB_PAUSED", timeout=120, job=long)
        assert _ground("jobs", "pause", str(long), "--config", config).returncode == 1  # paused already
        assert _ground("jobs", "resume", str(long), "--config", config).returncode == 0
        gs.assert_event("JOB_RESUMED", timeout=60, job=long)
        assert _ground("jobs", "abort", str(long), "--config", config).returncode == 0
        gs.assert_event("JOB_ABORTED", timeout=60, job=long)
        refused = _ground("jobs", "train", "--max-iters", "0", "--config", config)
        assert refused.returncode == 1 and "config.max_iters" in refused.stdout

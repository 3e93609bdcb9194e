"""An eclipse through the whole stack: the bus simulator, the governor in the supervisor, a real training job.

The bus (at 120 times real time, with a battery too small to carry a job through an eclipse)
comes up once the job trains, a simulated minute before an eclipse. The governor suspends the training job when the
plan says the battery cannot hold its floor through it, after a checkpoint, and resumes it in the
sunlight; the job finishes with every logged loss equal to an uninterrupted run's (nothing lost, and
nothing computed twice differently), and the state of charge the ground saw never went under the floor.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from flight.jobs.batches import TokenData
from flight.jobs.device import select
from flight.jobs.job_spec import parse_job_config
from flight.jobs.shakespeare import prepared
from flight.jobs.trainer import Trainer, TrainSpec
from hil.bus.orbit import Orbit
from hil.bus.shadow import eclipses
from hil.stack import Stack, StackOptions

pytestmark = pytest.mark.integration
TRAINING = {"config": "shakespeare_cpu", "max_iters": 400, "log_interval": 20, "checkpoint_interval": 40,
            "eval_interval": 400}
SOC_FLOOR = 0.30  # power.soc_floor's default


def reference_losses() -> dict[int, float]:
    settings = parse_job_config("TRAIN", json.dumps(TRAINING))
    spec = TrainSpec(**{name: settings[name] for name in ("config", "seed", "max_iters", "eval_interval",
                                                          "log_interval", "checkpoint_interval", "keep")})
    threads = torch.get_num_threads()
    try:  # on the worker's threads (the machine's): a reduction split another way could round differently
        return Trainer(spec, TokenData.open(prepared()), select("cpu")).run().losses
    finally:
        torch.set_num_threads(threads)


def test_a_job_is_suspended_for_an_eclipse_and_resumed_after_it_with_no_work_lost(tmp_path: Path) -> None:
    prepared()
    orbit = Orbit.default()
    first_full = [e for e in eclipses(orbit, orbit.epoch, orbit.epoch + 3 * orbit.period_s) if e.entry > orbit.epoch][0]
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        result = gs.send("JOB_START", {"kind": "TRAIN", "config": json.dumps(TRAINING)})
        assert result.ok, result
        job = gs.assert_event("JOB_QUEUED", timeout=30).arguments["job"]
        # The bus comes up once the job is training, a simulated minute before an eclipse: whatever the
        # machine's speed, the eclipse finds the job mid-run.
        until = time.monotonic() + 300
        while not any(r.body["job"] == job and r.body["step"] >= 40 for r in gs.archive.reports(130, 2)):
            assert time.monotonic() < until, "the job never reached step 40"
            time.sleep(0.2)
        bus = subprocess.Popen([sys.executable, "-m", "hil.cli", "bus", "--mission", str(stack.mission_path),
                                "--rate", "120", "--start", str(first_full.entry - 60.0), "--capacity-wh", "300",
                                "--soc", "0.9"], stdout=subprocess.DEVNULL)
        try:
            suspended = gs.assert_event("POWER_SUSPENDED", timeout=120)
            resumed = gs.assert_event("POWER_RESUMED", timeout=300, after_id=suspended.id)
            done = gs.assert_event("JOB_COMPLETED", timeout=600, job=job)
        finally:
            bus.terminate()
            bus.wait(10)
        events = gs.events()
        progress = [r.body for r in gs.archive.reports(130, 2) if r.body["job"] == job and r.body["kind"] == "progress"]
        socs = [value for _, value in gs.archive.values("power.soc")]
    assert done.arguments["steps"] == TRAINING["max_iters"]
    assert not [e for e in events if e.name in ("JOB_WORKER_LOST", "JOB_FAILED")]
    starts = [e for e in events if e.name == "JOB_STARTED" and e.arguments["job"] == job]
    assert len(starts) == 2 and starts[1].arguments["step"] >= 40  # resumed from a checkpoint, not step 0
    assert suspended.id < starts[1].id and resumed.id < starts[1].id
    # Each step's last word (a resumed job logs again the steps after its checkpoint): the same losses.
    losses = {p["step"]: p["loss"] for p in progress}
    assert losses == reference_losses()
    assert socs and min(v for v in socs if v > 0) >= SOC_FLOOR - 1e-6

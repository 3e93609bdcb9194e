"""The job manager with real worker processes: a NanoGPT job trains, takes the bench's upsets, is SIGKILLed,
and resumes exactly.

These start real workers (``python -m flight.jobs.worker``, torch, the real Shakespeare data) and
drive the supervisor's loop by hand, so they take tens of seconds.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from flight.jobs.checkpoint_names import generation_step
from flight.jobs.checkpoint_names import generations as checkpoint_generations
from flight.jobs.shakespeare import prepared
from flight.supervisor.fault_request import seal
from tests.flight.supervisor._harness import Harness, events, records

SETTINGS = {"config": "shakespeare_cpu", "max_iters": 24, "log_interval": 1, "checkpoint_interval": 8}
BENCH_KEY = bytes(range(32))
DEADLINE = 240.0  # seconds: a loaded 2-core machine trains these 24 steps in well under a minute


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Harness]:
    prepared()  # the workers would fetch the corpus themselves; once, before the clock starts, is kinder
    harness = Harness(tmp_path / "state.db", bench_key=BENCH_KEY)
    harness.supervisor.jobs.bind(zmq.Context.instance(), "tcp://127.0.0.1:*")
    yield harness
    harness.supervisor.jobs.close(grace=1.0)
    harness.close()


class Flight:
    """The supervisor's loop turned by hand, keeping what came down."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.losses: dict[int, dict[int, float]] = {}  # job → step → training loss (the last word on a step)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.outputs: list[dict[str, Any]] = []  # inference results, TM[130,4]

    def turn(self) -> None:
        h = self.harness
        h.supervisor.on_job_messages()
        h.mono += 0.02
        h.advance(0.02)
        tms = h.downlink()
        self.events += events(tms)
        self.outputs += records(tms, 130, 4)
        for record in records(tms, 130, 2):
            if record["kind"] == "progress":
                self.losses.setdefault(record["job"], {})[record["step"]] = record["loss"]
        time.sleep(0.02)

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; events: {self.events[-10:]}"
            self.turn()

    def state(self, job: int) -> str:
        return self.harness.db.conn.execute("SELECT state FROM jobs WHERE id = ?", (job,)).fetchone()[0]


def start(harness: Harness, settings: dict[str, Any]) -> int:
    harness.ok("JOB_START", {"kind": "TRAIN", "config": json.dumps(settings)})
    return harness.db.conn.execute("SELECT MAX(id) FROM jobs").fetchone()[0]


def bench_fault(harness: Harness, kind: str, **fields: Any) -> dict[str, Any]:
    """A request of ``hil seu inject``, as the supervisor's fault socket hands it over."""
    return msgpack.unpackb(harness.supervisor.on_fault_request(seal(BENCH_KEY, kind, time.time_ns(), **fields)))


def test_a_worker_with_upsets_and_a_corrupted_checkpoint_killed_mid_training_resumes_with_the_same_losses(
        live: Harness) -> None:
    """The bench flips an exponent bit of the running job's parameters (found, rolled back), then a bit
    of its newest checkpoint file, then SIGKILLs it: the new worker refuses that generation, resumes
    from the one before, and every loss of the job is still the undisturbed run's."""
    flight = Flight(live)
    reference = start(live, SETTINGS)
    flight.until(lambda: flight.state(reference) == "COMPLETED", "the uninterrupted job")
    assert sorted(flight.losses[reference]) == list(range(1, 25))

    killed = start(live, SETTINGS)
    flight.until(lambda: max(flight.losses.get(killed, {0: 0}), default=0) >= 4, "step 4 of the second job")
    flip = bench_fault(live, "flip", job=killed, target="param", bits="exponent", seed=2, at=[])
    assert flip["ok"], flip
    flight.until(lambda: any(e[0] == "SEU_DETECTED" for e in flight.events), "the flip to be found")
    # Two generations on disk, with the worker frozen, so that none is written (or dropped: one copied
    # while the flip was in memory is deleted) between the damage and the kill.
    generations = live.supervisor.jobs.job_dir(killed) / "checkpoints"
    worker = live.supervisor.jobs.workers[killed]
    while True:
        flight.until(lambda: len(list(generations.glob("step-*.safetensors"))) >= 2,
                     "two checkpoints of the second job")
        os.kill(worker.process.popen.pid, signal.SIGSTOP)
        if len(list(generations.glob("step-*.safetensors"))) >= 2:
            break
        os.kill(worker.process.popen.pid, signal.SIGCONT)
    newest = max(generation_step(path) for path in checkpoint_generations(generations))  # frozen: stays newest
    damage = bench_fault(live, "checkpoint", job=killed, seed=11)
    assert damage["ok"], damage
    os.kill(worker.process.popen.pid, signal.SIGKILL)
    before = dict(flight.losses[killed])
    flight.until(lambda: flight.state(killed) == "COMPLETED", "the resumed job")

    [injected, detected] = [e[1] for e in flight.events if e[0] in ("SEU_INJECTED", "SEU_DETECTED")][:2]
    assert injected["target"].startswith("param.") and detected["target"] == injected["target"]
    assert detected["step"] == injected["step"] and detected["action"].startswith("rolled back")
    [corrupted] = [e[1] for e in flight.events if e[0] == "SEU_INJECTED" and e[1]["target"].startswith("checkpoint")]
    [refused] = [e[1] for e in flight.events if e[0] == "JOB_CHECKPOINT_REJECTED"]
    assert corrupted["target"] == f"checkpoint {refused['path']}"
    lost = [e for e in flight.events if e[0] == "JOB_WORKER_LOST"]
    assert lost == [("JOB_WORKER_LOST", {"job": killed, "reason": f"exit code {-signal.SIGKILL}", "retry": 1,
                                          "retries": 3})]
    started = [e[1] for e in flight.events if e[0] == "JOB_STARTED" and e[1]["job"] == killed]
    assert [s["attempt"] for s in started] == [1, 2]
    resumed_at = started[1]["step"]
    # The newest generation was damaged, and the job resumed from the one before it. (Not compared with the
    # losses heard before the kill: the frozen worker's last report may have died in its queue with it.)
    assert corrupted["step"] == newest and 0 < resumed_at < newest
    # Every step after the restart took the batch and the state it had the first time: the same loss, exactly.
    assert flight.losses[killed] == flight.losses[reference]
    assert all(before[step] == flight.losses[reference][step] for step in before)


def test_a_job_that_always_crashes_fails_after_its_retries(live: Harness) -> None:
    flight = Flight(live)
    live.ok("PARAM_SET", {"name": "jobs.max_retries", "value": 1})
    job = start(live, {**SETTINGS, "max_iters": 1000})
    for attempt in (1, 2):
        flight.until(lambda a=attempt: any(e[0] == "JOB_STARTED" and e[1]["attempt"] == a for e in flight.events),
                     f"attempt {attempt}")
        os.kill(live.supervisor.jobs.workers[job].process.popen.pid, signal.SIGKILL)
    flight.until(lambda: flight.state(job) == "FAILED", "the job to fail")
    assert [e[0] for e in flight.events if e[0].startswith("JOB_")][-1] == "JOB_FAILED"
    assert live.counter("jobs.worker_lost") == 2 and live.counter("jobs.failed") == 1


def test_a_gemma_inference_job_sends_down_the_reference_greedy_completion(live: Harness) -> None:
    fixture = json.loads((Path(__file__).parents[2] / "jobs" / "gemma" / "fixtures" / "greedy_reference.json")
                         .read_text())
    orbit = next(p for p in fixture["prompts"] if p["name"] == "orbit")
    flight = Flight(live)
    live.ok("JOB_START", {"kind": "INFER", "config": json.dumps({"prompt": orbit["text"], "max_new_tokens": 8})})
    job = live.db.conn.execute("SELECT MAX(id) FROM jobs").fetchone()[0]
    flight.until(lambda: flight.state(job) == "COMPLETED", "the inference job")
    [output] = flight.outputs
    assert output["job"] == job and output["ids"] == orbit["ids"][:8]  # transformers' greedy ids, in fp32
    assert output["text"] and output["ttft_s"] > 0 and output["tokens_per_s"] > 0

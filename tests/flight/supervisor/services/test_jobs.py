"""The job manager (PUS 8 JOB_*): the queue in the state database, workers, their messages, retries, safe mode.

Workers are stand-ins here: the launcher records what it was asked to start and returns a fake process
the test lets exit, or not; worker messages are fed straight into ``jobs.on_message`` inside a unit of
work, as ``Supervisor.on_job_messages`` does, and what the manager tells workers is recorded (one test
uses the real ROUTER socket and a DEALER in the test's hands). Time is ``harness.mono``, advanced by hand.
Every housekeeping channel named ``job.*`` or ``jobs.*`` in the dictionary is checked to be fed here
(tests/flight/test_housekeeping_channels.py leaves them to this file).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flight.jobs.job_spec import MAX_PROMPT
from flight.jobs.worker_protocol import (
    FROM_WORKER,
    MAX_MESSAGE,
    WorkerMessageError,
    pack,
    unpack_from_worker,
    unpack_to_worker,
)
from flight.supervisor.services.jobs import MAX_TEXT, JobManager, Worker
from flight.supervisor.verification import FailureCode

from .._harness import (
    ACCEPT_FAILED,
    DICTIONARY,
    FAILED,
    Harness,
    Verdict,
    events,
    hk_reports,
    records,
    verdicts,
)

JOBS_SID = 3
SEU_SID = 4
TRAIN_DEFAULTS = {"config": "shakespeare_cpu", "max_iters": None, "eval_interval": None, "seed": 1337,
                  "checkpoint_interval": 100, "log_interval": 10, "keep": 3, "deterministic": False,
                  "scrub": True, "shadow_interval": 25, "guard": True}
PROGRESS = {"step": 120, "loss": 2.25, "tokens_per_s": 1536.0, "lr": 0.0009765625, "memory": 3 * 2**20}
EVAL = {"step": 120, "train_loss": 2.5, "val_loss": 2.75}
DONE = {"step": 600, "loss": 1.5, "val_loss": 1.625, "tokens_per_s": 2048.0, "checkpoint": "ckpt-600"}


class FakeProcess:
    """A worker process that does nothing: alive until the test (or a kill) ends it."""

    def __init__(self, job: int, attempt: int, kind: str, settings: dict[str, Any], address: str, workdir: Path,
                 device: str | None) -> None:
        self.job, self.attempt, self.kind, self.settings = job, attempt, kind, settings
        self.address, self.workdir, self.device = address, workdir, device
        self.identity = f"{job}:{attempt}".encode()
        self.exitcode: int | None = None
        self.kills = 0
        self.joins: list[float | None] = []

    def is_alive(self) -> bool:
        return self.exitcode is None

    def exit(self, code: int) -> None:
        self.exitcode = code

    def kill(self) -> None:
        self.kills += 1
        if self.exitcode is None:
            self.exitcode = -9

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)


@dataclass
class Bench:
    """A supervisor with fake workers, what it launched and what its job manager told them."""

    harness: Harness
    launched: list[FakeProcess]
    told: list[tuple[int, int, str]] = field(default_factory=list)  # (job, attempt, command)
    advised: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (job, fields): checkpoint periods
    injections: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (job, fields)

    @property
    def jobs(self) -> JobManager:
        return self.harness.supervisor.jobs

    @property
    def last(self) -> FakeProcess:
        return self.launched[-1]

    def start(self, kind: str = "TRAIN", config: dict[str, Any] | str = "") -> int:
        """JOB_START, accepted; the new job's number."""
        text = config if isinstance(config, str) else json.dumps(config)
        self.harness.ok("JOB_START", {"kind": kind, "config": text})
        return self.harness.db.conn.execute("SELECT MAX(id) FROM jobs").fetchone()[0]

    def tick(self, seconds: float = 0.0) -> None:
        """Both clocks forward, then one loop turn's tick."""
        self.harness.mono += seconds
        self.harness.advance(seconds)

    def say(self, who: FakeProcess | bytes, kind: str, **fields: Any) -> None:
        self.deliver(who.identity if isinstance(who, FakeProcess) else who, pack(kind, **fields))

    def deliver(self, identity: bytes, raw: bytes) -> None:
        """One message as ``Supervisor.on_job_messages`` hands it over: inside a unit of work."""
        supervisor = self.harness.supervisor
        with supervisor.unit():
            supervisor.jobs.on_message(identity, raw)

    def running(self, kind: str = "TRAIN", config: dict[str, Any] | str = "", device: str = "cpu") -> FakeProcess:
        """A job started, launched and said hello: its worker."""
        self.start(kind, config)
        self.tick()
        self.say(self.last, "hello", device=device, step=0)
        return self.last

    def state(self, job: int) -> str:
        return self.harness.db.conn.execute("SELECT state FROM jobs WHERE id = ?", (job,)).fetchone()[0]

    def row(self, job: int) -> dict[str, Any]:
        keys = ("state", "attempts", "retries", "step", "loss", "val_loss", "reason")
        row = self.harness.db.conn.execute(f"SELECT {', '.join(keys)} FROM jobs WHERE id = ?", (job,)).fetchone()
        return dict(zip(keys, row, strict=True))

    def param(self, name: str, value: float) -> None:
        self.harness.ok("PARAM_SET", {"name": name, "value": value})

    def hk(self) -> dict[str, Any]:
        """The next JOBS housekeeping report (its interval is 2 s)."""
        self.harness.downlink()
        self.tick(2.0)
        return hk_reports(self.harness.downlink(), JOBS_SID)[-1]


@pytest.fixture
def bench(make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> Bench:
    return make_bench(make_harness, monkeypatch)


def make_bench(make_harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch | None, kind: type[Bench] = Bench,
               **harness: Any) -> Any:
    """A supervisor whose job workers are fakes (and, with ``monkeypatch``, whose words to them are kept)."""
    launched: list[FakeProcess] = []

    def launch(*args: Any) -> FakeProcess:
        launched.append(FakeProcess(*args))
        return launched[-1]

    made = kind(make_harness(job_launcher=launch, **harness), launched)
    if monkeypatch is not None:
        watch_tells(made, monkeypatch)
    return made


def watch_tells(made: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the job manager tells workers goes into ``made``'s lists (and to a socket, where one is bound)."""
    real_tell = JobManager._tell

    def tell(self: JobManager, worker: Worker, command: str, **fields: Any) -> bool:
        if command == "checkpoint_period":
            made.advised.append((worker.job, fields))
        elif command == "inject":
            made.injections.append((worker.job, fields))
        else:
            made.told.append((worker.job, worker.attempt, command))
        real_tell(self, worker, command, **fields)  # sent only where a test bound the socket
        return True

    monkeypatch.setattr(JobManager, "_tell", tell)


def outcome_of(bench: Bench, name: str, job: int) -> tuple[FailureCode | None, list[Verdict]]:
    tc = bench.harness.command(name, {"job": job})
    [outcome] = bench.harness.uplink(tc)
    return outcome.failure, verdicts(bench.harness.downlink(), tc)


# --- JOB_START and the queue ------------------------------------------------------------------------


def test_job_start_queues_the_job_and_the_next_tick_launches_it_with_defaults_filled_in(bench: Bench) -> None:
    job = bench.start("TRAIN", {"max_iters": 50})
    assert events(bench.harness.downlink(), "JOB_QUEUED") == [("JOB_QUEUED", {"job": job, "kind": "TRAIN"})]
    assert job == 1 and bench.state(job) == "QUEUED" and bench.launched == []
    bench.tick()
    [process] = bench.launched
    assert (process.job, process.attempt, process.kind) == (1, 1, "TRAIN")
    assert process.settings == {**TRAIN_DEFAULTS, "max_iters": 50}
    assert process.workdir == bench.jobs.job_dir(1) and process.workdir.name == "job-1"
    assert bench.state(job) == "STARTING" and bench.harness.counter("jobs.started") == 1


def test_hello_makes_a_starting_job_running_and_reports_its_device_and_step(bench: Bench) -> None:
    job = bench.start()
    bench.tick()
    bench.harness.downlink()
    bench.say(bench.last, "hello", device="cuda:0 (NVIDIA H200)", step=300)
    assert bench.state(job) == "RUNNING" and bench.row(job)["step"] == 300
    assert events(bench.harness.downlink(), "JOB_STARTED") == [
        ("JOB_STARTED", {"job": job, "attempt": 1, "device": "cuda:0 (NVIDIA H200)", "step": 300})]
    assert bench.harness.supervisor.sample()["job.device"] == "CUDA"


def test_the_queue_survives_a_restart_of_the_supervisor(bench: Bench) -> None:
    job = bench.start("INFER", {"prompt": "To be"})
    bench.harness.restart()
    assert bench.state(job) == "QUEUED" and bench.harness.supervisor.sample()["jobs.queued"] == 1
    bench.tick()
    [process] = bench.launched
    assert (process.job, process.kind, process.settings["prompt"]) == (job, "INFER", "To be")


@pytest.mark.parametrize(("kind", "config", "field_name", "words"), [
    ("TRAIN", '{"max_iters": 0}', "config.max_iters", "out of"),
    ("TRAIN", '{"max_iters": "10"}', "config.max_iters", "is not a int"),
    ("TRAIN", '{"config": "gpt2"}', "config.config", "shakespeare_cpu"),
    ("TRAIN", '{"learning_rate": 0.1}', "config.learning_rate", "unknown setting"),
    ("TRAIN", '{"max_iters": 10', "config", "not JSON"),
    ("TRAIN", "[1, 2]", "config", "JSON object"),
    ("INFER", '{"model": "gpt2"}', "config.model", "job:N"),
    ("INFER", '{"model": "job:0"}', "config.model", "job:N"),
    ("INFER", '{"model": "job:\\u00b2"}', "config.model", "job:N"),  # a digit, but not one int() reads
    ("INFER", json.dumps({"prompt": "x" * (MAX_PROMPT + 1)}), "config.prompt", "characters"),
    ("INFER", '{"greedy": 1}', "config.greedy", "is not a bool"),
])
def test_a_bad_config_is_refused_at_acceptance_naming_the_field(bench: Bench, kind: str, config: str,
                                                                field_name: str, words: str) -> None:
    tc = bench.harness.command("JOB_START", {"kind": kind, "config": config})
    [outcome] = bench.harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    assert outcome.reason.startswith(f"command.{field_name}: ") and words in outcome.reason
    tms = bench.harness.downlink()
    assert verdicts(tms, tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, field_name)]
    assert events(tms, "JOB_QUEUED") == []
    assert bench.harness.db.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
    bench.tick()
    assert bench.launched == []


def test_one_job_at_a_time_the_next_starts_when_the_first_completes(bench: Bench) -> None:
    first = bench.start()
    second = bench.start("INFER")
    bench.tick()
    assert [p.job for p in bench.launched] == [first]
    bench.say(bench.last, "hello", device="cpu", step=0)
    for _ in range(3):
        bench.tick(1.0)
    assert [p.job for p in bench.launched] == [first] and bench.state(second) == "QUEUED"
    assert bench.harness.supervisor.sample()["jobs.queued"] == 1
    bench.say(bench.last, "done", **DONE)
    bench.tick()
    assert len(bench.launched) == 1  # done, but its worker still holds the device until it exits
    bench.last.exit(0)
    bench.tick()
    assert [p.job for p in bench.launched] == [first, second]
    assert bench.state(first) == "COMPLETED" and bench.state(second) == "STARTING"


# --- what workers report ----------------------------------------------------------------------------


def test_progress_and_eval_become_tm_130_2_and_housekeeping(bench: Bench) -> None:
    worker = bench.running(device="cuda:0")
    bench.harness.downlink()
    bench.say(worker, "progress", **PROGRESS)
    bench.say(worker, "eval", **EVAL)
    assert records(bench.harness.downlink(), 130, 2) == [{"job": 1, "kind": "progress", **PROGRESS},
                                                         {"job": 1, "kind": "eval", **EVAL}]
    report = bench.hk()
    assert report["job.id"] == 1 and report["job.state"] == "RUNNING" and report["job.device"] == "CUDA"
    assert report["job.step"] == 120 and report["job.loss"] == 2.25 and report["job.val_loss"] == 2.75
    assert report["job.tokens_per_s"] == 1536.0 and report["job.lr"] == 0.0009765625
    assert report["job.memory_mb"] == 3.0 and report["job.attempt"] == 1
    assert report["jobs.outputs"] == 2
    assert bench.row(1)["loss"] == 2.25 and bench.row(1)["val_loss"] == 2.75


def test_a_nonfinite_loss_is_reported_but_not_stored(bench: Bench) -> None:
    worker = bench.running()
    bench.say(worker, "progress", **{**PROGRESS, "loss": 2.0})
    bench.say(worker, "progress", **{**PROGRESS, "loss": math.nan})
    [_, last] = records(bench.harness.downlink(), 130, 2)
    assert math.isnan(last["loss"]) and bench.row(1)["loss"] is None
    assert bench.harness.supervisor.sample()["job.loss"] == 0.0


def test_a_sample_becomes_tm_130_3_cut_to_the_packet_limit(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    bench.say(worker, "sample", step=250, text="ROMEO: But soft!")
    bench.say(worker, "sample", step=500, text="x" * 5000)
    assert records(bench.harness.downlink(), 130, 3) == [{"job": 1, "step": 250, "text": "ROMEO: But soft!"},
                                                         {"job": 1, "step": 500, "text": "x" * MAX_TEXT}]


def test_an_inference_output_becomes_tm_130_4_and_a_file_for_cfdp(bench: Bench) -> None:
    worker = bench.running("INFER")
    bench.harness.downlink()
    bench.say(worker, "output", text="the blue and green planet", ids=[1, 2, 3], ttft_s=0.5, tokens_per_s=40.0)
    path = bench.jobs.job_dir(1) / "output.txt"
    [record] = records(bench.harness.downlink(), 130, 4)
    prompt = record.pop("prompt")  # the job's own, so that the ground shows the answer beside it
    assert prompt and prompt == json.loads(bench.jobs.db.conn.execute("SELECT settings FROM jobs").fetchone()[0])["prompt"]
    assert record == {"job": 1, "ids": [1, 2, 3], "ttft_s": 0.5, "tokens_per_s": 40.0,
                      "text": "the blue and green planet", "file": str(path)}
    assert path.read_text() == "the blue and green planet"


def test_a_long_output_is_truncated_in_the_packet_and_written_whole_to_the_job_dir(bench: Bench) -> None:
    worker = bench.running("INFER")
    text = "é" * 1000  # 2000 octets
    bench.say(worker, "output", text=text, ids=list(range(1000)), ttft_s=0.25, tokens_per_s=20.0)
    [record] = records(bench.harness.downlink(), 130, 4)
    path = bench.jobs.job_dir(1) / "output.txt"
    assert record["truncated"] is True and record["file"] == str(path)
    assert record["text"] == "é" * (MAX_TEXT // 2) and len(record["text"].encode()) <= MAX_TEXT
    assert record["ids"] == list(range(256))
    assert path.read_text() == text


def test_done_completes_the_job_with_its_final_loss(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    bench.say(worker, "done", **DONE)
    assert bench.state(1) == "COMPLETED"
    assert bench.row(1) | {"reason": ""} == {"state": "COMPLETED", "attempts": 1, "retries": 0, "step": 600,
                                            "loss": 1.5, "val_loss": 1.625, "reason": ""}
    assert events(bench.harness.downlink(), "JOB_COMPLETED") == [
        ("JOB_COMPLETED", {"job": 1, "steps": 600, "loss": 1.625})]
    assert bench.harness.counter("jobs.completed") == 1
    worker.exit(0)
    bench.tick()
    assert bench.state(1) == "COMPLETED" and len(bench.launched) == 1
    assert bench.harness.counter("jobs.worker_lost") == 0 and worker.joins == [0]


def test_an_inference_done_without_losses_keeps_the_last_loss_and_reports_zero(bench: Bench) -> None:
    worker = bench.running("INFER")
    bench.say(worker, "done", step=64, loss=math.nan, val_loss=math.nan, tokens_per_s=40.0, checkpoint="")
    [(_, arguments)] = events(bench.harness.downlink(), "JOB_COMPLETED")
    assert arguments == {"job": 1, "steps": 64, "loss": 0.0}
    assert bench.row(1)["loss"] is None and bench.row(1)["step"] == 64


def test_checkpoints_are_counted_and_a_rejected_one_raises_an_event(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    bench.say(worker, "checkpoint", step=100, path="/data/job-1/checkpoints/ckpt-100", write_s=0.75)
    bench.say(worker, "checkpoint_rejected", path="/data/job-1/checkpoints/ckpt-200", reason="CRC mismatch")
    bench.say(worker, "checkpoint_failed", reason="OSError: [Errno 28] No space left on device")
    bench.say(worker, "resumed", step=100, path="/data/job-1/checkpoints/ckpt-100")
    assert bench.harness.counter("jobs.checkpoints") == 1 and bench.harness.counter("jobs.checkpoint_failures") == 1
    assert bench.harness.counter("jobs.bad_messages") == 0
    assert events(bench.harness.downlink(), "JOB_CHECKPOINT_REJECTED") == [
        ("JOB_CHECKPOINT_REJECTED", {"job": 1, "path": "ckpt-200", "reason": "CRC mismatch"})]


def test_every_job_housekeeping_channel_of_the_dictionary_is_fed(bench: Bench) -> None:
    gauges_while_running = {"job.id", "job.state", "job.step", "job.loss", "job.val_loss", "job.tokens_per_s",
                            "job.lr", "job.memory_mb", "job.device", "job.attempt", "jobs.queued"}
    counters = {"jobs.started", "jobs.completed", "jobs.failed", "jobs.aborted", "jobs.worker_lost",
                "jobs.bad_messages", "jobs.checkpoints", "jobs.outputs", "jobs.checkpoint_failures", "jobs.upsets",
                "jobs.injections", "jobs.injections_refused"}
    dictionary = {c.name for c in DICTIONARY.telemetry if c.name.startswith(("job.", "jobs."))}
    assert gauges_while_running | counters == dictionary  # a new channel must be fed here too
    assert {c.name for c in DICTIONARY.report(JOBS_SID).channels} == dictionary  # all in the JOBS report
    bench.param("jobs.max_retries", 0)
    worker = bench.running(device="cuda:1")
    bench.start()  # job 2 waits
    bench.say(worker, "progress", **PROGRESS)
    bench.say(worker, "eval", **EVAL)
    bench.say(worker, "checkpoint", step=120, path="ckpt-120", write_s=0.5)
    bench.say(worker, "checkpoint_failed", reason="OSError: disk full")
    bench.say(worker, "upset", **UPSET)
    bench.say(worker, "injected", **INJECTED)
    bench.say(worker, "inject_refused", reason="no such tensor")
    bench.deliver(worker.identity, b"\xc1")
    report = bench.hk()
    enums = {c.name for c in DICTIONARY.telemetry if c.type.name == "enum"}
    for name in gauges_while_running:
        assert (report[name] not in ("NONE", 0)) if name in enums else report[name] > 0, name
    worker.exit(1)  # no retries: job 1 fails, job 2 starts
    bench.tick()
    bench.say(bench.last, "done", **DONE)
    bench.last.exit(0)
    bench.start()
    bench.tick()
    bench.harness.ok("JOB_ABORT", {"job": 3})
    report = bench.hk()
    for name in counters:
        assert report[name] > 0, name
    assert report["jobs.started"] == 3


# --- lost workers and retries ---------------------------------------------------------------------


def test_a_worker_that_exits_unexpectedly_is_lost_and_its_job_relaunched(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    worker.exit(1)
    bench.tick()
    assert events(bench.harness.downlink(), "JOB_WORKER_LOST") == [
        ("JOB_WORKER_LOST", {"job": 1, "reason": "exit code 1", "retry": 1, "retries": 3})]
    [_, again] = bench.launched
    assert (again.job, again.attempt, again.settings) == (1, 2, worker.settings)
    assert bench.state(1) == "STARTING" and bench.row(1)["retries"] == 1
    assert bench.harness.counter("jobs.worker_lost") == 1
    bench.say(again, "hello", device="cpu", step=100)
    [(_, started)] = events(bench.harness.downlink(), "JOB_STARTED")
    assert started == {"job": 1, "attempt": 2, "device": "cpu", "step": 100}


def test_a_worker_reporting_a_device_error_is_lost_with_that_reason(bench: Bench) -> None:
    worker = bench.running(device="cuda:0")
    bench.say(worker, "failed", reason="RuntimeError: CUDA error: an illegal memory access", device_error=True)
    worker.exit(3)
    bench.harness.downlink()
    bench.tick()
    [(_, lost)] = events(bench.harness.downlink(), "JOB_WORKER_LOST")
    assert lost["reason"] == "device error: RuntimeError: CUDA error: an illegal memory access"
    assert bench.row(1)["reason"].startswith("device error")


def test_after_max_retries_the_job_fails_and_is_not_launched_again(bench: Bench) -> None:
    bench.param("jobs.max_retries", 2)
    bench.start()
    bench.harness.downlink()
    for _ in range(3):
        bench.tick()
        bench.last.exit(1)
    bench.tick()
    tms = bench.harness.downlink()
    assert [a["retry"] for _, a in events(tms, "JOB_WORKER_LOST")] == [1, 2]
    assert events(tms, "JOB_FAILED") == [("JOB_FAILED", {"job": 1, "reason": "exit code 1 (2 retries spent)"})]
    assert [p.attempt for p in bench.launched] == [1, 2, 3]
    assert bench.state(1) == "FAILED" and bench.harness.counter("jobs.failed") == 1
    for _ in range(3):
        bench.tick(10.0)
    assert len(bench.launched) == 3 and not bench.jobs.due()


def test_a_failed_job_lets_the_next_one_start(bench: Bench) -> None:
    bench.param("jobs.max_retries", 0)
    bench.start()
    bench.start()
    bench.tick()
    bench.last.exit(1)
    bench.tick()
    assert [p.job for p in bench.launched] == [1, 2] and bench.state(1) == "FAILED"


def test_a_silent_worker_is_killed_and_counted_as_lost(bench: Bench) -> None:
    bench.param("jobs.heartbeat_timeout", 5.0)
    worker = bench.running()
    bench.harness.downlink()
    bench.tick(4.0)
    assert worker.kills == 0 and not bench.jobs.due()
    bench.tick(2.0)  # 6 s since hello
    assert worker.kills == 1
    bench.tick()
    [(_, lost)] = events(bench.harness.downlink(), "JOB_WORKER_LOST")
    assert lost["reason"] == "silent for 6 s"
    assert [p.attempt for p in bench.launched] == [1, 2]


def test_heartbeats_keep_a_worker_alive(bench: Bench) -> None:
    bench.param("jobs.heartbeat_timeout", 5.0)
    worker = bench.running()
    for _ in range(10):
        bench.tick(4.0)
        bench.say(worker, "heartbeat")
        assert not bench.jobs.due()
    assert worker.kills == 0 and len(bench.launched) == 1 and bench.state(1) == "RUNNING"


def test_a_worker_that_never_says_hello_is_killed_after_the_timeout_too(bench: Bench) -> None:
    bench.param("jobs.heartbeat_timeout", 5.0)
    bench.start()
    bench.tick()
    bench.tick(5.5)
    assert bench.launched[0].kills == 1 and bench.state(1) == "STARTING"
    bench.tick()
    assert bench.state(1) == "STARTING" and [p.attempt for p in bench.launched] == [1, 2]


def test_a_paused_job_whose_worker_dies_stays_paused(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("JOB_PAUSE", {"job": 1})
    bench.say(worker, "paused", step=40)
    worker.exit(1)
    bench.tick()
    assert bench.state(1) == "PAUSED" and len(bench.launched) == 1


# --- pause, resume, abort -------------------------------------------------------------------------


def test_pause_and_resume_go_to_the_worker_over_the_real_socket(bench: Bench) -> None:
    supervisor = bench.harness.supervisor
    ctx = zmq.Context()
    try:
        supervisor.jobs.bind(ctx, "tcp://127.0.0.1:*")
        bench.start()
        bench.tick()
        assert bench.last.address == supervisor.jobs.address != ""
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, bench.last.identity)
        dealer.connect(supervisor.jobs.address)

        def worker_says(kind: str, state: str, **fields: Any) -> None:
            dealer.send(pack(kind, **fields))
            deadline = time.monotonic() + 2.0
            while bench.state(1) != state:
                assert time.monotonic() < deadline, f"{kind} never arrived"
                supervisor.on_job_messages()
                time.sleep(0.002)

        def worker_hears() -> str:
            assert dealer.poll(2000), "nothing was sent to the worker"
            return unpack_to_worker(dealer.recv())[0]

        worker_says("hello", "RUNNING", device="cpu", step=0)
        bench.harness.downlink()
        bench.harness.ok("JOB_PAUSE", {"job": 1})
        assert worker_hears() == "pause" and bench.state(1) == "RUNNING"  # until the worker has checkpointed
        worker_says("paused", "PAUSED", step=42)
        assert events(bench.harness.downlink(), "JOB_PAUSED") == [("JOB_PAUSED", {"job": 1, "step": 42})]
        bench.harness.ok("JOB_RESUME", {"job": 1})
        assert worker_hears() == "resume" and bench.state(1) == "RUNNING"
        assert events(bench.harness.downlink(), "JOB_RESUMED") == [("JOB_RESUMED", {"job": 1})]
        dealer.send_multipart([b"one", b"frame", b"too many"])
        deadline = time.monotonic() + 2.0
        while bench.harness.counter("jobs.bad_messages") == 0:
            assert time.monotonic() < deadline
            supervisor.on_job_messages()
            time.sleep(0.002)
    finally:
        ctx.destroy(linger=0)


def test_pause_and_resume_of_a_running_job_tell_its_worker(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("JOB_PAUSE", {"job": 1})
    bench.say(worker, "paused", step=7)
    assert bench.state(1) == "PAUSED"
    bench.tick(30.0)
    bench.harness.ok("JOB_RESUME", {"job": 1})
    assert bench.told == [(1, 1, "pause"), (1, 1, "resume")] and bench.state(1) == "RUNNING"
    assert len(bench.launched) == 1


def test_a_queued_job_pauses_without_a_worker_and_resumes_into_the_queue(bench: Bench) -> None:
    bench.start()
    bench.harness.ok("JOB_PAUSE", {"job": 1})
    assert bench.state(1) == "PAUSED"
    assert events(bench.harness.downlink(), "JOB_PAUSED") == [("JOB_PAUSED", {"job": 1, "step": 0})]
    bench.tick()
    assert bench.launched == [] and bench.told == []
    bench.harness.ok("JOB_RESUME", {"job": 1})
    assert bench.state(1) == "QUEUED"
    assert events(bench.harness.downlink(), "JOB_RESUMED") == [("JOB_RESUMED", {"job": 1})]
    bench.tick()
    assert [p.job for p in bench.launched] == [1]


def test_a_paused_job_without_a_live_worker_resumes_into_the_queue(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("JOB_PAUSE", {"job": 1})
    bench.say(worker, "paused", step=7)
    bench.harness.restart()  # the worker died with the supervisor; the job stays paused
    assert bench.state(1) == "PAUSED" and events(bench.harness.downlink(), "JOB_SUSPENDED") == []
    bench.tick()
    assert len(bench.launched) == 1
    bench.harness.ok("JOB_RESUME", {"job": 1})
    assert bench.state(1) == "QUEUED"
    bench.tick()
    assert [p.attempt for p in bench.launched] == [1, 2] and bench.told == [(1, 1, "pause")]


@pytest.mark.parametrize(("name", "state"), [
    ("JOB_PAUSE", "STARTING"), ("JOB_PAUSE", "PAUSED"), ("JOB_PAUSE", "COMPLETED"), ("JOB_PAUSE", "ABORTED"),
    ("JOB_RESUME", "QUEUED"), ("JOB_RESUME", "STARTING"), ("JOB_RESUME", "RUNNING"), ("JOB_RESUME", "COMPLETED"),
    ("JOB_ABORT", "COMPLETED"), ("JOB_ABORT", "ABORTED"), ("JOB_ABORT", "FAILED"),
])
def test_a_command_for_a_job_in_the_wrong_state_fails_naming_the_job(bench: Bench, name: str, state: str) -> None:
    bench.param("jobs.max_retries", 0)
    bench.start()
    if state != "QUEUED":
        bench.tick()
    if state in ("PAUSED", "RUNNING", "COMPLETED"):
        bench.say(bench.last, "hello", device="cpu", step=0)
    if state == "PAUSED":
        bench.harness.ok("JOB_PAUSE", {"job": 1})
        bench.say(bench.last, "paused", step=1)
    elif state == "COMPLETED":
        bench.say(bench.last, "done", **DONE)
    elif state == "ABORTED":
        bench.harness.ok("JOB_ABORT", {"job": 1})
    elif state == "FAILED":
        bench.last.exit(1)
        bench.tick()
    assert bench.state(1) == state
    bench.harness.downlink()
    failure, reports = outcome_of(bench, name, 1)
    assert failure is FailureCode.EXECUTION_ERROR and reports[-1] == Verdict(FAILED, FailureCode.EXECUTION_ERROR, "job")
    assert bench.state(1) == state


@pytest.mark.parametrize("name", ["JOB_PAUSE", "JOB_RESUME", "JOB_ABORT", "JOB_STATUS"])
def test_a_command_for_a_job_that_does_not_exist_fails_naming_the_job(bench: Bench, name: str) -> None:
    bench.start()
    failure, reports = outcome_of(bench, name, 99)
    assert failure is FailureCode.EXECUTION_ERROR and reports[-1] == Verdict(FAILED, FailureCode.EXECUTION_ERROR, "job")


def test_abort_stops_the_worker_and_kills_it_after_the_grace(bench: Bench) -> None:
    bench.param("jobs.stop_grace", 2.0)
    worker = bench.running()
    bench.harness.downlink()
    bench.harness.ok("JOB_ABORT", {"job": 1})
    assert bench.state(1) == "ABORTED" and bench.told == [(1, 1, "stop")]
    assert events(bench.harness.downlink(), "JOB_ABORTED") == [("JOB_ABORTED", {"job": 1, "reason": "by command"})]
    bench.tick(1.5)
    assert worker.kills == 0 and not bench.jobs.due()
    bench.tick(0.5)
    assert worker.kills == 1
    bench.tick()
    assert bench.state(1) == "ABORTED" and len(bench.launched) == 1  # not retried
    assert bench.harness.counter("jobs.aborted") == 1 and bench.harness.counter("jobs.worker_lost") == 0
    assert events(bench.harness.downlink(), "JOB_WORKER_LOST") == [] and not bench.jobs.due()


def test_an_aborted_job_whose_worker_exits_by_itself_is_not_retried(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("JOB_ABORT", {"job": 1})
    worker.exit(0)
    bench.tick()
    assert worker.kills == 0 and len(bench.launched) == 1 and bench.state(1) == "ABORTED"
    assert bench.told == [(1, 1, "stop")]  # said once


def test_a_paused_report_after_an_abort_leaves_the_job_aborted(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.ok("JOB_PAUSE", {"job": 1})
    bench.harness.ok("JOB_ABORT", {"job": 1})
    bench.harness.downlink()
    bench.say(worker, "paused", step=9)  # it had checkpointed for the pause before it heard the stop
    assert bench.state(1) == "ABORTED" and events(bench.harness.downlink(), "JOB_PAUSED") == []


def test_an_aborted_queued_job_never_starts(bench: Bench) -> None:
    bench.start()
    bench.harness.ok("JOB_ABORT", {"job": 1})
    bench.tick()
    assert bench.launched == [] and bench.state(1) == "ABORTED" and bench.told == []


# --- JOB_STATUS -------------------------------------------------------------------------------------


def test_job_status_zero_lists_every_job_and_n_one_job(bench: Bench) -> None:
    worker = bench.running(device="cuda:0")
    bench.say(worker, "progress", **PROGRESS)
    bench.start("INFER")
    bench.harness.ok("JOB_ABORT", {"job": 2})
    bench.harness.downlink()
    bench.harness.ok("JOB_STATUS", {"job": 0})
    [listing] = records(bench.harness.downlink(), 130, 1)
    assert listing == {"jobs": [
        {"job": 1, "kind": "TRAIN", "state": "RUNNING", "attempts": 1, "retries": 0, "step": 120, "loss": 2.25,
         "val_loss": None, "reason": "", "device": "cuda:0"},
        {"job": 2, "kind": "INFER", "state": "ABORTED", "attempts": 0, "retries": 0, "step": 0, "loss": None,
         "val_loss": None, "reason": "by command", "device": ""}]}
    bench.harness.ok("JOB_STATUS", {"job": 2})
    [one] = records(bench.harness.downlink(), 130, 1)
    assert one == {"jobs": [listing["jobs"][1]]}


def test_job_status_with_no_jobs_reports_an_empty_list(bench: Bench) -> None:
    bench.harness.ok("JOB_STATUS", {"job": 0})
    assert records(bench.harness.downlink(), 130, 1) == [{"jobs": []}]


# --- safe mode and restarts -----------------------------------------------------------------------


def test_safe_mode_suspends_every_unfinished_job_and_nothing_starts_until_resumed(bench: Bench) -> None:
    worker = bench.running()
    bench.start()
    bench.start()
    bench.harness.ok("JOB_PAUSE", {"job": 3})
    bench.harness.downlink()
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "thermal"})
    tms = bench.harness.downlink()
    assert events(tms, "JOB_SUSPENDED") == [("JOB_SUSPENDED", {"job": job, "reason": "safe mode: thermal"})
                                            for job in (1, 2, 3)]
    assert [bench.state(job) for job in (1, 2, 3)] == ["SUSPENDED"] * 3
    assert bench.told == [(1, 1, "stop")]
    worker.exit(0)  # it checkpointed and stopped as told
    for _ in range(3):
        bench.tick(5.0)
    assert len(bench.launched) == 1 and bench.harness.counter("jobs.worker_lost") == 0
    assert bench.harness.send("JOB_RESUME", {"job": 1}).failure is FailureCode.NOT_ALLOWED
    assert bench.harness.send("JOB_START", {"kind": "TRAIN", "config": ""}).failure is FailureCode.NOT_ALLOWED
    bench.harness.ok("SAFE_MODE_EXIT")
    bench.tick()
    assert len(bench.launched) == 1  # suspended jobs wait for JOB_RESUME
    bench.harness.ok("JOB_RESUME", {"job": 1})
    assert bench.state(1) == "QUEUED"
    bench.tick()
    assert [(p.job, p.attempt) for p in bench.launched] == [(1, 1), (1, 2)]
    assert bench.row(1)["retries"] == 0 and bench.state(2) == "SUSPENDED"


def test_a_worker_slow_to_stop_in_safe_mode_is_killed_after_the_grace(bench: Bench) -> None:
    bench.param("jobs.stop_grace", 3.0)
    worker = bench.running()
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    bench.tick(2.0)
    assert worker.kills == 0
    bench.tick(1.0)
    assert worker.kills == 1
    bench.tick()
    assert bench.state(1) == "SUSPENDED" and len(bench.launched) == 1 and not bench.jobs.due()


def test_a_job_resumed_before_its_old_worker_stopped_starts_once_it_has(bench: Bench) -> None:
    bench.param("jobs.stop_grace", 3.0)
    worker = bench.running()
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    bench.harness.ok("SAFE_MODE_EXIT")
    bench.harness.ok("JOB_RESUME", {"job": 1})
    assert bench.state(1) == "QUEUED" and bench.told == [(1, 1, "stop")]  # no "resume" to a stopping worker
    bench.tick()
    assert len(bench.launched) == 1  # the old worker still holds the device
    bench.tick(3.0)
    assert worker.kills == 1
    bench.tick()
    assert [p.attempt for p in bench.launched] == [1, 2] and bench.harness.counter("jobs.worker_lost") == 0


def test_a_restart_loop_leaves_a_running_job_suspended_not_relaunched(bench: Bench) -> None:
    bench.param("health.max_restarts", 1)
    bench.running()
    bench.harness.restart()
    bench.tick()
    assert [p.attempt for p in bench.launched] == [1, 2]
    bench.harness.restart()  # the second restart within the window: a restart loop holds safe mode
    tms = bench.harness.downlink()
    assert events(tms, "RESTART_LOOP") != [] and bench.state(1) == "SUSPENDED"
    assert [a["reason"] for _, a in events(tms, "JOB_SUSPENDED")][-1].startswith("safe mode: restart loop")
    for _ in range(3):
        bench.tick(5.0)
    assert len(bench.launched) == 2


@pytest.mark.parametrize("said_hello", [True, False], ids=["running", "starting"])
def test_a_restart_requeues_an_active_job_without_counting_a_retry(bench: Bench, said_hello: bool) -> None:
    bench.start()
    bench.tick()
    if said_hello:
        bench.say(bench.last, "hello", device="cpu", step=0)
    bench.harness.restart()
    assert bench.state(1) == "QUEUED"
    assert events(bench.harness.downlink(), "JOB_SUSPENDED") == [
        ("JOB_SUSPENDED", {"job": 1, "reason": "supervisor restarted: restarts from its last checkpoint"})]
    bench.tick()
    assert [(p.job, p.attempt) for p in bench.launched] == [(1, 1), (1, 2)]
    assert bench.row(1)["retries"] == 0 and bench.harness.counter("jobs.worker_lost") == 0


def test_close_tells_workers_to_stop_then_kills_those_still_alive(bench: Bench) -> None:
    worker = bench.running()
    bench.jobs.close(grace=0.0)
    assert bench.told == [(1, 1, "stop")] and worker.joins == [0.0] and worker.kills == 1


# --- garbage from workers ---------------------------------------------------------------------------


def live_identity(bench: Bench) -> tuple[bytes, FakeProcess]:
    """The running job's worker, started by the first example (hypothesis reuses the bench across examples)."""
    if not bench.launched:
        bench.running()
    return bench.last.identity, bench.last


def names_the_worker(identity: bytes, worker: FakeProcess) -> bool:
    """Whether ``identity`` reads as ``job:attempt`` of the live worker."""
    try:
        job, _, attempt = identity.decode("ascii").partition(":")
        return (int(job), int(attempt)) == (worker.job, worker.attempt)
    except ValueError:
        return False


garbage_settings = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@garbage_settings
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_from_the_live_worker_are_counted_and_never_raise(bench: Bench, raw: bytes) -> None:
    identity, _ = live_identity(bench)
    try:
        unpack_from_worker(raw)
    except WorkerMessageError:
        pass
    else:
        assume(False)  # a valid message by chance: not garbage
    before = bench.harness.counter("jobs.bad_messages")
    bench.deliver(identity, raw)
    assert bench.harness.counter("jobs.bad_messages") == before + 1


@garbage_settings
@given(identity=st.binary(max_size=12) | st.from_regex(rb"\A-?[0-9]{1,5}:-?[0-9]{1,5}\Z"))
def test_messages_from_unknown_identities_are_counted_and_never_raise(bench: Bench, identity: bytes) -> None:
    _, worker = live_identity(bench)
    assume(not names_the_worker(identity, worker))
    before = bench.harness.counter("jobs.bad_messages")
    bench.deliver(identity, pack("done", **DONE))
    assert bench.harness.counter("jobs.bad_messages") == before + 1 and bench.state(1) == "RUNNING"


def in_range_values() -> st.SearchStrategy[Any]:
    """Any msgpack value whose numbers fit the job table and the events: u32 and f32 (see the out-of-range test)."""
    scalars = (st.none() | st.booleans() | st.integers(0, 2**32 - 1) | st.floats(width=32) | st.text(max_size=20)
               | st.binary(max_size=10))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@garbage_settings
@given(kind=st.sampled_from([*FROM_WORKER, "pause", "stop", "", "HELLO"]),
       fields=st.dictionaries(st.sampled_from(sorted({n for spec in FROM_WORKER.values() for n in spec} | {"job"})),
                              in_range_values(), max_size=6))
def test_maps_with_wrong_types_or_kinds_are_counted_and_valid_ones_handled(bench: Bench, kind: str,
                                                                           fields: dict[str, Any]) -> None:
    identity, _ = live_identity(bench)
    raw = msgpack.packb({"kind": kind, **fields}, use_bin_type=True)
    try:
        unpack_from_worker(raw)
        valid = True
    except WorkerMessageError:
        valid = False
    before = bench.harness.counter("jobs.bad_messages")
    bench.deliver(identity, raw)
    assert bench.harness.counter("jobs.bad_messages") == before + (0 if valid else 1)
    bench.harness.downlink()  # what a valid one made must go down (pack and frame) without error


def test_messages_from_a_stale_attempt_or_another_job_are_counted(bench: Bench) -> None:
    old = bench.running()
    old.exit(1)
    bench.tick()
    new = bench.last
    bench.say(new, "hello", device="cpu", step=0)
    for identity in (old.identity, b"1:3", b"1:0", b"2:1", b"0:0", b"1", b"1:2:3", b"", b"\xff:1"):
        bench.say(identity, "done", **DONE)
    assert bench.harness.counter("jobs.bad_messages") == 9 and bench.state(1) == "RUNNING"


@pytest.mark.parametrize(("kind", "fields"), [
    ("hello", {"device": "cpu", "step": -1}),
    ("hello", {"device": "cpu", "step": 2**32}),
    ("progress", {**PROGRESS, "step": 2**63}),
    ("eval", {**EVAL, "step": 2**64 - 1}),
    ("paused", {"step": -5}),
    ("done", {**DONE, "step": 2**40}),
    ("done", {**DONE, "val_loss": 1e39}),
], ids=["hello negative", "hello u32+1", "progress int64+1", "eval u64", "paused negative", "done 2^40",
        "done loss beyond f32"])
def test_out_of_range_numbers_never_raise(bench: Bench, kind: str, fields: dict[str, Any]) -> None:
    worker = bench.running()
    if kind == "paused":
        bench.harness.ok("JOB_PAUSE", {"job": 1})
    bench.say(worker, kind, **fields)  # refused (counted in jobs.bad_messages) or clamped: either, never a raise
    bench.say(worker, "heartbeat")
    bench.tick(2.0)
    assert hk_reports(bench.harness.downlink(), JOBS_SID) != []


def test_an_output_whose_ids_are_not_token_numbers_never_raises(bench: Bench) -> None:
    worker = bench.running("INFER")
    ids: list[Any] = ["y" * 250] * 256  # a message of 64.6 kB: grown to the limit by its last "id"
    while len(pack("output", text="", ids=[*ids[:-1], ids[-1] + "y"], ttft_s=0.0, tokens_per_s=0.0)) <= MAX_MESSAGE:
        ids[-1] += "y"
    bench.say(worker, "output", text="", ids=ids, ttft_s=0.0, tokens_per_s=0.0)
    bench.harness.downlink()


def test_extra_fields_cannot_rename_the_job_or_swell_its_packet(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    bench.say(worker, "progress", **PROGRESS, job=999)
    bench.say(worker, "progress", **PROGRESS, padding="x" * 65_300)
    assert records(bench.harness.downlink(), 130, 2) == [{"job": 1, "kind": "progress", **PROGRESS}] * 2


# --- an idle supervisor ----------------------------------------------------------------------------


def test_an_idle_supervisor_opens_no_units_for_jobs(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks: list[float] = []
    real_tick = JobManager.tick
    monkeypatch.setattr(JobManager, "tick", lambda self: (ticks.append(self.monotonic()), real_tick(self))[1])
    bench.tick()  # the first turn after boot looks at the queue once
    assert not bench.jobs.due()
    for _ in range(20):
        bench.tick(0.5)
    assert len(ticks) <= 1
    worker = bench.running()
    ticks.clear()
    for _ in range(20):
        bench.tick(0.5)
        bench.say(worker, "heartbeat")
    assert ticks == [] and not bench.jobs.due()  # a live worker that is heard needs no tick either
    bench.say(worker, "done", **DONE)
    worker.exit(0)
    bench.tick()
    assert len(ticks) == 1 and not bench.jobs.due()
    for _ in range(20):
        bench.tick(0.5)
    assert len(ticks) == 1


def test_nothing_starts_in_safe_mode_even_with_a_job_in_the_queue(bench: Bench) -> None:
    bench.harness.ok("SAFE_MODE_ENTER", {"reason": "x"})
    with bench.harness.supervisor.unit():  # no command queues a job in safe mode: the row is written here
        bench.harness.db.conn.execute("INSERT INTO jobs (kind, settings, state, created) "
                                      "VALUES ('TRAIN', '{}', 'QUEUED', 0)")
        bench.jobs._maybe_queued = True
    assert not bench.jobs.due()
    with bench.harness.supervisor.unit():
        bench.jobs.tick()
    assert bench.launched == []
    bench.harness.ok("SAFE_MODE_EXIT")
    bench.tick()
    assert [p.job for p in bench.launched] == [1]


# --- upset protection ---------------------------------------------------------------------------------

UPSET = {"step": 412, "target": "optim.blocks.0.attn.proj.weight.exp_avg_sq", "block": 3,
         "action": "rolled back to step 400 (shadow)", "lost_steps": 12}
INJECTED = {"step": 37, "target": "param.blocks.1.mlp.fc.weight", "element": 4099, "bit": 30}
PROTECTION = {"scrubbed_bytes": 3 * 2**20, "detections": 2, "rollbacks": 1, "lost_steps": 12, "repairs": 0}


def test_an_upset_raises_an_event_naming_the_tensor_block_and_action(bench: Bench) -> None:
    worker = bench.running()
    bench.harness.downlink()
    bench.say(worker, "upset", **UPSET)
    assert events(bench.harness.downlink(), "SEU_DETECTED") == [("SEU_DETECTED", {
        "job": 1, "step": 412, "target": UPSET["target"], "block": 3, "action": UPSET["action"]})]
    assert bench.harness.counter("jobs.upsets") == 1 and bench.harness.counter("jobs.bad_messages") == 0


def test_the_protection_totals_feed_the_seu_housekeeping_report(bench: Bench) -> None:
    channels = {c.name for c in DICTIONARY.report(SEU_SID).channels}
    assert channels == {c.name for c in DICTIONARY.telemetry if c.name.startswith(("seu.", "ecc.", "faults."))}
    worker = bench.running()
    bench.harness.downlink()
    bench.tick(2.0)
    idle = hk_reports(bench.harness.downlink(), SEU_SID)[-1]
    totals = {"seu.scrubbed_mb", "seu.detections", "seu.rollbacks", "seu.lost_steps", "seu.repairs"}
    assert all(idle[name] == 0 for name in totals)
    bench.say(worker, "protection", **PROTECTION)
    bench.tick(2.0)
    report = hk_reports(bench.harness.downlink(), SEU_SID)[-1]
    assert {name: report[name] for name in totals} == {"seu.scrubbed_mb": 3.0, "seu.detections": 2,
                                                       "seu.rollbacks": 1, "seu.lost_steps": 12, "seu.repairs": 0}


def test_the_young_daly_interval_comes_from_the_measured_cost_and_the_upsets_seen(bench: Bench) -> None:
    worker = bench.running()
    bench.say(worker, "checkpoint", step=100, path="ckpt-100", write_s=2.0)
    bench.tick(3000.0)  # 3000 s of exposure, no upset yet: the MTBF is at least that
    values = bench.harness.supervisor.sample()
    assert values["seu.checkpoint_cost_s"] == 2.0 and values["seu.mtbf_s"] == pytest.approx(3000.0)
    assert values["seu.checkpoint_interval_s"] == pytest.approx(math.sqrt(2 * 2.0 * 3000.0))
    for _ in range(10):
        bench.say(worker, "upset", **UPSET)
    values = bench.harness.supervisor.sample()
    assert values["seu.mtbf_s"] == 600.0  # 300 s by the count, but never below seu.mtbf_floor
    bench.harness.ok("PARAM_SET", {"name": "seu.checkpoint_interval", "value": 120.0})
    assert bench.harness.supervisor.sample()["seu.checkpoint_interval_s"] == 120.0


def test_the_running_job_is_told_the_young_daly_interval_when_it_moves_by_a_tenth(bench: Bench) -> None:
    worker = bench.running()
    assert bench.advised == []  # nothing measured yet: the job keeps to its checkpoint_interval steps
    bench.say(worker, "checkpoint", step=100, path="ckpt-100", write_s=2.0)
    bench.tick(3000.0)
    bench.say(worker, "checkpoint", step=200, path="ckpt-200", write_s=2.0)
    first = math.sqrt(2 * 2.0 * 600.0)  # advised at the first write: MTBF at its floor, exposure still ~0
    second = math.sqrt(2 * 2.0 * 3000.0)
    assert [(job, f["seconds"]) for job, f in bench.advised] == [(1, pytest.approx(first)), (1, pytest.approx(second))]
    bench.say(worker, "checkpoint", step=300, path="ckpt-300", write_s=2.1)  # within a tenth: not said again
    assert len(bench.advised) == 2
    for _ in range(5):
        bench.say(worker, "upset", **UPSET)  # the MTBF falls to 600 s: checkpoint more often
    assert bench.advised[-1] == (1, {"seconds": pytest.approx(math.sqrt(2 * 2.1 * 600.0))})
    bench.harness.ok("PARAM_SET", {"name": "seu.checkpoint_interval", "value": 45.0})
    bench.say(worker, "checkpoint", step=400, path="ckpt-400", write_s=2.1)
    assert bench.advised[-1] == (1, {"seconds": 45.0})  # the operator's override goes to the job too


def test_a_bench_injection_reaches_only_a_running_job_and_its_landing_raises_an_event(bench: Bench) -> None:
    jobs = bench.harness.supervisor.jobs
    fields = {"target": "param", "bits": "exponent", "seed": 3, "at": []}
    assert not jobs.tell_running(1, "inject", **fields)  # no such job
    worker = bench.running()
    bench.start()  # job 2 waits in the queue
    assert not jobs.tell_running(2, "inject", **fields) and bench.injections == []
    assert jobs.tell_running(1, "inject", **fields) and bench.injections == [(1, fields)]
    bench.harness.downlink()
    bench.say(worker, "injected", **INJECTED)
    bench.say(worker, "inject_refused", reason="target 'param.nope': no such tensor or class in this job")
    assert [e for e in events(bench.harness.downlink()) if e[0].startswith("SEU_INJECT")] == [
        ("SEU_INJECTED", {"job": 1, **INJECTED}),
        ("SEU_INJECTION_REFUSED", {"job": 1, "reason": "target 'param.nope': no such tensor or class in this job"})]
    assert bench.harness.counter("jobs.injections") == 1 and bench.harness.counter("jobs.injections_refused") == 1


def test_scrub_now_tells_the_running_job_and_fails_with_none_running(bench: Bench) -> None:
    tc = bench.harness.command("SCRUB_NOW", {})
    [outcome] = bench.harness.uplink(tc)
    assert outcome.failure is not None
    bench.running()
    bench.harness.ok("SCRUB_NOW", {})
    assert bench.told == [(1, 1, "scrub")]


def test_the_protection_settings_of_a_training_job_default_to_the_seu_parameters(bench: Bench) -> None:
    bench.param("seu.shadow_interval", 5)
    bench.harness.ok("PARAM_SET", {"name": "seu.guard", "value": False})
    bench.start("TRAIN", {"scrub": False})
    bench.tick()
    assert {k: bench.last.settings[k] for k in ("scrub", "shadow_interval", "guard")} == {
        "scrub": False, "shadow_interval": 5, "guard": False}
    bench.start("INFER", {"prompt": "To be"})
    assert "scrub" not in json.loads(bench.harness.db.conn.execute(
        "SELECT settings FROM jobs WHERE id = 2").fetchone()[0])

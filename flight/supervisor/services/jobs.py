"""The job manager: JOB_START, JOB_PAUSE, JOB_RESUME, JOB_ABORT and JOB_STATUS (PUS 8 functions).

Jobs are rows of the state database, so the queue survives a kill; the worker processes are the only
thing held in memory. One job holds the device at a time; the oldest queued job starts when it is
free. A worker that crashes, goes silent for ``jobs.heartbeat_timeout`` or reports a device error is
killed, an event says why, and the job goes back to the head of the queue to restart from its last
good checkpoint, ``jobs.max_retries`` times at most. A restarted supervisor finds its jobs' workers
gone (they die with it) and queues them again, without counting that against their retries.

Workers talk over one ZMQ ROUTER socket (``take`` reads it); their reports become telemetry:
progress and evaluations in TM[130,2], text samples in TM[130,3], inference results in TM[130,4],
and JOB_STATUS answers in TM[130,1]. Importing this module never imports torch: the worker does.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zmq

from flight.atomic_file import write_atomic
from flight.counters import Counters
from flight.dictionary.packing import pack_record
from flight.jobs.job_spec import parse_job_config
from flight.jobs.worker_protocol import WorkerMessageError, pack, unpack_from_worker
from flight.link.errors import ConfigError
from flight.seu.checkpoint_interval import checkpoint_interval
from flight.supervisor.dispatch import CommandContext, CommandFailed
from flight.supervisor.services.events import EventReporter
from flight.supervisor.services.functions import FunctionManagement
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import Telemetry

if TYPE_CHECKING:
    from flight.dictionary.model import Command

JOB_SERVICE = 130
STATUS, PROGRESS, SAMPLE, OUTPUT = 1, 2, 3, 4
ACTIVE = ("STARTING", "RUNNING", "PAUSED")  # states in which a worker holds the device
FINAL = ("COMPLETED", "FAILED", "ABORTED")
MAX_TEXT = 900  # octets of generated text in one packet (the whole text is in the job's output.txt)
MAX_PROMPT = 256  # octets of the prompt repeated with the answer, so that the ground shows them together
STATUS_ROWS = 32  # jobs in one JOB_STATUS report (the newest)


@dataclass
class Worker:
    job: int
    attempt: int
    process: Any  # a WorkerProcess (or a test's stand-in)
    last_heard: float
    device: str = ""
    stop_deadline: float | None = None
    failure: str = ""
    device_error: bool = False
    done: bool = False
    latest: dict[str, Any] = field(default_factory=dict)
    started: float = 0.0  # monotonic, when launched: its share of the jobs' exposure to upsets
    advised_period: float | None = None  # the checkpoint interval last sent to it, seconds

    def device_kind(self) -> str:
        """The job.device enum label of what the worker said it runs on."""
        if not self.device:
            return "NONE"
        return "CUDA" if self.device.startswith("cuda") else "CPU"


class WorkerProcess:
    """A worker as a fresh interpreter (``python -m flight.jobs.worker``): spawned, never forked.

    A fork would copy the supervisor's sockets, database handle and threads into a process that
    then imports torch; multiprocessing's spawn would re-import whatever script started the
    supervisor. A new interpreter given its job as JSON on the command line shares nothing, and
    the job's settings stay data (no pickle crosses). Its output goes to the job's ``worker.log``.
    """

    def __init__(self, command: list[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.popen = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        if self.is_alive():
            self.popen.kill()

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout)


def default_launcher(job: int, attempt: int, kind: str, settings: dict[str, Any], address: str, workdir: Path,
                     device: str | None) -> WorkerProcess:
    spec = {"job": job, "attempt": attempt, "kind": kind, "settings": settings, "address": address,
            "workdir": str(workdir), "device": device, "parent": os.getpid()}
    return WorkerProcess([sys.executable, "-m", "flight.jobs.worker", json.dumps(spec)], workdir / "worker.log")


PROTECTION_SETTINGS = ("scrub", "shadow_interval", "guard")  # a TRAIN job's, defaulted from seu.* parameters
PROTECTION_TOTALS = ("scrubbed_bytes", "detections", "rollbacks", "lost_steps", "repairs")


class JobManager:
    def __init__(self, db: StateDb, telemetry: Telemetry, events: EventReporter, apid: int, workdir: Path,
                 parameter: Callable[[str], Any], monotonic: Callable[[], float] = time.monotonic,
                 device: str | None = None, launcher: Callable[..., Any] = default_launcher,
                 allowed: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        self.telemetry = telemetry
        self.events = events
        self.apid = apid
        self.workdir = workdir
        self.parameter = parameter
        self.monotonic = monotonic
        self.device = device
        self.launcher = launcher
        self.counters = Counters("jobs")
        self.workers: dict[int, Worker] = {}
        self.socket: zmq.Socket | None = None
        self.address = ""
        self.allowed = allowed  # False in safe mode: nothing new starts
        self._maybe_queued = True  # cleared when the queue is found empty, so an idle loop asks nothing
        self._exposure_s = 0.0  # seconds workers ran, in this supervisor's life (those that ended)
        self._checkpoint_cost_s = 0.0  # the last checkpoint write a worker reported

    # --- wiring -----------------------------------------------------------------------------------

    def bind(self, ctx: zmq.Context, address: str) -> None:
        """The ROUTER socket workers connect to (``address`` as workers see it)."""
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, 256 * 1024)
        self.socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted worker reuses its identity at once
        try:
            self.socket.bind(address)
        except zmq.ZMQError as exc:
            self.socket.close(0)
            self.socket = None
            raise ConfigError(f"cannot bind the job workers' socket {address}: {exc}") from None
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def register(self, functions: FunctionManagement) -> None:
        functions.add("JOB_START", self._start, self._check_start)
        functions.add("JOB_PAUSE", self._pause)
        functions.add("JOB_RESUME", self._resume)
        functions.add("JOB_ABORT", self._abort)
        functions.add("JOB_STATUS", self._status)
        functions.add("SCRUB_NOW", self._scrub_now)

    def recover(self) -> None:
        """At boot (inside a unit): jobs whose workers died with the last supervisor go back in the queue."""
        # A paused job stays paused: JOB_RESUME starts its new worker.
        rows = self.db.conn.execute("SELECT id FROM jobs WHERE state IN ('STARTING', 'RUNNING')").fetchall()
        for (job,) in rows:
            self._set(job, "QUEUED", "supervisor restarted")
            self.events.raise_event("JOB_SUSPENDED", job=job, reason="supervisor restarted: restarts from "
                                                                    "its last checkpoint")

    # --- commands ---------------------------------------------------------------------------------

    @staticmethod
    def _check_start(_command: Command, arguments: dict[str, Any]) -> None:
        parse_job_config(arguments["kind"], arguments["config"])  # refused at acceptance, field named

    def _start(self, ctx: CommandContext) -> None:
        kind = ctx.arguments["kind"]
        protection = {name: self.parameter(f"seu.{name}") for name in PROTECTION_SETTINGS} if kind == "TRAIN" else {}
        settings = parse_job_config(kind, ctx.arguments["config"], protection)
        cur = self.db.conn.execute(
            "INSERT INTO jobs (kind, settings, state, created) VALUES (?, ?, 'QUEUED', ?)",
            (kind, json.dumps(settings), time.time()))
        self._maybe_queued = True
        self.events.raise_event("JOB_QUEUED", job=cur.lastrowid, kind=kind)

    def _scrub_now(self, ctx: CommandContext) -> None:
        running = [w for w in self.workers.values() if self._state(w.job) == "RUNNING"]
        if not running:
            raise CommandFailed("no job is running: there is no job state to scrub", "")
        for worker in running:
            self._tell(worker, "scrub")  # its findings come back as upset events and protection totals

    def _row(self, job: int) -> dict[str, Any]:
        row = self.db.conn.execute("SELECT id, kind, state, attempts, retries, step, loss, val_loss, reason "
                                   "FROM jobs WHERE id = ?", (job,)).fetchone()
        if row is None:
            raise CommandFailed(f"there is no job {job}", "job")
        keys = ("job", "kind", "state", "attempts", "retries", "step", "loss", "val_loss", "reason")
        return dict(zip(keys, row, strict=True))

    def _pause(self, ctx: CommandContext) -> None:
        job = ctx.arguments["job"]
        row = self._row(job)
        if row["state"] == "QUEUED":
            self._set(job, "PAUSED", "paused before it started")
            self.events.raise_event("JOB_PAUSED", job=job, step=row["step"])
            return
        worker = self.workers.get(job)
        if row["state"] != "RUNNING" or worker is None:
            raise CommandFailed(f"job {job} is {row['state']}: only a queued or running job pauses", "job")
        self._tell(worker, "pause")  # the worker checkpoints, then says "paused"

    def _resume(self, ctx: CommandContext) -> None:
        job = ctx.arguments["job"]
        row = self._row(job)
        if row["state"] not in ("PAUSED", "SUSPENDED"):
            raise CommandFailed(f"job {job} is {row['state']}: only a paused or suspended job resumes", "job")
        worker = self.workers.get(job)
        if worker is not None and worker.process.is_alive() and worker.stop_deadline is None:
            self._tell(worker, "resume")
            self._set(job, "RUNNING")
        else:
            self._set(job, "QUEUED")  # a new worker resumes it from its checkpoint
        self.events.raise_event("JOB_RESUMED", job=job)

    def _abort(self, ctx: CommandContext) -> None:
        job = ctx.arguments["job"]
        row = self._row(job)
        if row["state"] in FINAL:
            raise CommandFailed(f"job {job} is {row['state']} already", "job")
        self._set(job, "ABORTED", "by command")
        self.counters.inc("aborted")
        self.events.raise_event("JOB_ABORTED", job=job, reason="by command")
        worker = self.workers.get(job)
        if worker is not None:
            self._stop(worker)

    def _status(self, ctx: CommandContext) -> None:
        job = ctx.arguments["job"]
        if job:
            rows = [self._row(job)]
        else:
            ids = self.db.conn.execute("SELECT id FROM jobs ORDER BY id DESC LIMIT ?", (STATUS_ROWS,)).fetchall()
            rows = [self._row(i) for (i,) in reversed(ids)]
        for row in rows:
            worker = self.workers.get(row["job"])
            row["device"] = worker.device if worker else ""
        self.telemetry.emit(self.apid, JOB_SERVICE, STATUS, pack_record({"jobs": rows}))

    # --- the worker processes ---------------------------------------------------------------------

    def _tell(self, worker: Worker, command: str, **fields: Any) -> bool:
        if self.socket is not None:
            try:
                self.socket.send_multipart([f"{worker.job}:{worker.attempt}".encode(), pack(command, **fields)],
                                           zmq.NOBLOCK)
                return True
            except zmq.ZMQError:
                self.counters.inc("control_unsent")  # not connected yet: the heartbeat timeout still guards
        return False

    def tell_running(self, job: int, command: str, **fields: Any) -> bool:
        """Send a command to job ``job``'s worker if it is running; whether it went."""
        worker = self.workers.get(job)
        return worker is not None and self._state(job) == "RUNNING" and self._tell(worker, command, **fields)

    def _stop(self, worker: Worker) -> None:
        if worker.stop_deadline is None:
            self._tell(worker, "stop")
            worker.stop_deadline = self.monotonic() + self.parameter("jobs.stop_grace")

    def suspend_all(self, reason: str) -> None:
        """Safe mode (inside its unit): every job not finished checkpoints and stops until JOB_RESUME."""
        for (job,) in self.db.conn.execute("SELECT id FROM jobs WHERE state IN "
                                           "('QUEUED', 'STARTING', 'RUNNING', 'PAUSED')").fetchall():
            self._set(job, "SUSPENDED", reason[:200])
            self.events.raise_event("JOB_SUSPENDED", job=job, reason=reason[:200])
            if job in self.workers:
                self._stop(self.workers[job])

    def resume_suspended(self, prefix: str) -> list[int]:
        """Inside a unit: the jobs suspended for a reason starting ``prefix`` queue again; each new worker
        resumes from its checkpoint. Jobs suspended for another reason (safe mode) stay as they are."""
        jobs = self.suspended_for(prefix)
        for job in jobs:
            self._set(job, "QUEUED")
            self.events.raise_event("JOB_RESUMED", job=job)
        return jobs

    def suspended_for(self, prefix: str) -> list[int]:
        """The jobs suspended for a reason starting ``prefix``."""
        rows = self.db.conn.execute("SELECT id FROM jobs WHERE state = 'SUSPENDED' AND substr(reason, 1, ?) = ? "
                                    "ORDER BY id", (len(prefix), prefix)).fetchall()
        return [job for (job,) in rows]

    def active_jobs(self) -> int:
        """Jobs queued, starting, running or paused: what a suspension would stop."""
        return self.db.conn.execute("SELECT COUNT(*) FROM jobs WHERE state IN "
                                    "('QUEUED', 'STARTING', 'RUNNING', 'PAUSED')").fetchone()[0]

    def running_job(self) -> int | None:
        row = self.db.conn.execute("SELECT id FROM jobs WHERE state = 'RUNNING' LIMIT 1").fetchone()
        return row[0] if row else None

    def kill_workers(self, reason: str) -> list[int]:
        """A device fault: every worker is killed at once (no checkpoint: its memory is not to be trusted).
        The next tick finds them lost, and their jobs restart from their last good checkpoints."""
        for worker in self.workers.values():
            worker.failure = reason
            worker.process.kill()
        self.counters.inc("device_faults", len(self.workers))
        return sorted(self.workers)

    def take(self) -> list[tuple[bytes, bytes]]:
        """Every message workers sent since the last call (outside a unit: reading changes nothing)."""
        messages = []
        if self.socket is None:
            return messages
        while self.socket.poll(0):
            frames = self.socket.recv_multipart()
            if len(frames) == 2:
                messages.append((frames[0], frames[1]))
            else:
                self.counters.inc("bad_messages")
        return messages

    def on_message(self, identity: bytes, raw: bytes) -> None:
        """One worker message (inside a unit): state, events and telemetry."""
        try:
            job_text, _, attempt_text = identity.decode("ascii").partition(":")
            worker = self.workers.get(int(job_text))
            if worker is None or worker.attempt != int(attempt_text):
                raise WorkerMessageError(f"no live worker {identity!r}")
            kind, fields = unpack_from_worker(raw)
        except (UnicodeDecodeError, ValueError, WorkerMessageError):
            self.counters.inc("bad_messages")
            return
        worker.last_heard = self.monotonic()
        self._handle(worker, kind, fields)

    def _handle(self, worker: Worker, kind: str, fields: dict[str, Any]) -> None:
        job = worker.job
        if kind == "hello":
            worker.device = fields["device"][:64]
            if self._state(job) == "STARTING":
                self._set(job, "RUNNING")
            self.db.conn.execute("UPDATE jobs SET step = ? WHERE id = ?", (fields["step"], job))
            self.events.raise_event("JOB_STARTED", job=job, attempt=worker.attempt, device=worker.device,
                                    step=fields["step"])
            self._advise_checkpoints(worker)
        elif kind in ("progress", "eval"):
            worker.latest.update(fields)
            self._output(PROGRESS, {"job": job, "kind": kind, **fields})
            column = "loss" if kind == "progress" else "val_loss"
            value = fields["loss"] if kind == "progress" else fields["val_loss"]
            self.db.conn.execute(f"UPDATE jobs SET step = ?, {column} = ? WHERE id = ?",
                                 (fields["step"], _finite(value), job))
        elif kind == "sample":
            text = fields["text"].encode()[:MAX_TEXT].decode(errors="ignore")  # octets, as MAX_TEXT says
            self._output(SAMPLE, {"job": job, "step": fields["step"], "text": text})
        elif kind == "output":
            self._output(OUTPUT, self._result(job, fields))
        elif kind == "checkpoint":
            self.counters.inc("checkpoints")
            self._checkpoint_cost_s = fields["write_s"]
            self._advise_checkpoints(worker)
        elif kind == "checkpoint_failed":
            self.counters.inc("checkpoint_failures")
        elif kind == "checkpoint_rejected":
            self.events.raise_event("JOB_CHECKPOINT_REJECTED", job=job, path=Path(fields["path"]).name[:64],
                                    reason=fields["reason"][:150])
        elif kind == "upset":
            self.counters.inc("upsets")
            self.events.raise_event("SEU_DETECTED", job=job, step=fields["step"], target=fields["target"][:96],
                                    block=fields["block"], action=fields["action"][:96])
            self._advise_checkpoints(worker)
        elif kind == "injected":
            self.counters.inc("injections")
            self.events.raise_event("SEU_INJECTED", job=job, step=fields["step"], target=fields["target"][:96],
                                    element=fields["element"], bit=fields["bit"])
        elif kind == "inject_refused":
            self.counters.inc("injections_refused")
            self.events.raise_event("SEU_INJECTION_REFUSED", job=job, reason=fields["reason"][:150])
        elif kind == "protection":
            worker.latest.update({f"seu.{name}": value for name, value in fields.items()})
        elif kind == "paused":
            if self._state(job) == "RUNNING":
                self._set(job, "PAUSED")
                self.events.raise_event("JOB_PAUSED", job=job, step=fields["step"])
        elif kind == "done":
            worker.done = True
            if self._state(job) in ACTIVE:
                self._set(job, "COMPLETED")
                self.db.conn.execute("UPDATE jobs SET step = ?, loss = COALESCE(?, loss), val_loss = ? "
                                     "WHERE id = ?", (fields["step"], _finite(fields["loss"]),
                                                      _finite(fields["val_loss"]), job))
                self.counters.inc("completed")
                loss = fields["val_loss"] if math.isfinite(fields["val_loss"]) else 0.0
                self.events.raise_event("JOB_COMPLETED", job=job, steps=fields["step"], loss=loss)
        elif kind == "failed":
            worker.failure = fields["reason"]
            worker.device_error = fields["device_error"]

    def _result(self, job: int, fields: dict[str, Any]) -> dict[str, Any]:
        """An inference result for the ground. The text also goes to the job's ``output.txt``, whole,
        so that it can come down by file transfer; in the packet, text that does not fit is cut."""
        text = fields["text"]
        path = self.job_dir(job) / "output.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode())
        record = {"job": job, "ids": fields["ids"][:256], "ttft_s": fields["ttft_s"],
                  "tokens_per_s": fields["tokens_per_s"], "text": text, "file": str(path)}
        row = self.db.conn.execute("SELECT settings FROM jobs WHERE id = ?", (job,)).fetchone()
        prompt = json.loads(row[0]).get("prompt") if row else None
        if isinstance(prompt, str):
            record["prompt"] = prompt.encode()[:MAX_PROMPT].decode(errors="ignore")
        if len(text.encode()) > MAX_TEXT:
            record.update(text=text.encode()[:MAX_TEXT].decode(errors="ignore"), truncated=True)
        return record

    def _output(self, subtype: int, record: dict[str, Any]) -> None:
        self.telemetry.emit(self.apid, JOB_SERVICE, subtype, pack_record(record))
        self.counters.inc("outputs")

    def job_dir(self, job: int) -> Path:
        return self.workdir / f"job-{job}"

    def due(self) -> bool:
        """Whether ``tick`` has work: asked every loop turn, so it reads memory only."""
        now = self.monotonic()
        timeout = self.parameter("jobs.heartbeat_timeout")
        for worker in self.workers.values():
            if (not worker.process.is_alive() or now - worker.last_heard > timeout
                    or (worker.stop_deadline is not None and now >= worker.stop_deadline)):
                return True
        return not self.workers and self._maybe_queued and self.allowed()

    def tick(self) -> None:
        """Inside a unit: reap, kill the silent and the overdue, retry, and start the next job."""
        now = self.monotonic()
        for worker in list(self.workers.values()):
            if not worker.process.is_alive():
                self._reaped(worker)
            elif worker.stop_deadline is not None and now >= worker.stop_deadline:
                worker.process.kill()
            elif now - worker.last_heard > self.parameter("jobs.heartbeat_timeout"):
                worker.failure = f"silent for {now - worker.last_heard:.0f} s"
                worker.process.kill()
        if not self.workers and self.allowed():
            self._start_next()

    def _reaped(self, worker: Worker) -> None:
        del self.workers[worker.job]
        self._exposure_s += self.monotonic() - worker.started
        worker.process.join(0)
        state = self._state(worker.job)
        if worker.done or state not in ACTIVE:
            return  # finished, or stopped as asked (aborted, suspended)
        code = worker.process.exitcode
        reason = worker.failure or f"exit code {code}"
        if worker.device_error:
            reason = f"device error: {reason}"
        self.counters.inc("worker_lost")
        retries, limit = self._retries(worker.job), self.parameter("jobs.max_retries")
        if retries < limit:
            self.db.conn.execute("UPDATE jobs SET retries = retries + 1 WHERE id = ?", (worker.job,))
            # A paused job stays paused (JOB_RESUME starts its new worker); a running one runs again.
            self._set(worker.job, "PAUSED" if state == "PAUSED" else "QUEUED", reason)
            self.events.raise_event("JOB_WORKER_LOST", job=worker.job, reason=reason[:150], retry=retries + 1,
                                    retries=limit)
        else:
            self._set(worker.job, "FAILED", reason)
            self.counters.inc("failed")
            self.events.raise_event("JOB_FAILED", job=worker.job, reason=f"{reason[:120]} ({limit} retries spent)")

    def _start_next(self) -> None:
        row = self.db.conn.execute("SELECT id, kind, settings, attempts FROM jobs WHERE state = 'QUEUED' "
                                   "ORDER BY id LIMIT 1").fetchone()
        if row is None:
            self._maybe_queued = False
            return
        job, kind, settings, attempts = row
        attempt = attempts + 1
        self.db.conn.execute("UPDATE jobs SET state = 'STARTING', attempts = ? WHERE id = ?", (attempt, job))
        process = self.launcher(job, attempt, kind, json.loads(settings), self.address, self.job_dir(job),
                                self.device)
        self.workers[job] = Worker(job, attempt, process, self.monotonic(), started=self.monotonic())
        self.counters.inc("started")

    # --- state --------------------------------------------------------------------------------------

    def _state(self, job: int) -> str | None:
        row = self.db.conn.execute("SELECT state FROM jobs WHERE id = ?", (job,)).fetchone()
        return row[0] if row else None

    def _retries(self, job: int) -> int:
        return self.db.conn.execute("SELECT retries FROM jobs WHERE id = ?", (job,)).fetchone()[0]

    def _set(self, job: int, state: str, reason: str = "") -> None:
        self._maybe_queued |= state == "QUEUED"
        self.db.conn.execute("UPDATE jobs SET state = ?, reason = ? WHERE id = ?", (state, reason[:300], job))

    def current(self) -> dict[str, Any]:
        """Housekeeping values of the job holding the device (or the newest job) and of the queue."""
        row = self.db.conn.execute(
            "SELECT id, state, step, loss, val_loss, attempts FROM jobs "
            "ORDER BY state IN ('STARTING', 'RUNNING', 'PAUSED') DESC, id DESC LIMIT 1").fetchone()
        queued = self.db.conn.execute("SELECT COUNT(*) FROM jobs WHERE state = 'QUEUED'").fetchone()[0]
        values: dict[str, Any] = {"jobs.queued": queued, "job.id": 0, "job.state": "NONE", "job.step": 0,
                                  "job.loss": 0.0, "job.val_loss": 0.0, "job.tokens_per_s": 0.0, "job.lr": 0.0,
                                  "job.memory_mb": 0.0, "job.device": "NONE", "job.attempt": 0,
                                  **{f"seu.{name}": 0 for name in PROTECTION_TOTALS[1:]}, "seu.scrubbed_mb": 0.0}
        if row is None:
            values.update(self._checkpoint_interval())
            return values
        job, state, step, loss, val_loss, attempts = row
        worker = self.workers.get(job)
        latest = worker.latest if worker else {}
        values.update({"job.id": job, "job.state": state, "job.step": step, "job.loss": loss or 0.0,
                       "job.val_loss": val_loss or 0.0, "job.attempt": attempts,
                       "job.tokens_per_s": latest.get("tokens_per_s", 0.0), "job.lr": latest.get("lr", 0.0),
                       "job.memory_mb": latest.get("memory", 0) / 2**20,
                       "job.device": worker.device_kind() if worker else "NONE"})
        values.update(self._checkpoint_interval())
        values.update({f"seu.{name}": latest.get(f"seu.{name}", 0) for name in PROTECTION_TOTALS[1:]})
        values["seu.scrubbed_mb"] = latest.get("seu.scrubbed_bytes", 0) / 2**20
        return values

    def _checkpoint_interval(self) -> dict[str, float]:
        """Young/Daly's checkpoint interval from the measured write time and the upsets seen (or the override)."""
        now = self.monotonic()
        exposure = self._exposure_s + sum(now - w.started for w in self.workers.values())
        upsets = self.counters["upsets"] + self.counters["device_faults"]
        interval, mtbf = checkpoint_interval(self._checkpoint_cost_s, exposure, upsets,
                                             self.parameter("seu.mtbf_floor"), self.parameter("seu.checkpoint_interval"))
        return {"seu.checkpoint_cost_s": self._checkpoint_cost_s, "seu.mtbf_s": mtbf,
                "seu.checkpoint_interval_s": interval}

    def _advise_checkpoints(self, worker: Worker) -> None:
        """Tell a worker Young/Daly's interval when it moved by a tenth or more since it was last told:
        the job then checkpoints at least that often (and at least every checkpoint_interval steps)."""
        interval = self._checkpoint_interval()["seu.checkpoint_interval_s"]
        if interval <= 0:
            return  # no write measured yet
        last = worker.advised_period
        moved = last is None or abs(interval - last) >= 0.1 * last
        if moved and self._tell(worker, "checkpoint_period", seconds=interval):
            worker.advised_period = interval

    def close(self, grace: float = 5.0) -> None:
        """A deliberate supervisor stop: workers are told to checkpoint and stop, then killed."""
        for worker in self.workers.values():
            self._tell(worker, "stop")
        deadline = time.monotonic() + grace
        for worker in self.workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
        if self.socket is not None:
            self.socket.close()


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

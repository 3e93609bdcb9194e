"""Training benchmarks: what supervision costs a NanoGPT job, and what a checkpoint stalls it.

- **Overhead**: tokens/s of the supervised job (the job's trainer, its worker link pumping messages
  to a supervisor socket every step, progress reports, asynchronous checkpoints) ÷ a bare nanoGPT
  loop of the same model, config and data, measured alternately in this run. Target ≥ 0.97. Upset
  protection is off for this figure; ``bench/seu.py`` measures what it adds.
- **Checkpoint stall**: the time the training loop is held per checkpoint (its optimizer step waits for
  the copy to host memory) ÷ the time a synchronous save takes (copy, CRC-32C, encode, write, fsync,
  rename). Target ≤ 0.1. Reported beside it, for information: what a checkpoint adds to the step
  after it, which also counts the save's share of the machine while the step runs.
  Judged at the flight config's size (shakespeare_char, 10.7M parameters with AdamW state).
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import torch
import zmq

from bench.harness import Record
from flight.jobs.batches import TokenData, batch
from flight.jobs.checkpoint import CheckpointStore
from flight.jobs.configs import CONFIGS
from flight.jobs.device import Device, select
from flight.jobs.gpt import GPT, learning_rate
from flight.jobs.shakespeare import prepared
from flight.jobs.trainer import Trainer, TrainSpec
from flight.jobs.worker_link import WorkerLink

STEPS = 100
# The warm-up takes the first checkpoint, which allocates the host buffers the later ones reuse (pinned
# on CUDA: tens of milliseconds, once per job): the window measures the steady state.
WARMUP = 60
CHECKPOINT_INTERVAL = 50
REPEATS = 5  # alternating; the fastest of each side is taken (other work only ever adds time)
SEED = 1337


def job_config(device: Device) -> str:
    """The config a job flies on this device: nanoGPT's on a GPU, the CPU one here."""
    return "shakespeare_char" if device.type == "cuda" else "shakespeare_cpu"


def bare_loop(data: TokenData, steps: int, device: Device) -> float:
    """Seconds for ``steps`` steps of the plainest loop that trains the same model on the same batches."""
    gpt, train = CONFIGS[job_config(device)]
    torch.manual_seed(SEED)
    model = GPT(gpt).to(device.torch_device)
    optimizer = model.optimizer(train, device.type)
    began = 0.0
    for step in range(WARMUP + steps):
        if step == WARMUP:
            device.synchronize()
            began = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, train)
        x, y = batch(data, "train", step, SEED, train.batch_size, gpt.block_size)
        x, y = x.to(device.torch_device, non_blocking=True), y.to(device.torch_device, non_blocking=True)
        with device.autocast():
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    loss.item()  # the last step has run on the device
    return time.perf_counter() - began


class Supervisor:
    """The supervisor's end of the worker link, reading every message on a thread of its own."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.bind("tcp://127.0.0.1:*")
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.messages = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._stop.is_set():
            if self.socket.poll(50):
                self.socket.recv_multipart()
                self.messages += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close(0)


def supervised_job(data: TokenData, steps: int, out: Path, address: str, device: Device) -> tuple[float, Trainer]:
    """Seconds for the same steps in the job's trainer, supervised (until the last step's report)."""
    link = WorkerLink(address, f"bench:{time.monotonic_ns()}")
    marks: dict[int, float] = {}

    def report(kind: str, fields: dict) -> None:
        link.report(kind, fields)
        if kind == "progress":
            marks[fields["step"]] = time.perf_counter()

    # Evaluation is training work the bare loop does not do: none falls inside the measured window.
    # Upset protection is off here: what it costs is the SEU benchmark's figure (bench/seu.py).
    spec = TrainSpec(config=job_config(device), seed=SEED, max_iters=WARMUP + steps, log_interval=10,
                     checkpoint_interval=CHECKPOINT_INTERVAL, sample_tokens=1, eval_interval=10 * (WARMUP + steps),
                     scrub=False, guard=False, shadow_interval=0)
    trainer = Trainer(spec, data, device, out, report=report)
    trainer.run(should_stop=link.should_stop)
    link.close()
    # From the end of the warm-up to the report of the last step: evaluation and the final save come after.
    return marks[WARMUP + steps] - marks[WARMUP], trainer


def checkpoint_stall(config: str, out: Path, device: Device) -> tuple[float, float, float]:
    """(training stall per checkpoint, what it adds to the next step, synchronous save time) in seconds,
    the fastest of a few.

    The stall is the time the training loop is held: at the checkpoint (waiting for the save before
    it), and at the next optimizer step (waiting for the copy of the weights). What a checkpoint adds
    to the step after it (a step with a checkpoint before it, less one without) also counts the
    copy's and the write's share of the machine while the step runs. The model and its optimizer
    state are the config's (what a checkpoint holds); the batch is one sequence, so that a CPU step
    takes a fraction of a second.
    """
    data = TokenData.open(prepared())
    trainer = Trainer(TrainSpec(config=config, seed=SEED, max_iters=1), data, device, out / config)
    trainer.train_config = replace(trainer.train_config, batch_size=1)
    trainer.train_step()  # the optimizer has its state: a checkpoint of the real size
    store = CheckpointStore(out / f"{config}-sync")
    saver = trainer.saver
    assert saver is not None
    plain, checkpointed, held, sync = [], [], [], []
    for _ in range(REPEATS):
        began = time.perf_counter()
        trainer.train_step()
        device.synchronize()
        plain.append(time.perf_counter() - began)
        before = saver.stall_s
        began = time.perf_counter()
        trainer.checkpoint()
        trainer.train_step()
        device.synchronize()
        checkpointed.append(time.perf_counter() - began)
        held.append(saver.stall_s - before)
        saver.wait()
        began = time.perf_counter()
        store.save(trainer.snapshot())
        sync.append(time.perf_counter() - began)
    return min(held), max(0.0, min(checkpointed) - min(plain)), min(sync)


def run(device_name: str | None = None) -> list[Record]:
    device = select(device_name)
    config = job_config(device)
    data = TokenData.open(prepared())
    ctx = zmq.Context.instance()
    supervisor = Supervisor(ctx)
    bare, supervised = [], []
    with tempfile.TemporaryDirectory(prefix="zenith-bench-") as tmp:
        for repeat in range(REPEATS):
            bare.append(bare_loop(data, STEPS, device))
            seconds, _ = supervised_job(data, STEPS, Path(tmp) / f"run-{repeat}", supervisor.address, device)
            supervised.append(seconds)
        supervisor.close()
        gpt, train = CONFIGS[config]
        tokens = STEPS * train.batch_size * gpt.block_size
        ours, base = tokens / min(supervised), tokens / min(bare)
        records = [Record(f"training: supervised job ÷ bare loop ({config} on {device.type}, {STEPS} steps, "
                          f"checkpoint every {CHECKPOINT_INTERVAL})", ours, "tokens/s", base, ours / base, ">= 0.97")]
        for checkpointed, target in (("shakespeare_char", "<= 0.1"), ("shakespeare_cpu", "")):
            stall, added, sync = checkpoint_stall(checkpointed, Path(tmp), device)
            where = f"({checkpointed} on {device.type})"
            records.append(Record(f"checkpoint: training stall ÷ synchronous save {where}", stall * 1000, "ms",
                                  sync * 1000, stall / sync, target))
            records.append(Record(f"checkpoint: time added to the next step ÷ synchronous save {where}",
                                  added * 1000, "ms", sync * 1000, added / sync, ""))
    return records

"""One NanoGPT training job: the loop that ``flight train``, the job worker and each DDP rank run.

The loop is plain nanoGPT (learning rate set per step, autocast, backward, gradient clipping, AdamW)
with three additions for flight: batches come from the step number (so a restore replays them),
checkpoints are captured to host memory and written in the background, and everything worth telling
the ground leaves through one ``report`` callback. The loss is read back from the device only when
it is reported, so a GPU is never made to wait for the host between steps.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from flight.jobs.async_save import AsyncSaver
from flight.jobs.batches import TokenData, batch
from flight.jobs.checkpoint import (
    CheckpointError,
    CheckpointStore,
    Rejected,
    Snapshot,
    capture,
    restore,
    rng_states,
)
from flight.jobs.checkpoint_names import generation_step
from flight.jobs.device import Device
from flight.jobs.gpt import CONFIGS, GPT, GPTConfig, TrainConfig, learning_rate
from flight.link.errors import ZenithError
from flight.seu.training_protection import Policy, TrainingProtection, Upset

Report = Callable[[str, dict[str, Any]], None]  # kind ("progress", "eval", "sample", "checkpoint", ...), fields


class TrainingError(ZenithError):
    """A training job that cannot be set up as asked."""


@dataclass(frozen=True)
class TrainSpec:
    """Everything that defines a training run; stored in each checkpoint, so a restore rebuilds the same run."""

    config: str = "shakespeare_cpu"
    seed: int = 1337
    max_iters: int | None = None  # None: the config's
    eval_interval: int | None = None  # None: the config's
    log_interval: int = 10
    checkpoint_interval: int = 100
    keep: int = 3
    sample_tokens: int = 200
    sample_prompt: str = "\n"
    # CUDA only: deterministic kernels, so that a replay from a checkpoint gives the very same losses
    # (on a CPU it always does). Measured on an H200: without it a replay differs by about 1e-4.
    deterministic: bool = False
    # Upset protection (flight/seu): block checksums of the parameters and optimizer state, sealed
    # after each optimizer step and verified before the next; a host shadow every shadow_interval
    # steps to roll back to (0: checkpoints only); the loss guard. One process only, for now: a
    # rollback on one DDP rank would need every rank to follow it.
    scrub: bool = True
    shadow_interval: int = 25
    guard: bool = True

    def configs(self) -> tuple[GPTConfig, TrainConfig]:
        if self.config not in CONFIGS:
            raise TrainingError(f"config {self.config!r}: one of {', '.join(sorted(CONFIGS))}")
        gpt, train = CONFIGS[self.config]
        if self.max_iters is not None:
            if self.max_iters < 1:
                raise TrainingError(f"max_iters {self.max_iters} must be at least 1")
            train = replace(train, max_iters=self.max_iters)
        if self.eval_interval is not None:
            if self.eval_interval < 1:
                raise TrainingError(f"eval_interval {self.eval_interval} must be at least 1")
            train = replace(train, eval_interval=self.eval_interval)
        return gpt, train

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    iters: int
    train_loss: float | None
    val_loss: float | None
    tokens_per_s: float
    checkpoint: str | None
    losses: dict[int, float] = field(default_factory=dict)  # step → training loss, at each log step

    def as_dict(self) -> dict[str, Any]:
        return {"tokens_per_s": self.tokens_per_s, "iters": self.iters, "train_loss": self.train_loss,
                "val_loss": self.val_loss, "checkpoint": self.checkpoint}


def _upset_targets(upset: Upset) -> list[tuple[str, int]]:
    """What an upset hit, for its reports: each block the checksums found, or the guard's reason."""
    if upset.trip is not None:
        return [(f"loss guard: {upset.trip.reason}", 0)]
    return [(d.tensor, d.block) for d in upset.detections]


def _ignore(_kind: str, _fields: dict[str, Any]) -> None:
    pass


class Trainer:
    def __init__(self, spec: TrainSpec, data: TokenData, device: Device, checkpoints: Path | None = None,
                 rank: int = 0, world: int = 1, report: Report = _ignore,
                 beat: Callable[[], None] = lambda: None) -> None:
        self.spec = spec
        self.gpt_config, self.train_config = spec.configs()
        if self.gpt_config.vocab_size < len(data.vocab):
            raise TrainingError(f"the data has {len(data.vocab)} symbols, the model {self.gpt_config.vocab_size}")
        self.data = data
        self.device = device
        self.rank, self.world = rank, world
        self.report = report if rank == 0 else _ignore
        self.beat = beat  # called during long work between steps (evaluation), so a watcher hears the job
        if spec.deterministic and device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.manual_seed(spec.seed)  # the same initial weights on every rank and every restart
        self.model = GPT(self.gpt_config).to(device.torch_device)
        self.optimizer = self.model.optimizer(self.train_config, device.type)
        self.trained: torch.nn.Module = self.model  # what the loop calls: DDP wraps the model here
        self.step = 0
        # Every rank can read the checkpoints (to resume); only rank 0 writes them.
        self.store = CheckpointStore(checkpoints, spec.keep) if checkpoints is not None else None
        self.saver = AsyncSaver(self.store, self._saved) if self.store is not None and rank == 0 else None
        policy = Policy(spec.scrub, spec.shadow_interval, spec.guard)
        self.protection = TrainingProtection(self.model, self.optimizer, policy) if world == 1 else None
        self.between_steps: Callable[[Trainer], None] = lambda _trainer: None  # the bench's upsets come here
        # Young/Daly's interval, when the supervisor advises one: a checkpoint is also due once this
        # many seconds have passed since the last, however few steps that was.
        self.checkpoint_period_s: float | None = None
        self._checkpointed_at = time.monotonic()

    # --- checkpoints ------------------------------------------------------------------------------

    def resume(self) -> list[Rejected]:
        """Continue from the newest verified checkpoint, if any; the newer ones that failed to verify."""
        if self.store is None:
            return []
        snapshot, path, rejected = self.store.latest()
        for bad in rejected:
            self.report("checkpoint_rejected", {"path": str(bad.path), "reason": bad.reason})
        if snapshot is not None:
            self.load(snapshot)
            self.report("resumed", {"step": self.step, "path": str(path)})
        return rejected

    def load(self, snapshot: Snapshot) -> None:
        saved = snapshot.meta.get("spec", {})
        for key in ("config", "seed"):  # another seed would silently change the batch order
            if saved.get(key) != getattr(self.spec, key):
                raise TrainingError(f"the checkpoint's {key} is {saved.get(key)!r}, not {getattr(self.spec, key)!r}")
        if snapshot.meta.get("vocab") != self.data.vocab:
            raise TrainingError("the checkpoint was trained on another vocabulary")
        restore(snapshot, self.model, self.optimizer)
        self.step = snapshot.step

    def snapshot(self, staging: dict[str, torch.Tensor] | None = None,
                 rng: dict[str, torch.Tensor] | None = None) -> Snapshot:
        meta = {"step": self.step, "spec": self.spec.as_dict(), "gpt": self.gpt_config.as_dict(),
                "vocab": self.data.vocab}
        return capture(self.model, self.optimizer, meta, staging, rng)

    def checkpoint(self) -> None:
        """Save the state after ``self.step`` steps, in the background (``train_step`` waits for its copy)."""
        self._checkpointed_at = time.monotonic()
        if self.saver is not None:
            rng = rng_states()  # now: the next step's dropout would move them
            meta_step = self.step
            self.saver.submit(lambda staging: self._snapshot_at(meta_step, staging, rng))
            if self.saver.last_error:  # the previous save failed: say so, and keep training
                self.report("checkpoint_failed", {"reason": self.saver.last_error[:300]})
                self.saver.last_error = ""

    def _snapshot_at(self, step: int, staging: dict[str, torch.Tensor], rng: dict[str, torch.Tensor]) -> Snapshot:
        snapshot = self.snapshot(staging, rng)
        snapshot.meta["step"] = step  # the copy may run while the next step's passes run; its step is this
        return snapshot

    def _period_over(self) -> bool:
        period = self.checkpoint_period_s
        return period is not None and time.monotonic() - self._checkpointed_at >= period

    def _redo_checkpoint(self, step: int) -> None:
        """A checkpoint of ``step`` was copied while the upset was in the state: it is not to be trusted.

        The copy runs during the next step's passes, the very window the checksums watched; what was
        found there may be in the file, under a valid CRC of its own. Drop it; the replay writes it
        again, or, when the rollback went no further back than that step, it is written now.
        """
        if self.saver is None or self.store is None:
            return
        with contextlib.suppress(CheckpointError):
            self.saver.wait()
        path = self.store.path(step)
        if not path.exists():
            return
        path.unlink()
        if self.step == step:
            self.checkpoint()

    def _saved(self, path: Path, seconds: float) -> None:
        self.report("checkpoint", {"step": generation_step(path), "path": str(path), "write_s": seconds})

    # --- the loop ---------------------------------------------------------------------------------

    def train_step(self) -> torch.Tensor:
        """One optimisation step at ``self.step``; the loss stays on the device."""
        train = self.train_config
        lr = learning_rate(self.step, train)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(self.data, "train", self.step, self.spec.seed, train.batch_size, self.gpt_config.block_size,
                     self.rank, self.world)
        x, y = x.to(self.device.torch_device, non_blocking=True), y.to(self.device.torch_device, non_blocking=True)
        if not self.trained.training:  # after an evaluation or a sample
            self.trained.train()
        with self.device.autocast():
            _, loss = self.trained(x, y)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip) if train.grad_clip else None
        if self.protection is not None:
            self.protection.before_update(self.step)  # raises Upset: the caller rolls back
        if self.saver is not None:
            self.saver.wait_captured()  # a checkpoint's copy of the weights must be done before they change
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.protection is not None:
            self.protection.after_update(self.step, loss.detach(), norm)
        return loss.detach()

    def scrub_now(self) -> int:
        """Verify the protected state at once (SCRUB_NOW), rolling back what is found; blocks found."""
        if self.protection is None:
            return 0
        try:
            self.protection.before_update(self.step)
        except Upset as upset:
            self.roll_back(upset)
            return len(upset.detections)
        finally:
            self.report("protection", self.protection.stats())
        return 0

    def roll_back(self, upset: Upset) -> int:
        """Back to the newest state at or before ``upset.last_good`` that is intact: the host shadow, or a
        checkpoint. The steps after it are replayed from the same batches. Returns the step restored."""
        assert self.protection is not None
        detected_at = self.step
        if self.saver is not None:
            self.saver.wait_captured()  # a checkpoint's copy may be reading the tensors the restore writes
        self.optimizer.zero_grad(set_to_none=True)  # a check before an update finds the gradients of its step
        restored = self.protection.restore_shadow(upset.last_good)
        action = "shadow"
        if restored is None:
            if self.saver is not None:
                with contextlib.suppress(CheckpointError):
                    self.saver.wait()  # the newest generation may still be being written
            snapshot, path, rejected = self.store.latest(upset.last_good) if self.store else (None, None, [])
            for bad in rejected:
                self.report("checkpoint_rejected", {"path": str(bad.path), "reason": bad.reason})
            if snapshot is None:
                raise TrainingError(f"an upset ({upset}) and nothing intact to roll back to")
            self.load(snapshot)
            restored, action = self.step, f"checkpoint {path.name if path else ''}"
        self.step = restored
        self.protection.rolled_back(detected_at, restored)
        if upset.detections:
            self._redo_checkpoint(detected_at)
        for target, block in _upset_targets(upset):
            self.report("upset", {"step": detected_at, "target": target, "block": block,
                                  "action": f"rolled back to step {restored} ({action})",
                                  "lost_steps": detected_at - restored})
        return restored

    def _mean_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        """The global batch's loss, not this rank's share of it (every rank logs on the same steps)."""
        if self.world == 1:
            return value
        total = value.clone()
        torch.distributed.all_reduce(total)  # a sum: gloo has no average
        return total / self.world

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean loss over ``eval_iters`` fixed batches of each split: comparable from one eval to the next."""
        self.model.eval()
        train = self.train_config
        losses = {}
        for split in ("train", "val"):
            total = torch.zeros((), device=self.device.torch_device)
            for index in range(train.eval_iters):
                self.beat()
                x, y = batch(self.data, split, index, self.spec.seed + 1, train.batch_size,
                             self.gpt_config.block_size)
                with self.device.autocast():
                    _, loss = self.model(x.to(self.device.torch_device), y.to(self.device.torch_device))
                total += loss.float()
            losses[split] = (total / train.eval_iters).item()
        return losses

    @torch.no_grad()
    def sample(self, tokens: int | None = None) -> str:
        """Text from the model, sampled with a generator of its own so the training RNG is untouched."""
        generator = torch.Generator(device=self.device.torch_device).manual_seed(self.spec.seed + self.step)
        self.model.eval()
        prompt = torch.tensor([self.data.encode(self.spec.sample_prompt)], device=self.device.torch_device)
        out = self.model.generate(prompt, tokens or self.spec.sample_tokens, temperature=0.8, top_k=40,
                                  generator=generator, each_token=self.beat)
        return self.data.decode(out[0, prompt.shape[1]:].tolist())

    def run(self, should_stop: Callable[[], bool] = lambda: False) -> TrainResult:
        """Train to ``max_iters`` (from wherever the job is), evaluating, sampling and checkpointing."""
        train = self.train_config
        tokens_per_step = train.batch_size * self.gpt_config.block_size
        losses: dict[int, float] = {}
        evaluated: dict[str, float] = {}
        began, began_step = time.perf_counter(), self.step
        window_start, window_step = began, self.step
        progress = _ProgressQueue(self.device, self.report, losses)
        if self.protection is not None:
            self.protection.start(self.step)
        while self.step < train.max_iters and not should_stop():
            try:
                loss = self.train_step()
            except Upset as upset:
                self.roll_back(upset)
                continue
            if self.step % self.spec.log_interval == 0 or self.step == train.max_iters:
                now = time.perf_counter()
                rate = tokens_per_step * (self.step - window_step) / max(now - window_start, 1e-9)
                window_start, window_step = now, self.step
                progress.put(self._mean_over_ranks(loss), {
                    "step": self.step, "tokens_per_s": rate, "lr": learning_rate(self.step - 1, train),
                    "memory": self.device.memory_bytes()})
                if self.protection is not None:
                    self.report("protection", self.protection.stats())
            if self.step % train.eval_interval == 0 or self.step == train.max_iters:
                progress.flush()
                evaluated = self.evaluate()
                self.report("eval", {"step": self.step, **{f"{k}_loss": v for k, v in evaluated.items()}})
                if self.rank == 0:
                    self.report("sample", {"step": self.step, "text": self.sample()})
            if self.step % self.spec.checkpoint_interval == 0 or self.step == train.max_iters or self._period_over():
                self.checkpoint()
            self.between_steps(self)
        progress.flush()
        self.device.synchronize()
        elapsed = time.perf_counter() - began
        path = self.saver.wait() if self.saver is not None else None
        rate = tokens_per_step * (self.step - began_step) / elapsed if elapsed > 0 else 0.0
        return TrainResult(self.step, evaluated.get("train"), evaluated.get("val"), rate,
                           str(path) if path else None, losses)


class _ProgressQueue:
    """Progress reports whose loss is read from the device without stalling it.

    On CUDA the loss of a log step is copied to pinned host memory behind the step's kernels and
    reported at the next log step (or before an evaluation), by when it has long arrived: the host
    never waits for the device just to print a number, so the GPU's queue never runs dry. On a CPU
    the value is there at once and is reported at once.
    """

    def __init__(self, device: Device, report: Report, losses: dict[int, float]) -> None:
        self.device = device
        self.report = report
        self.losses = losses
        self._pending: tuple[torch.Tensor, Any, dict[str, Any]] | None = None
        # One buffer is enough: put() reads the last value out before it copies the next one in.
        self._host = torch.empty((), pin_memory=True) if device.type == "cuda" else None

    def put(self, loss: torch.Tensor, fields: dict[str, Any]) -> None:
        if self.device.type != "cuda":
            self._send(loss.item(), fields)
            return
        self.flush()  # the last one's copy finished long ago: a log interval of steps has run since
        host = self._host
        assert host is not None
        host.copy_(loss.float(), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._pending = (host, event, fields)

    def flush(self) -> None:
        if self._pending is not None:
            host, event, fields = self._pending
            self._pending = None
            event.synchronize()
            self._send(host.item(), fields)

    def _send(self, value: float, fields: dict[str, Any]) -> None:
        self.losses[fields["step"]] = value
        self.report("progress", {"step": fields["step"], "loss": value, **fields})

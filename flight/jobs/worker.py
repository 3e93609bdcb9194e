"""A job worker: one training or inference job in its own process, started by the supervisor.

``python -m flight.jobs.worker SPEC``: SPEC is a JSON object (job, attempt, kind, settings, address,
workdir, device, parent), data only.

The supervisor never imports torch; this process does. It dies with its parent (a supervisor killed
by SIGKILL leaves no orphan holding the GPU; the restarted supervisor starts the job again from its
last checkpoint). Exit status: 0 finished or stopped as asked, 1 failed, 3 a device (CUDA) error.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from flight.jobs.worker_link import WorkerLink

EXIT_FAILED = 1
EXIT_DEVICE = 3
PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (Linux); exit now if the parent is already gone."""
    # Not Linux: no prctl, and the supervisor's heartbeat timeout and restart handle orphans there.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(EXIT_FAILED)


def main(job: int, attempt: int, kind: str, settings: dict[str, Any], address: str, workdir: str,
         device: str | None, parent: int) -> None:
    die_with_parent(parent)
    link = WorkerLink(address, f"{job}:{attempt}")
    link.pump()  # a first beat before torch is imported, which takes seconds on a busy machine
    code = 0
    try:
        if kind == "TRAIN":
            train(settings, link, Path(workdir), device)
        else:
            infer(settings, link, Path(workdir), device)
    except BaseException as exc:  # the worker's last word, whatever went wrong
        device_error = is_device_error(exc)
        code = EXIT_DEVICE if device_error else EXIT_FAILED
        reason = f"{type(exc).__name__}: {exc}"[:300]
        link.send("failed", reason=reason, device_error=device_error)
        traceback.print_exc(file=sys.stderr)
    finally:
        link.close()
    sys.exit(code)


def is_device_error(exc: BaseException) -> bool:
    import torch

    accelerator = getattr(torch, "AcceleratorError", None)
    if accelerator is not None and isinstance(exc, accelerator):
        return True
    return isinstance(exc, RuntimeError) and ("CUDA error" in str(exc) or "CUBLAS_STATUS" in str(exc))


def train(settings: dict[str, Any], link: WorkerLink, workdir: Path, device_name: str | None) -> None:
    from flight.jobs.batches import TokenData
    from flight.jobs.device import select
    from flight.jobs.shakespeare import prepared
    from flight.jobs.trainer import Trainer, TrainSpec

    spec = TrainSpec(config=settings["config"], seed=settings["seed"], max_iters=settings["max_iters"],
                     eval_interval=settings["eval_interval"],
                     log_interval=settings["log_interval"], checkpoint_interval=settings["checkpoint_interval"],
                     keep=settings["keep"], deterministic=settings["deterministic"], scrub=settings["scrub"],
                     shadow_interval=settings["shadow_interval"], guard=settings["guard"])
    device = select(device_name)
    link.pump()
    trainer = Trainer(spec, TokenData.open(prepared()), device, workdir / "checkpoints", report=link.report,
                      beat=link.pump)
    link.pump()
    last = time.monotonic()

    def between(t: Any) -> None:
        nonlocal last
        _between_steps(t, link)
        link.throttle(time.monotonic() - last)  # the governor's duty cycle: a pause after each step
        last = time.monotonic()

    trainer.between_steps = between
    trainer.resume()
    link.send("hello", device=device.describe(), step=trainer.step)
    while True:
        result = trainer.run(should_stop=link.should_stop)
        if link.stop_requested or link.pause_requested:
            trainer.checkpoint()  # a pause or a stop keeps every step taken so far
            if trainer.saver is not None:
                trainer.saver.wait()
            if link.stop_requested:
                return
            link.send("paused", step=trainer.step)
            link.wait_while_paused()
            if link.stop_requested:
                return
            continue
        break
    link.send("done", step=result.iters, loss=_number(result.train_loss), val_loss=_number(result.val_loss),
              tokens_per_s=result.tokens_per_s, checkpoint=result.checkpoint or "")


def _between_steps(trainer: Any, link: WorkerLink) -> None:
    """Where the supervisor's asks reach the training loop: SCRUB_NOW, the bench's upsets, and the
    checkpoint interval. An injected flip lands after the step's seal, so the next verify finds it."""
    from flight.seu.training_state import training_tensors

    if _take_scrub_request(link):
        trainer.scrub_now()
    if link.injections:
        tensors = trainer.protection.tensors() if trainer.protection is not None else \
            training_tensors(trainer.model, trainer.optimizer)
        _take_injections(link, tensors, trainer.step)
    trainer.checkpoint_period_s = link.checkpoint_period


def _take_injections(link: WorkerLink, tensors: dict[str, Any], step: int) -> None:
    """Flip what the bench asked for, and say where each landed (or why it could not)."""
    from flight.seu.injection import InjectionRefused, inject

    asked, link.injections = link.injections, []
    for request in asked:
        try:
            flip = inject(tensors, request["target"], request["bits"], request["seed"], request["at"])
        except InjectionRefused as exc:
            link.report("inject_refused", {"reason": str(exc)[:200]})
            continue
        link.report("injected", {"step": step, "target": flip.tensor, "element": flip.element, "bit": flip.bit})


def _take_scrub_request(link: WorkerLink) -> bool:
    """SCRUB_NOW arrived since the last look (and is taken)."""
    asked, link.scrub_requested = link.scrub_requested, False
    return asked


def infer(settings: dict[str, Any], link: WorkerLink, workdir: Path, device_name: str | None) -> None:
    from flight.jobs.device import select
    from flight.jobs.inference_job import run_inference

    device = select(device_name)
    link.send("hello", device=device.describe(), step=0)
    output = run_inference(settings, workdir, device, link.pump, link.report, lambda: _take_scrub_request(link),
                           lambda tensors, token: _take_injections(link, tensors, token) if link.injections else None)
    link.send("output", **output)
    link.send("done", step=len(output["ids"]), loss=float("nan"), val_loss=float("nan"),
              tokens_per_s=output["tokens_per_s"], checkpoint="")


def _number(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def cli(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m flight.jobs.worker SPEC_JSON (started by the supervisor)")
    spec = json.loads(argv[0])
    main(spec["job"], spec["attempt"], spec["kind"], spec["settings"], spec["address"], spec["workdir"],
         spec["device"], spec["parent"])


if __name__ == "__main__":
    cli(sys.argv[1:])

"""Data-parallel training with ``torch.distributed``: N ranks on N local devices.

Each rank builds the same model from the same seed, takes its contiguous share of every global batch
(``batches.batch`` with its rank), and DDP averages the gradients, so N ranks take the steps one
process would take with the whole batch. NCCL on GPUs, one rank per device; gloo on the CPU, where
each rank gets an equal share of the cores, so CI runs the same path. Only rank 0 reports, writes
checkpoints and returns the result.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from flight.jobs.batches import TokenData
from flight.jobs.device import select
from flight.jobs.trainer import Report, Trainer, TrainingError, TrainResult, TrainSpec


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def train_ddp(spec: TrainSpec, prepared: Path, world: int, device: str | None = None,
              checkpoints: Path | None = None, resume: bool = False, report: Report | None = None,
              ) -> TrainResult:
    """Run ``world`` ranks in spawned processes; rank 0's result. ``report`` runs in rank 0's process."""
    kind = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if world < 1:
        raise TrainingError(f"{world} ranks: at least one")
    if kind == "cuda" and world > torch.cuda.device_count():
        raise TrainingError(f"{world} ranks but {torch.cuda.device_count()} CUDA devices")
    _, train = spec.configs()
    if train.batch_size % world:
        raise TrainingError(f"a global batch of {train.batch_size} does not split over {world} ranks")
    results: Any = mp.get_context("spawn").SimpleQueue()
    port = free_port()
    ranks = mp.start_processes(_rank_main, args=(world, port, kind, spec, prepared, checkpoints, resume, report,
                                                 results), nprocs=world, start_method="spawn", join=False)
    # Read rank 0's result before joining: a large one fills the pipe, and rank 0 cannot exit until it is read.
    while not ranks.join(timeout=0.5):
        if not results.empty():
            result = results.get()
            while not ranks.join():
                pass
            return result
    if results.empty():
        raise TrainingError("the ranks ended without a result")
    return results.get()


def _rank_main(rank: int, world: int, port: int, kind: str, spec: TrainSpec, prepared: Path,
               checkpoints: Path | None, resume: bool, report: Report | None, results: Any) -> None:
    backend = "nccl" if kind == "cuda" else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        dev = select(kind, index=rank)
        if kind == "cpu":  # the ranks share the machine's cores: oversubscribing them slows every rank
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // world))
        trainer = Trainer(spec, TokenData.open(prepared), dev, checkpoints, rank, world,
                          report or (lambda _k, _f: None))
        if resume:
            trainer.resume()  # every rank reads the same newest verified generation
        ids = [dev.torch_device.index] if kind == "cuda" else None
        trainer.trained = DistributedDataParallel(trainer.model, device_ids=ids)
        result = trainer.run()
        if rank == 0:
            results.put(result)
    finally:
        dist.destroy_process_group()


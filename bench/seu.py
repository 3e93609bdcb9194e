"""Upset-protection benchmarks.

- **Scrub throughput**: GB/s of the block checksums of a 256 MiB tensor ÷ the bandwidth of a copy of
  it on the same device (torch's ``copy_``, bytes copied per second), measured alternately in this
  run. On the CPU the checksum is CRC-32C per 64 KiB block (target ≥ 0.5); on CUDA the Fletcher
  kernel, against a device-to-device copy (target ≥ 0.8).
- **Training overhead**: tokens/s of the job's trainer with the default protection policy (seal and
  verify every step, a host shadow every 25 steps, the loss guard) ÷ the same trainer with it all
  off, in alternating rounds of 20 steps, on the config a job flies on this device. Target ≥ 0.98.
"""

from __future__ import annotations

import torch

from bench.harness import Record, paired_timing
from bench.training import job_config
from flight.jobs.batches import TokenData
from flight.jobs.configs import CONFIGS
from flight.jobs.device import Device, select
from flight.jobs.shakespeare import prepared
from flight.jobs.trainer import Trainer, TrainSpec
from flight.seu.block_checksum import BlockMap

SCRUB_BYTES = 256 * 2**20
WARMUP = 30  # steps: past the optimizer's first step, which makes its state
CHUNK = 20  # steps per round
ROUNDS = 15
SEED = 1337


def scrub_throughput(device: Device) -> tuple[float, float]:
    """(scrub GB/s, copy GB/s), the fastest of several alternating rounds."""
    source = torch.randn(SCRUB_BYTES // 4, device=device.torch_device)
    target = torch.empty_like(source)

    blocks = BlockMap({"t": source})

    def scrub() -> None:
        blocks.checksums()
        device.synchronize()

    def copy() -> None:
        target.copy_(source)
        device.synchronize()

    scrub()
    copy()
    scrub_s, copy_s = paired_timing(scrub, copy, repeats=7)
    return SCRUB_BYTES / scrub_s / 1e9, SCRUB_BYTES / copy_s / 1e9


def step_seconds(data: TokenData, device: Device) -> tuple[float, float]:
    """(protected, plain) seconds per training step: one trainer, its protection switched on and off
    between alternating rounds of CHUNK steps, the fastest round of each taken. One trainer, so both
    sides train the same model in the same memory: two trainers side by side, neither protected,
    differed by up to 5% (where their tensors landed), more than the protection costs. On a shared
    machine slow spells come and go over seconds; rounds this short and interleaved see the same ones.
    """
    spec = TrainSpec(config=job_config(device), seed=SEED, max_iters=10**9)
    trainer = Trainer(spec, data, device)
    protection = trainer.protection
    assert protection is not None and protection.scrubber is not None
    for _ in range(WARMUP):
        trainer.train_step()

    def protected() -> None:
        trainer.protection = protection
        protection.scrubber.seal()  # the plain round changed the state: sealed again, on this side's clock
        steps()

    def plain() -> None:
        trainer.protection = None
        steps()

    def steps() -> None:
        for _ in range(CHUNK):
            trainer.train_step()
        device.synchronize()

    ours, base = paired_timing(protected, plain, repeats=ROUNDS)
    trainer.protection = protection
    return ours / CHUNK, base / CHUNK


def run(device_name: str | None = None) -> list[Record]:
    device = select(device_name)
    scrub, copy = scrub_throughput(device)
    kind = "Fletcher kernel ÷ device-to-device copy" if device.type == "cuda" else "CRC-32C ÷ memory copy"
    records = [Record(f"seu: scrub throughput, {kind} ({device.type})", scrub, "GB/s", copy, scrub / copy,
                      ">= 0.8" if device.type == "cuda" else ">= 0.5")]
    protected, plain = step_seconds(TokenData.open(prepared()), device)
    config = job_config(device)
    gpt, train = CONFIGS[config]
    tokens = train.batch_size * gpt.block_size
    ours, base = tokens / protected, tokens / plain
    records.append(Record(f"seu: training with protection ÷ without ({config} on {device.type}, default policy)",
                          ours, "tokens/s", base, ours / base, ">= 0.98"))
    return records

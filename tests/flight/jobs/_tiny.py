"""Shared pieces of the training tests: a tiny config, a few kilobytes of verse, a TrainSpec builder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flight.jobs.configs import GPTConfig, TrainConfig

TINY_NAME = "tiny"
# One layer, 32 wide, 16 tokens of context: milliseconds a step. Dropout, so the RNG state matters to a resume.
TINY = (GPTConfig(vocab_size=84, block_size=16, n_layer=1, n_head=2, n_embd=32, dropout=0.1),
        TrainConfig(batch_size=8, learning_rate=1e-2, min_lr=1e-3, warmup_iters=5, lr_decay_iters=60, max_iters=60,
                    weight_decay=0.1, beta2=0.99, eval_interval=20, eval_iters=2))
TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
        "The slings and arrows of outrageous fortune,\nOr to take arms against a sea of troubles.\n") * 20


def tiny_spec(**overrides: Any) -> Any:
    """A TrainSpec of the tiny config, which the ``tiny_config`` fixture registers in CONFIGS."""
    from flight.jobs.trainer import TrainSpec  # torch: imported only by the tests that train

    fields: dict[str, Any] = dict(config=TINY_NAME, seed=7, max_iters=20, log_interval=1, checkpoint_interval=10,
                                  keep=3, sample_tokens=8)
    return TrainSpec(**{**fields, **overrides})


class Recorder:
    """A report callback that keeps what a trainer reported, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        self.events.append((kind, fields))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for k, fields in self.events if k == kind]


class FileReport:
    """A report callback that appends each event to a JSON-lines file: picklable, for a spawned DDP rank."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        with self.path.open("a") as out:
            out.write(json.dumps({"kind": kind, **fields}) + "\n")

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

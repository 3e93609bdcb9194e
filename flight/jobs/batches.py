"""Training batches indexed by step and seed: the same step always reads the same text.

A job restored from a checkpoint, or rolled back after an upset, replays exactly the batches it
would have seen, because batch ``step`` depends on nothing but ``(seed, split, step)``. There is no
data-loader state to save. With data parallelism the global batch is the same whatever the number
of ranks: rank ``r`` of ``n`` takes its contiguous share of rows, so N ranks see what one process
sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flight.jobs.char_vocab import decode_chars, encode_chars
from flight.link.errors import ZenithError

SPLITS = {"train": 0, "val": 1}  # part of the RNG key: the two splits never share offsets by accident


class BatchError(ZenithError):
    """Token files that cannot serve batches, or a batch that cannot be cut."""


@dataclass(frozen=True)
class TokenData:
    """The prepared token files, memory-mapped (nothing is read until a batch needs it)."""

    train: np.ndarray
    val: np.ndarray
    vocab: str

    @classmethod
    def open(cls, prepared: Path) -> TokenData:
        try:
            meta = json.loads((prepared / "meta.json").read_text())
            if not isinstance(meta, dict) or not isinstance(meta.get("vocab"), str):
                raise BatchError(f"{prepared}/meta.json: not a preparation with its vocabulary")
            if meta.get("dtype") != "uint16-le":
                raise BatchError(f"{prepared}/meta.json: dtype {meta.get('dtype')!r}, expected 'uint16-le'")
            splits = {name: np.memmap(prepared / f"{name}.bin", dtype="<u2", mode="r") for name in SPLITS}
        except (OSError, ValueError) as exc:
            raise BatchError(f"cannot open the token files in {prepared}: {exc}") from None
        vocab = meta["vocab"]
        for name, tokens in splits.items():
            if tokens.size and int(tokens.max()) >= len(vocab):
                raise BatchError(f"{name}.bin holds a token outside the {len(vocab)}-symbol vocabulary")
        return cls(splits["train"], splits["val"], vocab)

    def split(self, name: str) -> np.ndarray:
        return self.train if name == "train" else self.val

    def encode(self, text: str) -> list[int]:
        return encode_chars(self.vocab, text, BatchError)

    def decode(self, ids: list[int]) -> str:
        return decode_chars(self.vocab, ids)


def offsets(tokens: int, block_size: int, batch_size: int, seed: int, split: str, step: int) -> np.ndarray:
    """Start positions of the ``batch_size`` windows of batch ``step``: a pure function of its arguments."""
    if tokens <= block_size + 1:
        raise BatchError(f"{tokens} tokens cannot give a window of {block_size} + 1")
    if step < 0 or seed < 0:
        raise BatchError(f"step {step} and seed {seed} must not be negative")
    rng = np.random.default_rng([seed, SPLITS[split], step])
    return rng.integers(0, tokens - block_size - 1, size=batch_size)


def batch(data: TokenData, split: str, step: int, seed: int, batch_size: int, block_size: int,
          rank: int = 0, world: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets, (rows, block_size) int64, of this rank's share of batch ``step``."""
    if batch_size % world:
        raise BatchError(f"a global batch of {batch_size} does not split over {world} ranks")
    tokens = data.split(split)
    share = batch_size // world
    starts = offsets(len(tokens), block_size, batch_size, seed, split, step)[rank * share:(rank + 1) * share]
    windows = np.stack([tokens[s:s + block_size + 1] for s in starts]).astype(np.int64)
    window = torch.from_numpy(windows)
    return window[:, :-1], window[:, 1:]

"""Text from a trained NanoGPT checkpoint: the model, its vocabulary and its weights, all from one file.

The checkpoint carries the model's config and the character vocabulary in its (CRC-checked)
metadata, so a file that came down (or up) the link is enough to run it. A config that does not make
a GPT, or a vocabulary that does not fit it, is refused as a CheckpointError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from flight.jobs.char_vocab import decode_chars, encode_chars
from flight.jobs.checkpoint import CheckpointError, CheckpointStore, Snapshot, load_file, restore
from flight.jobs.gpt import GPT, GPTConfig


@dataclass
class CheckpointModel:
    model: GPT
    vocab: str
    step: int

    def encode(self, text: str) -> list[int]:
        return encode_chars(self.vocab, text, CheckpointError)

    def decode(self, ids: list[int]) -> str:
        return decode_chars(self.vocab, ids)


def load_checkpoint(path: Path, device: torch.device) -> CheckpointModel:
    """A checkpoint file, or the newest verified generation in a checkpoint directory."""
    if path.is_dir():
        snapshot, _, rejected = CheckpointStore(path).latest()
        if snapshot is None:
            reasons = "; ".join(r.reason for r in rejected) or "no checkpoint files"
            raise CheckpointError(f"{path}: no verified checkpoint ({reasons})")
    else:
        snapshot = load_file(path)
    return _model(snapshot, device)


def _model(snapshot: Snapshot, device: torch.device) -> CheckpointModel:
    config, vocab = snapshot.meta.get("gpt"), snapshot.meta.get("vocab")
    try:
        gpt = GPTConfig(**config)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the checkpoint's model config is not a GPT: {exc}") from None
    if not isinstance(vocab, str) or not 0 < len(vocab) <= gpt.vocab_size:
        raise CheckpointError("the checkpoint's vocabulary does not fit its model")
    model = GPT(gpt)
    restore(snapshot, model, rng=False)
    return CheckpointModel(model.to(device).eval(), vocab, snapshot.step)


@torch.no_grad()
def complete(loaded: CheckpointModel, prompt: str, max_new_tokens: int, greedy: bool = True,
             temperature: float = 0.8, top_k: int | None = 40, seed: int = 0,
             each_token: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Continue ``prompt``: the same fields as a Gemma result (prompt_ids, ids, text, ttft_s, tokens_per_s)."""
    if max_new_tokens < 1:
        raise CheckpointError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    prompt_ids = loaded.encode(prompt) or [loaded.vocab.find("\n") if "\n" in loaded.vocab else 0]
    device = next(loaded.model.parameters()).device
    idx = torch.tensor([prompt_ids], device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    temperature = 0.0 if greedy else temperature
    began = time.perf_counter()
    idx = loaded.model.generate(idx, 1, temperature, top_k, generator, each_token)
    first = time.perf_counter()
    if max_new_tokens > 1:
        idx = loaded.model.generate(idx, max_new_tokens - 1, temperature, top_k, generator, each_token)
    done = time.perf_counter()
    ids = idx[0, len(prompt_ids):].tolist()
    rate = (len(ids) - 1) / (done - first) if len(ids) > 1 and done > first else 0.0
    return {"prompt_ids": prompt_ids, "ids": ids, "text": loaded.decode(ids), "ttft_s": first - began,
            "tokens_per_s": rate}

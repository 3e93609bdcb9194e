"""Text generation with the Gemma model: a KV cache, the prompt in one pass, then a token at a time.

Greedy or sampled (temperature, top-k, a seeded ``torch.Generator``); generation stops at EOS, at a
token limit, or at the end of the context. Sampling runs on the CPU whatever the model's device, so a
seed gives the same ids on every machine the logits agree on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from flight.jobs.gemma.model import GemmaConfig, GemmaInputError, GemmaModel, load_model

if TYPE_CHECKING:
    from flight.jobs.gemma.gguf_file import GGUFFile
    from flight.jobs.gemma.tokenizer import GemmaTokenizer

EOS_ID = 1


class Detokenizer(Protocol):
    def decode(self, ids: list[int]) -> str: ...


class KVCache:
    """Keys and values of every layer for one sequence, preallocated for ``capacity`` positions.

    With ``ring`` (the default) a sliding-window layer keeps only its last ``window`` positions, in
    slot ``pos % window``: attention does not care about the order of keys (RoPE is already applied),
    so the ring needs no reordering, and its memory stops growing at the window.
    """

    def __init__(self, config: GemmaConfig, capacity: int, dtype: torch.dtype, device: torch.device,
                 ring: bool = True) -> None:
        self.capacity, self.ring = capacity, ring
        self.windows = [config.window(i) for i in range(config.n_layers)]
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        for window in self.windows:
            slots = min(capacity, window) if ring and window is not None else capacity
            width = config.n_kv_heads * config.head_dim
            self.keys.append(torch.zeros(slots, width, dtype=dtype, device=device))
            self.values.append(torch.zeros(slots, width, dtype=dtype, device=device))

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        length = k.shape[0]
        if length > self.capacity:
            raise GemmaInputError(f"{length} prompt positions do not fit a cache of {self.capacity}")
        slots = self.keys[layer].shape[0]
        if length <= slots:
            self.keys[layer][:length] = k
            self.values[layer][:length] = v
        else:  # a ring shorter than the prompt: keep the last `slots` positions in their slots
            kept = torch.arange(length - slots, length, device=k.device)
            self.keys[layer][kept % slots] = k[length - slots:]
            self.values[layer][kept % slots] = v[length - slots:]

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        if pos >= self.capacity:
            raise GemmaInputError(f"position {pos} is past the cache's capacity of {self.capacity}")
        keys, values = self.keys[layer], self.values[layer]
        slots = keys.shape[0]
        keys[pos % slots] = k[0]
        values[pos % slots] = v[0]
        window = self.windows[layer]
        if window is not None and not self.ring:
            first = max(0, pos - window + 1)  # key visible when pos - k < window
            return keys[first:pos + 1], values[first:pos + 1]
        n = min(pos + 1, slots)
        return keys[:n], values[:n]


@dataclass(frozen=True, slots=True)
class Sampling:
    """How the next id is picked: greedy (argmax), or sampled at ``temperature`` from the ``top_k`` best."""

    greedy: bool = True
    temperature: float = 1.0
    top_k: int | None = 64
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.greedy and not self.temperature > 0:
            raise GemmaInputError(f"temperature must be > 0 for sampling, not {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise GemmaInputError(f"top_k must be at least 1, not {self.top_k}")


@dataclass(frozen=True, slots=True)
class GenerationResult:
    prompt_ids: list[int]
    ids: list[int]  # generated only; ends with EOS when stop_reason is "eos"
    text: str  # the generated ids decoded, EOS left out
    ttft_s: float  # prompt in, first new id out
    tokens_per_s: float  # ids after the first, per second of decoding them (0.0 for a single id)
    stop_reason: str  # "eos", "max_new_tokens" or "context"


def pick(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """The next id from float32 logits ``(vocab,)``."""
    if sampling.greedy:
        return int(torch.argmax(logits))
    logits = logits.detach().float().cpu() / sampling.temperature
    if sampling.top_k is not None and sampling.top_k < logits.numel():
        values, index = torch.topk(logits, sampling.top_k)
    else:
        values, index = logits, None
    choice = int(torch.multinomial(torch.softmax(values, dim=-1), 1, generator=generator))
    return choice if index is None else int(index[choice])


def generate(model: GemmaModel, prompt_ids: Sequence[int], max_new_tokens: int = 32,
             sampling: Sampling | None = None, tokenizer: Detokenizer | None = None, eos_id: int = EOS_ID,
             ring: bool = True, each_token: Callable[[], None] = lambda: None) -> GenerationResult:
    """Generate up to ``max_new_tokens`` ids after ``prompt_ids`` (BOS included by the caller).

    ``each_token`` is called before each token after the first: a worker beats and scrubs there."""
    sampling = sampling or Sampling()
    if max_new_tokens < 1:
        raise GemmaInputError(f"max_new_tokens must be at least 1, not {max_new_tokens}")
    prompt = [int(i) for i in prompt_ids]
    model.check_ids(prompt)  # a typed error before any cache is allocated
    context = model.config.context_length
    capacity = min(context, len(prompt) + max_new_tokens - 1)  # the last new id is never fed back
    generator = None
    if not sampling.greedy:
        generator = torch.Generator()
        if sampling.seed is None:
            generator.seed()
        else:
            generator.manual_seed(sampling.seed)
    ids: list[int] = []
    stop = "max_new_tokens"
    with torch.inference_mode():
        cache = KVCache(model.config, capacity, model.dtype, model.device, ring=ring)
        start = time.perf_counter()
        token = pick(model.forward(prompt, 0, cache), sampling, generator)  # int() waits for the device
        first = time.perf_counter()
        ids.append(token)
        pos = len(prompt)
        while True:
            if token == eos_id:
                stop = "eos"
                break
            if len(ids) >= max_new_tokens:
                break
            if pos >= context:
                stop = "context"
                break
            each_token()
            token = pick(model.forward([token], pos, cache), sampling, generator)
            ids.append(token)
            pos += 1
        end = time.perf_counter()
    decoded = ids[:-1] if stop == "eos" else ids
    text = tokenizer.decode(decoded) if tokenizer is not None else ""
    rate = (len(ids) - 1) / (end - first) if len(ids) > 1 and end > first else 0.0
    return GenerationResult(prompt, ids, text, first - start, rate, stop)


def open_gemma(weights: str | None = None, device: str | torch.device | None = None,
               path: Path | None = None) -> tuple[GGUFFile, GemmaTokenizer, GemmaModel]:
    """The GGUF (the installed weights unless ``path``), its tokenizer, and the model built from it."""
    from flight.jobs.gemma.gguf_file import GGUFFile
    from flight.jobs.gemma.tokenizer import GemmaTokenizer
    from flight.jobs.gemma.weights import gemma_gguf

    gguf = GGUFFile.open(path or gemma_gguf())
    return gguf, GemmaTokenizer.from_gguf(gguf), load_model(weights=weights, device=device, gguf=gguf)


def generate_text(prompt: str, max_new_tokens: int = 64, sampling: Sampling | None = None,
                  weights: str | None = None, device: str | torch.device | None = None,
                  path: Path | None = None, special: bool = True) -> GenerationResult:
    """Load the model and tokenizer from one open GGUF, encode ``prompt`` (with BOS) and generate.

    ``special=False`` keeps control-token text in the prompt as text (a prompt that came from outside)."""
    gguf, tokenizer, model = open_gemma(weights, device, path)
    return generate(model, tokenizer.encode(prompt, add_bos=True, special=special), max_new_tokens, sampling,
                    tokenizer, eos_id=tokenizer.eos_id)

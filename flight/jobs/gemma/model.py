"""The Gemma 3 text model (270M), written against the GGUF's tensors, in torch.

The arithmetic follows the reference (transformers' Gemma 3) step for step, because greedy ids are
compared against it exactly: norms and softmax in float32 whatever the compute dtype, the embedding
scaled in the compute dtype, QK-norm before RoPE, RoPE in NEOX (half-rotation) layout, attention
scaled by ``query_pre_attn_scalar ** -0.5``. The GGUF's norm weights already hold the ``1 + w`` of
Gemma's RMSNorm.

Weights come in four formats (:data:`FORMATS`):

* ``gguf`` (the CPU default): the file's own quantized numbers, int8 values with float32 scales per
  block of 16 or 32, dequantized inside an inductor-compiled matvec; activations float32. The
  weights are bit-equal to fp32's, so it gives the reference's greedy ids while reading about a
  quarter of fp32's bytes per token.
* ``fp32``: float32 weights and activations, the reference's own numbers.
* ``bf16``: bfloat16 weights and activations (the CUDA default).
* ``int8``: bfloat16 activations, int8 weights with one scale per output channel for the layers, and
  an output head that ranks the vocabulary with per-channel int8 and then rescores the best
  :data:`RESCORE` candidates exactly from the file's own Q8_0 numbers.

bf16 and int8 depart from the reference where its two best logits nearly tie (see the tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from flight.jobs.gemma.dequantize import (
    BlockQuant,
    block_quant,
    dequantize,
    dequantize_all,
    q8_0_blocks,
    q8_0_rows,
)
from flight.jobs.gemma.gguf_file import GGUFFile, GGUFTensor
from flight.link.errors import ZenithError

FORMATS = ("gguf", "fp32", "bf16", "int8")
RESCORE = 64  # candidates the int8 head rescores exactly: far more than the rank of any near-tie
LOCAL_ROPE_BASE = 10_000.0  # not in the GGUF metadata: the architecture's default for sliding layers
GLOBAL_EVERY = 6  # every 6th layer (i % 6 == 5) attends globally; the others use the sliding window


class GemmaError(ZenithError):
    """Root of the Gemma inference errors."""


class GemmaInputError(GemmaError):
    """Token ids the model cannot take: empty, out of the vocabulary, or longer than the context."""


class GemmaModelError(GemmaError):
    """The GGUF is not a Gemma 3 model we can run, or a setting (format, device) is not available."""


@dataclass(frozen=True, slots=True)
class GemmaConfig:
    n_layers: int
    hidden: int
    ffn: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    eps: float
    context_length: int
    sliding_window: int
    rope_global_base: float
    vocab_size: int
    rope_local_base: float = LOCAL_ROPE_BASE
    query_pre_attn_scalar: float = 256.0

    @classmethod
    def from_metadata(cls, meta: dict[str, object], vocab_size: int) -> GemmaConfig:
        if meta.get("general.architecture") != "gemma3":
            raise GemmaModelError(f"not a Gemma 3 GGUF (architecture {meta.get('general.architecture')!r})")

        def get(key: str) -> float:
            value = meta.get(f"gemma3.{key}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise GemmaModelError(f"gemma3.{key} is missing from the GGUF or not a number: {value!r}")
            return value

        head_dim = int(get("attention.key_length"))
        if int(get("attention.value_length")) != head_dim:
            raise GemmaModelError("key and value head sizes differ")
        # query_pre_attn_scalar is not in the GGUF; Gemma 3 270M's is its head size (256)
        return cls(n_layers=int(get("block_count")), hidden=int(get("embedding_length")),
                   ffn=int(get("feed_forward_length")), n_heads=int(get("attention.head_count")),
                   n_kv_heads=int(get("attention.head_count_kv")), head_dim=head_dim,
                   eps=get("attention.layer_norm_rms_epsilon"), context_length=int(get("context_length")),
                   sliding_window=int(get("attention.sliding_window")), rope_global_base=get("rope.freq_base"),
                   vocab_size=vocab_size, query_pre_attn_scalar=float(head_dim))

    def is_global(self, layer: int) -> bool:
        return layer % GLOBAL_EVERY == GLOBAL_EVERY - 1

    def window(self, layer: int) -> int | None:
        """How far back a query sees in this layer (``None``: the whole context)."""
        return None if self.is_global(layer) else self.sliding_window


class LayerCache(Protocol):
    """Where a layer's keys and values live between forward passes (see ``decode.KVCache``)."""

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> None:
        """Keep the prompt's keys and values (positions 0..T-1, shape ``(T, head_dim)``)."""

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor, pos: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Add one position's key and value; return every key and value the query at ``pos`` sees."""


def attention_mask(length: int, window: int | None, device: torch.device | str = "cpu") -> torch.Tensor:
    """``(length, length)`` bool, True where query q may see key k: causal, and ``q - k < window``."""
    q = torch.arange(length, device=device)[:, None]
    k = torch.arange(length, device=device)[None, :]
    visible = k <= q
    if window is not None:
        visible &= (q - k) < window
    return visible


def rope_tables(base: float, head_dim: int, length: int, device: torch.device | str) -> tuple[torch.Tensor, ...]:
    """cos and sin, ``(length, head_dim)`` float32, computed as the reference does."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(device), emb.sin().to(device)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Gemma's RMSNorm in float32, back in x's dtype; ``weight`` (float32) already includes the +1."""
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight).to(x.dtype)


class DenseLinear:
    """``x @ W.T`` with W in the compute dtype."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)

    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()


class Int8Linear:
    """``x @ W.T`` with W as int8 and one scale per output channel.

    One token at a time on the CPU, ``_weight_int8pack_mm`` reads the int8 weight directly (half the
    bytes of bf16). For a prompt (many rows) that kernel is slow, and elsewhere (CUDA) it may be
    missing, so the weight is expanded to the compute dtype for that one call instead.
    """

    def __init__(self, weight: torch.Tensor, dtype: torch.dtype) -> None:
        scale = weight.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / 127.0
        self.q = torch.round(weight / scale[:, None]).clamp_(-127, 127).to(torch.int8)
        self.scale = scale.to(dtype)

    def to(self, device: torch.device) -> Int8Linear:
        self.q, self.scale = self.q.to(device), self.scale.to(device)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and x.device.type == "cpu":
            return torch._weight_int8pack_mm(x, self.q, self.scale)
        return F.linear(x, self.q.to(x.dtype) * self.scale[:, None])

    def nbytes(self) -> int:
        return self.q.numel() + self.scale.numel() * self.scale.element_size()


def block_matvec(x: torch.Tensor, values: torch.Tensor, scales: torch.Tensor,
                 mins: torch.Tensor | None) -> torch.Tensor:
    """``(1, cols)`` x times the block-quantized ``(rows, cols)`` W, transposed: ``(1, rows)``.

    Written for inductor, which turns it into one loop that dequantizes in registers as it multiplies.
    """
    rows, cols = values.shape
    w = values.view(rows, scales.shape[1], -1).float() * scales.unsqueeze(-1)
    if mins is not None:
        w = w - mins.unsqueeze(-1)
    return (w.view(rows, cols) * x).sum(-1)[None]


_compiled: dict[Callable, Callable] = {}


def compiled(fn: Callable) -> Callable:
    """``fn`` compiled by inductor, once per process, with static shapes.

    Compiling costs seconds per distinct weight shape on first use (inductor keeps the code in its
    disk cache for later processes); the dynamic-shape kernel is not vectorized and is 50x slower.
    """
    if fn not in _compiled:
        _compiled[fn] = torch.compile(fn, dynamic=False)
    return _compiled[fn]


class BlockLinear:
    """``x @ W.T`` with W as the GGUF stores it: int8 values and float32 scales (and mins) per block.

    The weights are exactly the file's (bit-equal to ``gguf.quants.dequantize``) at 1.1-1.3 bytes a
    weight instead of 4, and the activations stay float32, so the sums differ from fp32's only in
    their order. One token at a time on the CPU, an inductor-compiled loop dequantizes in registers;
    for a prompt (many rows, one weight read serves them all) or on another device the weight is
    expanded for the call and multiplied densely.
    """

    def __init__(self, parts: list[BlockQuant], device: torch.device) -> None:
        block = min(p.block for p in parts)  # rows of one matrix share a block size (Q6_K's 16 or 32)
        with_mins = any(p.mins is not None for p in parts)

        def scales(p: BlockQuant, t: torch.Tensor | None) -> torch.Tensor:
            t = torch.zeros_like(p.scales) if t is None else t
            return t.repeat_interleave(p.block // block, dim=1)

        self.values = torch.cat([p.values for p in parts]).to(device)
        self.scales = torch.cat([scales(p, p.scales) for p in parts]).to(device)
        self.mins = torch.cat([scales(p, p.mins) for p in parts]).to(device) if with_mins else None

    def dequantize(self) -> torch.Tensor:
        return BlockQuant(self.values, self.scales, self.mins).dequantize()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] == 1 and x.device.type == "cpu":
            return compiled(block_matvec)(x, self.values, self.scales, self.mins)
        return F.linear(x, self.dequantize())

    def nbytes(self) -> int:
        return self.values.numel() + 4 * (self.scales.numel() + (0 if self.mins is None else self.mins.numel()))


Linear = DenseLinear | Int8Linear | BlockLinear


class DenseHead:
    """Logits from the tied embedding held densely in the compute dtype."""

    def __init__(self, weight: torch.Tensor) -> None:
        self.weight = weight

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.weight).float()

    def nbytes(self) -> int:
        return self.weight.numel() * self.weight.element_size()


class RescoredInt8Head:
    """Logits from the tied Q8_0 embedding: per-channel int8 to rank, the file's own blocks to score.

    Rows (tokens) are ranked by a per-channel int8 product, which is cheap but not the reference's
    number; the best :data:`RESCORE` are then recomputed in float32 from the exact Q8_0 blocks, so a
    greedy pick (and top-k sampling with k up to RESCORE) sees exact logits for the tokens that can
    win. The tail of the distribution keeps the approximate value.
    """

    def __init__(self, values: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> None:
        self.values, self.scales, self.dtype = values, scales, dtype  # exact Q8_0: int8 and fp32 block scales
        rows = q8_0_rows(values, scales)
        self.rank = Int8Linear(rows, dtype)

    def to(self, device: torch.device) -> RescoredInt8Head:
        self.values, self.scales = self.values.to(device), self.scales.to(device)
        self.rank.to(device)
        return self

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        return q8_0_rows(self.values[ids], self.scales[ids]).to(self.dtype)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        approx = self.rank(h).float()
        top = torch.topk(approx, RESCORE, dim=-1).indices  # (rows, RESCORE)
        exact_rows = q8_0_rows(self.values[top], self.scales[top])  # (rows, RESCORE, hidden)
        exact = torch.einsum("rkd,rd->rk", exact_rows, h.float())
        return approx.scatter_(-1, top, exact)

    def nbytes(self) -> int:
        return self.values.numel() + self.scales.numel() * 4 + self.rank.nbytes()


class BlockHead:
    """The tied Q8_0 embedding kept as the file stores it: exact logits at about a quarter of fp32's bytes."""

    def __init__(self, embedding: BlockQuant, device: torch.device) -> None:
        self.linear = BlockLinear([embedding], device)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        lin = self.linear
        return BlockQuant(lin.values[ids], lin.scales[ids], None if lin.mins is None else lin.mins[ids]).dequantize()

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.linear(h)  # for many rows (all_logits) this expands the table once, 671 MB in float32

    def nbytes(self) -> int:
        return self.linear.nbytes()


Head = DenseHead | RescoredInt8Head | BlockHead


@dataclass(slots=True)
class Layer:
    attn_norm: torch.Tensor
    qkv: Linear
    qk_norm: torch.Tensor  # (heads + 1, head_dim): the query norm per query head, then the key norm
    out: Linear
    post_attn_norm: torch.Tensor
    ffn_norm: torch.Tensor
    gate_up: Linear
    down: Linear
    post_ffn_norm: torch.Tensor


def _attention_in(qkv: torch.Tensor, qk_norm: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                  eps: float) -> tuple[torch.Tensor, ...]:
    """Queries, key and value ``(T, heads or 1, head_dim)`` from the fused projection, QK-normed and rotated.

    With one KV head the queries and the key are adjacent in ``qkv``: one norm (a weight per head) and
    one rotation serve both.
    """
    heads, head_dim = qk_norm.shape[0] - 1, qk_norm.shape[1]
    length = qkv.shape[0]
    qk = rms_norm(qkv[:, :(heads + 1) * head_dim].reshape(length, heads + 1, head_dim), qk_norm, eps)
    qk = qk * cos + _rotate_half(qk) * sin
    return qk[:, :heads], qk[:, heads:], qkv[:, (heads + 1) * head_dim:].reshape(length, 1, head_dim)


def _decode_attention_in(x: torch.Tensor, attn_norm: torch.Tensor, values: torch.Tensor, scales: torch.Tensor,
                         mins: torch.Tensor | None, qk_norm: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                         eps: float) -> tuple[torch.Tensor, ...]:
    """One token: ``(heads, head_dim)`` queries, ``(1, head_dim)`` key and value (a compiled region)."""
    qkv = block_matvec(rms_norm(x, attn_norm, eps), values, scales, mins)
    q, k, v = _attention_in(qkv, qk_norm, cos, sin, eps)
    return q[0], k[0], v[0]


def _decode_attention_out_and_ffn(x: torch.Tensor, attn: torch.Tensor, out_v: torch.Tensor, out_s: torch.Tensor,
                                  out_m: torch.Tensor | None, post_attn_norm: torch.Tensor, ffn_norm: torch.Tensor,
                                  gu_v: torch.Tensor, gu_s: torch.Tensor, gu_m: torch.Tensor | None,
                                  down_v: torch.Tensor, down_s: torch.Tensor, down_m: torch.Tensor | None,
                                  post_ffn_norm: torch.Tensor, eps: float) -> torch.Tensor:
    """One token: the rest of a layer after attention (a compiled region)."""
    x = x + rms_norm(block_matvec(attn, out_v, out_s, out_m), post_attn_norm, eps)
    gate, up = block_matvec(rms_norm(x, ffn_norm, eps), gu_v, gu_s, gu_m).chunk(2, dim=-1)
    h = block_matvec(F.gelu(gate, approximate="tanh") * up, down_v, down_s, down_m)
    return x + rms_norm(h, post_ffn_norm, eps)


class GemmaModel:
    """Gemma 3 for one sequence at a time (batch 1): prompt in one pass, then a token per call."""

    def __init__(self, config: GemmaConfig, layers: list[Layer], head: Head, final_norm: torch.Tensor,
                 dtype: torch.dtype, device: torch.device, weights: str) -> None:
        self.config, self.layers, self.head, self.final_norm = config, layers, head, final_norm
        self.dtype, self.device, self.weights = dtype, device, weights
        self.fused = weights == "gguf" and device.type == "cpu"  # compiled decode regions (see _decode_layer)
        self.scale = config.query_pre_attn_scalar ** -0.5
        # the reference multiplies by a float32 tensor cast to the weights' dtype
        self.embed_scale = torch.tensor(config.hidden ** 0.5, dtype=torch.float32).to(dtype).to(device)
        self._rope: dict[float, tuple[torch.Tensor, torch.Tensor]] = {}
        self._rope_len = 0

    # -- inputs ---------------------------------------------------------------------------------------

    def check_ids(self, ids: list[int] | torch.Tensor, start: int = 0) -> torch.Tensor:
        """The ids as a 1-D int64 tensor on the model's device, or a :class:`GemmaInputError`."""
        ids_t = torch.as_tensor(ids, dtype=torch.int64)
        if ids_t.ndim != 1 or ids_t.numel() == 0:
            raise GemmaInputError("the prompt is empty: give at least one token id (normally BOS)")
        low, high = int(ids_t.min()), int(ids_t.max())
        if low < 0 or high >= self.config.vocab_size:
            bad = low if low < 0 else high
            raise GemmaInputError(f"token id {bad} is outside the vocabulary (0..{self.config.vocab_size - 1})")
        if start + ids_t.numel() > self.config.context_length:
            raise GemmaInputError(f"{start + ids_t.numel()} positions exceed the context of "
                                  f"{self.config.context_length}")
        return ids_t.to(self.device)

    def _rope_for(self, base: float, end: int) -> tuple[torch.Tensor, torch.Tensor]:
        if end > self._rope_len:  # grow in powers of two: a table per call would dominate decode
            self._rope_len = min(self.config.context_length, max(1024, 1 << math.ceil(math.log2(end))))
            self._rope = {}
        if base not in self._rope:
            cos, sin = rope_tables(base, self.config.head_dim, self._rope_len, self.device)
            self._rope[base] = (cos.to(self.dtype), sin.to(self.dtype))
        return self._rope[base]

    # -- the network ----------------------------------------------------------------------------------

    def forward(self, ids: list[int] | torch.Tensor, start: int = 0, cache: LayerCache | None = None,
                all_logits: bool = False) -> torch.Tensor:
        """Float32 logits for the last position (``(vocab,)``), or every position (``(T, vocab)``).

        A call with several ids is a prompt: it must start at position 0, attends within itself, and
        fills ``cache`` when given. A call with one id at ``start > 0`` reads and extends ``cache``.
        """
        c = self.config
        ids_t = self.check_ids(ids, start)
        length = ids_t.numel()
        if start > 0 and (cache is None or length != 1):
            raise GemmaInputError("after the prompt, the model takes one id at a time with a cache")
        end = start + length
        rope = {base: tuple(t[start:end] for t in self._rope_for(base, end))
                for base in (c.rope_local_base, c.rope_global_base)}
        masks = {w: attention_mask(length, w, self.device) for w in (None, c.sliding_window)} if length > 1 else {}
        x = self.head.embed(ids_t) * self.embed_scale
        fused = self.fused and length == 1 and cache is not None
        for i, layer in enumerate(self.layers):
            window = c.window(i)
            cos, sin = rope[c.rope_global_base if window is None else c.rope_local_base]
            if fused:
                x = self._decode_layer(i, layer, x, cos, sin, cache, start)  # type: ignore[arg-type]
                continue
            q, k, v = _attention_in(layer.qkv(rms_norm(x, layer.attn_norm, c.eps)), layer.qk_norm,
                                    cos[:, None], sin[:, None], c.eps)
            if length > 1 or cache is None:
                if cache is not None:
                    cache.store(i, k[:, 0], v[:, 0])
                attn = self._attend_prompt(q, k, v, masks.get(window))
            else:
                keys, values = cache.append(i, k[:, 0], v[:, 0], start)
                attn = self._attend_one(q[0], keys, values)
            h = rms_norm(layer.out(attn.reshape(length, c.n_heads * c.head_dim)), layer.post_attn_norm, c.eps)
            x = x + h
            h = rms_norm(x, layer.ffn_norm, c.eps)
            gate, up = layer.gate_up(h).chunk(2, dim=-1)
            h = layer.down(F.gelu(gate, approximate="tanh") * up)
            x = x + rms_norm(h, layer.post_ffn_norm, c.eps)
        if not all_logits:
            x = x[-1:]
        logits = self.head.logits(rms_norm(x, self.final_norm, c.eps))
        return logits if all_logits else logits[0]

    def _decode_layer(self, i: int, layer: Layer, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                      cache: LayerCache, pos: int) -> torch.Tensor:
        """One token through one layer, for block-quantized weights on the CPU.

        The work before and after attention runs as two compiled regions (each dequantizing matvec
        fused with the norms and the GeGLU around it): one token's many small ops otherwise cost as
        much as reading the weights. Attention over the cache, whose length changes every step, stays
        eager.
        """
        c = self.config
        qkv, out, gate_up, down = layer.qkv, layer.out, layer.gate_up, layer.down
        # self.fused is set for the gguf format only, whose linears are all BlockLinear
        assert isinstance(qkv, BlockLinear) and isinstance(out, BlockLinear)
        assert isinstance(gate_up, BlockLinear) and isinstance(down, BlockLinear)
        q, k, v = compiled(_decode_attention_in)(x, layer.attn_norm, qkv.values, qkv.scales, qkv.mins,
                                                 layer.qk_norm, cos, sin, c.eps)
        keys, values = cache.append(i, k, v, pos)
        attn = self._attend_one(q, keys, values).reshape(1, -1)
        return compiled(_decode_attention_out_and_ffn)(
            x, attn, out.values, out.scales, out.mins, layer.post_attn_norm, layer.ffn_norm,
            gate_up.values, gate_up.scales, gate_up.mins, down.values, down.scales, down.mins,
            layer.post_ffn_norm, c.eps)

    def _attend_prompt(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
        """``(T, heads, head_dim)`` attention over the prompt itself (causal, windowed by ``mask``)."""
        heads = q.shape[1]
        qh = q.transpose(0, 1)[None]  # (1, heads, T, d)
        kh = k.transpose(0, 1)[None].expand(1, heads, -1, -1)  # the one KV head serves every query head
        vh = v.transpose(0, 1)[None].expand(1, heads, -1, -1)
        if mask is None:  # a single token sees only itself
            mask = torch.ones(1, 1, dtype=torch.bool, device=q.device)
        out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, scale=self.scale)
        return out[0].transpose(0, 1)

    def _attend_one(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """One position's ``(heads, head_dim)`` queries over the ``(n, head_dim)`` keys it may see."""
        scores = (q @ keys.T) * self.scale
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        return (probs @ values)[None]

    def warm_up(self) -> None:
        """Run one token through, so that compiling kernels is charged to loading, not to the first token."""
        from flight.jobs.gemma.decode import KVCache

        with torch.inference_mode():
            cache = KVCache(self.config, 4, self.dtype, self.device)
            self.forward([0, 0], 0, cache)  # the prompt path
            self.forward([0], 2, cache)  # the one-token path, where the compiled regions are

    def nbytes(self) -> int:
        """Bytes of weights held (what a decode step reads, apart from the KV cache)."""
        total = self.head.nbytes() + self.final_norm.numel() * 4
        for layer in self.layers:
            total += sum(lin.nbytes() for lin in (layer.qkv, layer.out, layer.gate_up, layer.down))
            total += sum(t.numel() * 4 for t in (layer.attn_norm, layer.qk_norm, layer.post_attn_norm,
                                                 layer.ffn_norm, layer.post_ffn_norm))
        return total


# -- loading ------------------------------------------------------------------------------------------


def default_weights(device: torch.device) -> str:
    """The fastest format that reproduces the reference's greedy ids on the fixtures (see the tests).

    On the CPU that is ``gguf``: the file's own quantized weights with float32 arithmetic. On CUDA it
    is bf16, as the job asks (tensor-core matmuls); bf16 departs from the reference at near-ties.
    """
    return "bf16" if device.type == "cuda" else "gguf"


def load_model(weights: str | None = None, device: str | torch.device | None = None,
               gguf: GGUFFile | None = None) -> GemmaModel:
    """Build the model from the GGUF (``gguf`` if already open, else the installed weights) in ``weights``
    format on ``device`` (a name, as ``flight.jobs.device.select`` takes it: CUDA when present), and
    compile what it needs."""
    from flight.jobs.device import select
    from flight.jobs.gemma.weights import gemma_gguf

    dev = device if isinstance(device, torch.device) else select(device).torch_device
    weights = weights or default_weights(dev)
    if weights not in FORMATS:
        raise GemmaModelError(f"unknown weight format {weights!r} (choose from {', '.join(FORMATS)})")
    gguf = gguf or GGUFFile.open(gemma_gguf())
    model = build_model(gguf.metadata, gguf.tensors, weights, dev)
    model.warm_up()
    return model


def build_model(meta: dict[str, object], tensors: dict[str, GGUFTensor], weights: str,
                device: torch.device) -> GemmaModel:
    """The model from an open GGUF's metadata and tensors."""
    try:
        embd = tensors["token_embd.weight"]
    except KeyError:
        raise GemmaModelError("the GGUF has no token_embd.weight") from None
    config = GemmaConfig.from_metadata(meta, vocab_size=embd.shape[0])
    if config.n_kv_heads != 1:  # the cache and the one-token attention hold one KV head, as the 270M has
        raise GemmaModelError(f"{config.n_kv_heads} KV heads: this implementation serves models with one")
    dtype = torch.float32 if weights in ("fp32", "gguf") else torch.bfloat16
    missing = [f"blk.{i}.{part}.weight" for i in range(config.n_layers)
               for part in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_q_norm", "attn_k_norm", "attn_output",
                            "post_attention_norm", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "post_ffw_norm")
               if f"blk.{i}.{part}.weight" not in tensors] + [n for n in ("output_norm.weight",) if n not in tensors]
    if missing:
        raise GemmaModelError(f"the GGUF lacks {len(missing)} tensors, e.g. {missing[0]}")
    w: dict[str, torch.Tensor] = {}  # one layer's tensors in float32 at a time, to bound the peak memory

    def linear(*parts: str) -> Linear:
        if weights == "gguf":
            return BlockLinear([block_quant(tensors[p]) for p in parts], device)
        full = torch.cat([w[p] for p in parts]) if len(parts) > 1 else w[parts[0]]
        if weights == "int8":
            return Int8Linear(full, dtype).to(device)
        return DenseLinear(full.to(device=device, dtype=dtype))

    def norm(name: str) -> torch.Tensor:
        return w[name].to(device)  # norms stay float32: they are applied in float32

    layers = []
    for i in range(config.n_layers):
        p = f"blk.{i}."
        w = dequantize_all([t for name, t in tensors.items() if name.startswith(p)
                            and (weights != "gguf" or len(t.shape) == 1)])  # gguf keeps its matrices quantized
        layers.append(Layer(
            attn_norm=norm(p + "attn_norm.weight"),
            qkv=linear(p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"),
            qk_norm=torch.cat([norm(p + "attn_q_norm.weight").expand(config.n_heads, -1),
                               norm(p + "attn_k_norm.weight")[None]]),
            out=linear(p + "attn_output.weight"), post_attn_norm=norm(p + "post_attention_norm.weight"),
            ffn_norm=norm(p + "ffn_norm.weight"), gate_up=linear(p + "ffn_gate.weight", p + "ffn_up.weight"),
            down=linear(p + "ffn_down.weight"), post_ffn_norm=norm(p + "post_ffw_norm.weight")))
    head: Head
    if weights == "gguf":
        head = BlockHead(block_quant(embd), device)
    elif weights == "int8":
        head = RescoredInt8Head(*q8_0_blocks(embd), dtype).to(device)
    else:
        head = DenseHead(dequantize(embd).to(device=device, dtype=dtype))
    return GemmaModel(config, layers, head, dequantize(tensors["output_norm.weight"]).to(device), dtype, device,
                      weights)

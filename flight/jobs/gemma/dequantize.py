"""GGUF tensor bytes → torch tensors.

Every type in the Gemma 3 270M file (F32, Q8_0, Q5_0, Q4_K, Q6_K) is dequantized by
``gguf.quants.dequantize``: it is the converter's own definition of the formats, so the weights we
compute with are the weights every other reader of the file sees. Q8_0 is also split into its int8
values and block scales (:func:`q8_0_blocks`), which is what the int8 output head keeps: the tied
embedding is Q8_0, so its int8 form is the file's own numbers and not a second quantization.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from gguf import GGMLQuantizationType
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize as gguf_dequantize

from flight.link.errors import ZenithError

SUPPORTED = (GGMLQuantizationType.F32, GGMLQuantizationType.Q8_0, GGMLQuantizationType.Q5_0,
             GGMLQuantizationType.Q4_K, GGMLQuantizationType.Q6_K)
Q8_0_BLOCK = 32
QK_K = 256  # the k-quants' super-block


class DequantizeError(ZenithError):
    """A tensor's type is not one we read, or its byte count does not match its shape."""


class RawTensor(Protocol):
    """What a GGUF reader gives for one tensor (``GGUFTensor`` has these fields)."""

    name: str
    shape: tuple[int, ...]  # row-major (numpy/torch) order
    ggml_type: int
    data: np.ndarray  # the tensor's raw bytes


def _raw_rows(tensor: RawTensor) -> tuple[GGMLQuantizationType, np.ndarray]:
    """The tensor's bytes as ``(rows, bytes per row)``, checked against its shape and type."""
    try:
        qtype = GGMLQuantizationType(int(tensor.ggml_type))
    except ValueError:
        raise DequantizeError(f"{tensor.name}: unknown ggml type {tensor.ggml_type}") from None
    if qtype not in SUPPORTED:
        raise DequantizeError(f"{tensor.name}: ggml type {qtype.name} is not supported "
                              f"(supported: {', '.join(t.name for t in SUPPORTED)})")
    block, block_bytes = GGML_QUANT_SIZES[qtype]
    cols = tensor.shape[-1] if tensor.shape else 1
    rows = int(np.prod(tensor.shape[:-1])) if len(tensor.shape) > 1 else 1
    if cols % block:
        raise DequantizeError(f"{tensor.name}: row length {cols} is not a multiple of the {qtype.name} "
                              f"block ({block})")
    row_bytes = cols // block * block_bytes
    raw = np.asarray(tensor.data).reshape(-1).view(np.uint8)
    if raw.size != rows * row_bytes:
        raise DequantizeError(f"{tensor.name}: {raw.size} bytes for shape {tensor.shape} of {qtype.name}, "
                              f"expected {rows * row_bytes}")
    return qtype, raw.reshape(rows, row_bytes)


def dequantize(tensor: RawTensor) -> torch.Tensor:
    """The tensor in float32, in its row-major shape (a new tensor that owns its memory)."""
    qtype, rows = _raw_rows(tensor)
    values = gguf_dequantize(rows, qtype)
    if qtype == GGMLQuantizationType.F32:  # a view of the read-only memory-mapped file: torch wants its own
        values = values.copy()
    return torch.from_numpy(values).reshape(tensor.shape)


def dequantize_all(tensors: list[RawTensor], workers: int = 2) -> dict[str, torch.Tensor]:
    """Dequantize many tensors at once; numpy drops the GIL in its array loops, so threads overlap."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip((t.name for t in tensors), pool.map(dequantize, tensors), strict=True))


def q8_0_blocks(tensor: RawTensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A Q8_0 tensor as int8 values ``(rows, cols)`` and float32 block scales ``(rows, cols // 32)``.

    ``values.view(rows, -1, 32) * scales[..., None]`` is exactly what :func:`dequantize` returns: an
    fp16 scale times an int8 is exact in float32.
    """
    qtype, rows = _raw_rows(tensor)
    if qtype != GGMLQuantizationType.Q8_0:
        raise DequantizeError(f"{tensor.name}: q8_0_blocks needs Q8_0, not {qtype.name}")
    n_rows = rows.shape[0]
    blocks = rows.reshape(n_rows, -1, 2 + Q8_0_BLOCK)  # a block: fp16 scale, then 32 int8 values
    scales = np.ascontiguousarray(blocks[:, :, :2]).view(np.float16)[:, :, 0].astype(np.float32)
    values = np.ascontiguousarray(blocks[:, :, 2:]).view(np.int8).reshape(n_rows, -1)
    return torch.from_numpy(values).reshape(tensor.shape), torch.from_numpy(scales)


def q8_0_rows(values: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Float32 rows from :func:`q8_0_blocks` output (any leading index already applied)."""
    lead = values.shape[:-1]
    return (values.reshape(*lead, -1, Q8_0_BLOCK).float() * scales.unsqueeze(-1)).reshape(*lead, -1)


@dataclass(frozen=True, slots=True)
class BlockQuant:
    """A quantized matrix as int8 values with float32 scales (and mins) per block of columns.

    ``values * scales - mins`` (each scale and min repeated over its block) is, bit for bit, what
    :func:`dequantize` returns: the products are formed in the same order as gguf's own code.
    """

    values: torch.Tensor  # int8 (rows, cols)
    scales: torch.Tensor  # float32 (rows, cols // block)
    mins: torch.Tensor | None  # float32 (rows, cols // block), Q4_K only

    @property
    def block(self) -> int:
        return self.values.shape[1] // self.scales.shape[1]

    def dequantize(self) -> torch.Tensor:
        rows, cols = self.values.shape
        w = self.values.reshape(rows, -1, self.block).float() * self.scales.unsqueeze(-1)
        if self.mins is not None:
            w = w - self.mins.unsqueeze(-1)
        return w.reshape(rows, cols)


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)


def block_quant(tensor: RawTensor) -> BlockQuant:
    """Split a 2-D Q8_0, Q5_0, Q4_K or Q6_K tensor into int8 values and block scales (and mins).

    The bit unpacking mirrors ``gguf.quants`` (``dequantize_blocks`` of each type), stopping before
    the final multiply.
    """
    qtype, rows = _raw_rows(tensor)
    if len(tensor.shape) != 2:
        raise DequantizeError(f"{tensor.name}: block_quant takes a matrix, not shape {tensor.shape}")
    n_rows, cols = tensor.shape
    block, block_bytes = GGML_QUANT_SIZES[qtype]
    blocks = rows.reshape(-1, block_bytes)
    n = blocks.shape[0]
    mins = None
    if qtype == GGMLQuantizationType.Q8_0:
        scales = _f16(blocks[:, :2])
        values = np.ascontiguousarray(blocks[:, 2:]).view(np.int8)
    elif qtype == GGMLQuantizationType.Q5_0:
        scales = _f16(blocks[:, :2])
        qh = np.ascontiguousarray(blocks[:, 2:6]).view(np.uint32).reshape(n, 1)
        qh = ((qh >> np.arange(32, dtype=np.uint32).reshape(1, 32)) & np.uint32(1)).astype(np.uint8)
        ql = blocks[:, 6:].reshape(n, 1, 16) >> np.array([0, 4], dtype=np.uint8).reshape(1, 2, 1)
        ql = (ql & np.uint8(0x0F)).reshape(n, 32)
        values = (ql | (qh << np.uint8(4))).astype(np.int8) - np.int8(16)
    elif qtype == GGMLQuantizationType.Q4_K:
        d, dmin = _f16(blocks[:, 0:2]), _f16(blocks[:, 2:4])
        sc, m = _scale_min_k4(blocks[:, 4:16])
        scales = d * sc.astype(np.float32)  # (n, 8): one per 32 values
        mins = dmin * m.astype(np.float32)
        qs = blocks[:, 16:].reshape(n, -1, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
        values = (qs & np.uint8(0x0F)).reshape(n, QK_K).astype(np.int8)
        block = 32
    elif qtype == GGMLQuantizationType.Q6_K:
        ql, qh = blocks[:, :QK_K // 2], blocks[:, QK_K // 2:QK_K // 2 + QK_K // 4]
        sc = np.ascontiguousarray(blocks[:, QK_K * 3 // 4:QK_K * 3 // 4 + 16]).view(np.int8).astype(np.float32)
        scales = _f16(blocks[:, -2:]) * sc  # (n, 16): one per 16 values
        ql = ql.reshape(n, -1, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
        ql = (ql & np.uint8(0x0F)).reshape(n, -1, 32)
        qh = qh.reshape(n, -1, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
        qh = (qh & np.uint8(0x03)).reshape(n, -1, 32)
        values = (ql | (qh << np.uint8(4))).astype(np.int8) - np.int8(32)
        block = 16
    else:
        raise DequantizeError(f"{tensor.name}: block_quant does not take {qtype.name}")
    per_row = cols // block
    return BlockQuant(torch.from_numpy(np.ascontiguousarray(values).reshape(n_rows, cols)),
                      torch.from_numpy(np.ascontiguousarray(scales, dtype=np.float32).reshape(n_rows, per_row)),
                      None if mins is None else torch.from_numpy(
                          np.ascontiguousarray(mins, dtype=np.float32).reshape(n_rows, per_row)))


def _scale_min_k4(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K's eight 6-bit scales and mins from their 12 packed bytes (as ``Q4_K.get_scale_min``)."""
    packed = np.ascontiguousarray(packed).reshape(-1, 3, 4)
    d, m, m_d = packed[:, 0], packed[:, 1], packed[:, 2]
    sc = np.concatenate([d & 0x3F, (m_d & 0x0F) | ((d >> 2) & 0x30)], axis=-1)
    mn = np.concatenate([m & 0x3F, (m_d >> 4) | ((m >> 2) & 0x30)], axis=-1)
    return sc, mn

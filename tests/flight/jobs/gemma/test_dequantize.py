"""Our split of the GGUF's quantized tensors against gguf's own dequantizer, bit for bit, on every tensor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType

from flight.jobs.gemma.dequantize import DequantizeError, block_quant, dequantize, q8_0_blocks, q8_0_rows
from flight.jobs.gemma.gguf_file import GGUFFile
from flight.jobs.gemma.weights import gemma_gguf


@pytest.fixture(scope="module")
def gguf() -> GGUFFile:
    return GGUFFile.open(gemma_gguf())


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def test_block_quant_is_bit_exact_on_every_matrix(gguf: GGUFFile) -> None:
    seen = set()
    for name, tensor in gguf.tensors.items():
        if len(tensor.shape) != 2:
            continue
        seen.add(GGMLQuantizationType(tensor.ggml_type).name)
        assert torch.equal(_bits(block_quant(tensor).dequantize()), _bits(dequantize(tensor))), name
    assert seen == {"Q8_0", "Q5_0", "Q4_K", "Q6_K"}


def test_dequantize_keeps_shapes_and_float32(gguf: GGUFFile) -> None:
    norm, q = gguf.tensors["blk.0.attn_norm.weight"], gguf.tensors["blk.0.attn_q.weight"]
    assert dequantize(norm).shape == (640,) and dequantize(q).shape == (1024, 640)
    assert dequantize(norm).dtype == torch.float32


def test_q8_0_blocks_rebuild_the_embedding_rows(gguf: GGUFFile) -> None:
    embd = gguf.tensors["token_embd.weight"]
    values, scales = q8_0_blocks(embd)
    rows = torch.tensor([0, 2, 1000, 262_143])
    expected = dequantize(embd)[rows]
    assert torch.equal(_bits(q8_0_rows(values[rows], scales[rows])), _bits(expected))


@dataclass(frozen=True)
class _Fake:
    name: str
    shape: tuple[int, ...]
    ggml_type: int
    data: np.ndarray


@pytest.mark.parametrize("fake", [
    _Fake("short", (2, 32), int(GGMLQuantizationType.Q8_0), np.zeros(60, dtype=np.uint8)),
    _Fake("unaligned", (2, 40), int(GGMLQuantizationType.Q8_0), np.zeros(80, dtype=np.uint8)),
    _Fake("unsupported", (2, 32), int(GGMLQuantizationType.Q2_K), np.zeros(64, dtype=np.uint8)),
    _Fake("unknown", (2, 32), 9999, np.zeros(64, dtype=np.uint8)),
])
def test_bad_tensors_are_typed_errors(fake: _Fake) -> None:
    with pytest.raises(DequantizeError):
        dequantize(fake)

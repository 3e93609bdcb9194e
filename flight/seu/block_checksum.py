"""Checksums of a tensor's memory in fixed blocks, computed where the tensor lives.

A block checksum says *where* an upset is (tensor and block), which a whole-tensor checksum does not,
and a repair or a report can name it. On the CPU each block gets a CRC-32C (the SSE4.2 instruction,
through ``crc32c``), straight from the tensor's memory. On CUDA a kernel reads the tensor in place
(zero-copy, through DLPack) and gives each block a Fletcher-style pair of 64-bit sums of its 32-bit
words: the plain sum changes by ±2**k for any single flipped bit, so no single upset goes unseen,
and the position-weighted sum catches words that trade places. A block's checksum is only ever
compared with one computed on the same device, so the two kinds never meet.
"""

from __future__ import annotations

from dataclasses import dataclass

import crc32c
import numpy as np
import torch

BLOCK_BYTES = 64 * 1024  # small enough to name the damage, large enough that the per-block cost is nothing


def byte_view(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's memory as bytes, without a copy (it must be contiguous: parameters and states are)."""
    if not tensor.is_contiguous():
        raise ValueError("a protected tensor must be contiguous")
    return tensor.detach().reshape(-1).view(torch.uint8)


def block_count(nbytes: int, block_bytes: int = BLOCK_BYTES) -> int:
    return max(1, -(-nbytes // block_bytes))


@dataclass(frozen=True)
class Sums:
    """The checksums of a BlockMap's blocks: a flat list for the CPU ones, a device tensor per CUDA tensor."""
    cpu: list[int]
    cuda: dict[str, torch.Tensor]


class BlockMap:
    """The blocks of a fixed set of tensors, laid out once so that each scrub is only the checksums.

    A training step's state is a hundred tensors or more, most of them smaller than a block. Laying out
    the byte views and block slices once (the tensors keep their memory from step to step) leaves a
    scrub one CRC call per block, at the memory bandwidth a core gets: this halved the scrub of the
    CPU training config, whose per-tensor views cost as much as the CRCs.
    """

    def __init__(self, tensors: dict[str, torch.Tensor], block_bytes: int = BLOCK_BYTES) -> None:
        self.block_bytes = block_bytes
        self.key = _key(tensors)
        self.nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
        self._slices: list[np.ndarray] = []
        self._where: list[tuple[str, int]] = []
        self._cuda: dict[str, torch.Tensor] = {}
        for name, tensor in tensors.items():
            if tensor.device.type == "cuda":
                self._cuda[name] = tensor
                continue
            data = byte_view(tensor).numpy()
            for block, start in enumerate(range(0, max(data.size, 1), block_bytes)):
                self._slices.append(data[start:start + block_bytes])
                self._where.append((name, block))

    def matches(self, tensors: dict[str, torch.Tensor]) -> bool:
        """The same tensors, in the same memory: the layout still holds."""
        return _key(tensors) == self.key

    def checksums(self) -> Sums:
        cuda = {}
        if self._cuda:
            from flight.seu.cuda_checksum import cuda_checksums

            cuda = {name: cuda_checksums(t, self.block_bytes) for name, t in self._cuda.items()}
        return Sums([crc32c.crc32c(piece) for piece in self._slices], cuda)

    def differing(self, sealed: Sums, now: Sums) -> list[tuple[str, int]]:
        """(tensor, block) of every block whose checksum changed."""
        found = []
        if sealed.cpu != now.cpu:
            found = [self._where[i] for i, (a, b) in enumerate(zip(sealed.cpu, now.cpu, strict=True)) if a != b]
        for name, reference in sealed.cuda.items():
            found += [(name, block) for block in differing_blocks(reference, now.cuda[name])]
        return found


def _key(tensors: dict[str, torch.Tensor]) -> tuple[tuple[str, int, int], ...]:
    return tuple((name, t.data_ptr(), t.numel() * t.element_size()) for name, t in tensors.items())


def fletcher_reference(data: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """What the CUDA kernel computes, in numpy: for each block, (Σ w, Σ (i+1)·w) mod 2**64 over its
    little-endian 32-bit words w (a short last word zero-padded). The GPU check compares the two."""
    out = np.empty((block_count(data.size, block_bytes), 2), dtype=np.uint64)
    for index in range(out.shape[0]):
        chunk = data[index * block_bytes:(index + 1) * block_bytes]
        padded = np.zeros(-(-chunk.size // 4) * 4, dtype=np.uint8)
        padded[:chunk.size] = chunk
        words = padded.view("<u4").astype(np.uint64)
        weights = np.arange(1, words.size + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            out[index] = (words.sum(dtype=np.uint64), (words * weights).sum(dtype=np.uint64))
    return out


def differing_blocks(reference: np.ndarray | torch.Tensor, current: np.ndarray | torch.Tensor) -> list[int]:
    """The blocks whose checksums differ (on CUDA, one small read of the comparison)."""
    if isinstance(reference, torch.Tensor):
        differ = (reference != current).reshape(reference.shape[0], -1).any(dim=1)
        return [int(i) for i in torch.nonzero(differ).flatten().tolist()]
    differ = reference != current
    if differ.ndim > 1:
        differ = differ.any(axis=1)
    return [int(i) for i in np.flatnonzero(differ)]

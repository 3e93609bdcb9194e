"""Block checksums of a CUDA tensor, read in place by a cupy kernel (imported only on a CUDA machine).

One thread block per checksum block: its threads stride over the block's 32-bit words (coalesced),
sum them and their position-weighted values in 64 bits, and reduce in shared memory. The tensor is
handed to cupy through DLPack, so nothing is copied, and the kernel runs on torch's current stream,
so it is ordered with the training's own kernels. ``fletcher_reference`` in ``block_checksum`` is the
same arithmetic in numpy; the GPU check compares them.
"""

from __future__ import annotations

import functools

import torch

from flight.seu.block_checksum import block_count, byte_view

THREADS = 256

_SOURCE = r"""
extern "C" __global__ void block_fletcher(const unsigned char* data, unsigned long long nbytes,
                                          unsigned long long block_bytes, unsigned long long* out) {
    __shared__ unsigned long long sums[256];
    __shared__ unsigned long long weighted[256];
    const unsigned long long start = (unsigned long long)blockIdx.x * block_bytes;
    unsigned long long end = start + block_bytes;
    if (end > nbytes) end = nbytes;
    const unsigned long long words = (end - start) / 4;
    const unsigned int* base = (const unsigned int*)(data + start);  // blocks start 4-aligned
    unsigned long long s = 0, w = 0;
    for (unsigned long long i = threadIdx.x; i < words; i += blockDim.x) {
        const unsigned long long word = base[i];
        s += word;
        w += word * (i + 1);
    }
    if (threadIdx.x == 0 && (end - start) % 4) {  // a short last word, zero-padded
        unsigned long long word = 0;
        for (unsigned long long b = start + words * 4; b < end; ++b)
            word |= (unsigned long long)data[b] << (8 * (b - start - words * 4));
        s += word;
        w += word * (words + 1);
    }
    sums[threadIdx.x] = s;
    weighted[threadIdx.x] = w;
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (threadIdx.x < half) {
            sums[threadIdx.x] += sums[threadIdx.x + half];
            weighted[threadIdx.x] += weighted[threadIdx.x + half];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[2 * blockIdx.x] = sums[0];
        out[2 * blockIdx.x + 1] = weighted[0];
    }
}
"""


@functools.cache
def _kernel():  # compiled once per process, on first use
    import cupy

    return cupy.RawKernel(_SOURCE, "block_fletcher")


def cuda_checksums(tensor: torch.Tensor, block_bytes: int) -> torch.Tensor:
    """(blocks, 2) uint64 sums of a CUDA tensor's memory, left on the device (as int64: torch has no u64).

    Without cupy (a CUDA torch alone), the same sums come from torch's own operations: correct, but
    they expand the words to 64 bits in a temporary, so they read and write several times the bytes.
    """
    try:
        import cupy
    except ImportError:
        return torch_checksums(tensor, block_bytes)
    if block_bytes % 4 or tensor.data_ptr() % 4:
        raise ValueError("the CUDA checksum reads 32-bit words: blocks and tensors must be 4-aligned")
    data = byte_view(tensor)
    blocks = block_count(data.numel(), block_bytes)
    out = torch.empty((blocks, 2), dtype=torch.int64, device=tensor.device)
    with cupy.cuda.Device(tensor.device.index), \
            cupy.cuda.ExternalStream(torch.cuda.current_stream(tensor.device).cuda_stream):
        _kernel()((blocks,), (THREADS,), (cupy.from_dlpack(data), cupy.uint64(data.numel()),
                                          cupy.uint64(block_bytes), cupy.from_dlpack(out)))
    return out


def torch_checksums(tensor: torch.Tensor, block_bytes: int) -> torch.Tensor:
    """The kernel's sums with torch operations, on any device. In 64 KiB blocks neither sum can reach
    2**63 (16384 words below 2**32, weights up to 16384), so int64 holds them exactly."""
    if block_bytes % 4 or block_bytes > 1 << 16:
        raise ValueError("blocks of whole 32-bit words, at most 64 KiB, keep the sums inside int64")
    data = byte_view(tensor)
    blocks = block_count(data.numel(), block_bytes)
    padded = torch.zeros(blocks * block_bytes, dtype=torch.uint8, device=data.device)
    padded[:data.numel()] = data
    words = (padded.view(torch.int32).to(torch.int64) & 0xFFFFFFFF).view(blocks, block_bytes // 4)
    weights = torch.arange(1, block_bytes // 4 + 1, dtype=torch.int64, device=data.device)
    return torch.stack([words.sum(dim=1), (words * weights).sum(dim=1)], dim=1)

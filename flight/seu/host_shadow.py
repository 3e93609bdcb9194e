"""A copy of the protected state in host memory, to roll back to without reading a checkpoint.

Taken every few steps into buffers reused from one take to the next (pinned on CUDA). The shadow is
memory too, and can be hit: it is sealed with its own block checksums when taken, and verified
before it is trusted. The RNG states go with it, so that the steps replayed after a rollback draw
exactly what they drew the first time.
"""

from __future__ import annotations

import torch

from flight.jobs.checkpoint import rng_states, set_rng_states
from flight.seu.block_checksum import BlockMap, Sums


class HostShadow:
    def __init__(self) -> None:
        self.step = -1  # none taken
        self._buffers: dict[str, torch.Tensor] = {}
        self._map = BlockMap({})
        self._sealed = Sums([], {})
        self._rng: dict[str, torch.Tensor] = {}

    @property
    def held(self) -> bool:
        return self.step >= 0

    @property
    def names(self) -> set[str]:
        return set(self._buffers)

    def take(self, step: int, tensors: dict[str, torch.Tensor]) -> None:
        devices = set()
        for name, tensor in tensors.items():
            buffer = self._buffers.get(name)
            if buffer is None or buffer.shape != tensor.shape or buffer.dtype != tensor.dtype:
                buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=tensor.is_cuda)
                self._buffers[name] = buffer
            buffer.copy_(tensor.detach(), non_blocking=tensor.is_cuda)
            if tensor.is_cuda:
                devices.add(tensor.device)
        for device in devices:
            torch.cuda.synchronize(device)
        for stale in set(self._buffers) - set(tensors):
            del self._buffers[stale]
        if not self._map.matches(self._buffers):
            self._map = BlockMap(self._buffers)
        self._sealed = self._map.checksums()
        self._rng = {name: state.clone() for name, state in rng_states().items()}
        self.step = step

    def intact(self) -> bool:
        """The shadow still reads as it was taken (an upset here too would make it a bad source)."""
        return self.held and self._map.differing(self._sealed, self._map.checksums()) == []

    def restore(self, tensors: dict[str, torch.Tensor]) -> int:
        """Copy the shadow back into the live tensors (in place: the optimizer keeps its own objects)."""
        if set(tensors) != set(self._buffers):
            raise ValueError("the shadow does not hold the state it is asked to restore")
        for name, tensor in tensors.items():
            tensor.copy_(self._buffers[name])
        set_rng_states(self._rng)
        return self.step

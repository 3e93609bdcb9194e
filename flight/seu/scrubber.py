"""Seal a set of tensors with block checksums, and later verify that nothing in them changed.

The set is asked for afresh at every seal, because an optimizer creates its state at its first step
and a restore may replace it. Verification compares every block with its sealed checksum and names
each block that differs: the upset's tensor and place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from flight.seu.block_checksum import BLOCK_BYTES, BlockMap, Sums


@dataclass(frozen=True)
class Detection:
    tensor: str
    block: int


class Scrubber:
    def __init__(self, tensors: Callable[[], dict[str, torch.Tensor]], block_bytes: int = BLOCK_BYTES) -> None:
        self._tensors = tensors
        self.block_bytes = block_bytes
        self._map: BlockMap | None = None
        self._sealed: Sums | None = None
        self.scrubbed_bytes = 0  # read and checksummed, seals and verifications together
        self.detections = 0

    @property
    def sealed(self) -> bool:
        return self._sealed is not None

    def seal(self, relayout: bool = True) -> None:
        """Take the checksums of the tensors as they are now: the state that later reads must find.

        ``relayout=False`` promises the tensors are the ones of the last seal, which saves asking for
        them and comparing (a fifth of a seal of the CPU training config's hundred small tensors)."""
        if relayout or self._map is None:
            tensors = self._tensors()
            if self._map is None or not self._map.matches(tensors):
                self._map = BlockMap(tensors, self.block_bytes)  # new tensors (a restore, the first step)
        self._sealed = self._read()

    def verify(self) -> list[Detection]:
        """Every block that differs from its seal (none: the state is as it was sealed)."""
        if self._map is None or self._sealed is None:
            return []
        found = [Detection(name, block) for name, block in self._map.differing(self._sealed, self._read())]
        self.detections += len(found)
        return found

    def _read(self) -> Sums:
        assert self._map is not None
        self.scrubbed_bytes += self._map.nbytes
        return self._map.checksums()

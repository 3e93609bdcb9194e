"""Scrubbing an inference job's weights: found damage is repaired in place, the job never restarts.

Weights do not change while a model serves, so they are sealed once, after loading, and verified on a
schedule between tokens. A block that no longer matches is copied back from a golden copy, rebuilt
from where the weights came from (the GGUF on disk, or the checkpoint file), and the generation goes
on with the next token as if nothing had happened. The golden copy is rebuilt only when something is
found: keeping one in memory would double what the model holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from flight.seu.block_checksum import byte_view
from flight.seu.scrubber import Detection, Scrubber

Report = Callable[[str, dict[str, Any]], None]


class RepairFailed(Exception):
    """The golden copy did not give back the sealed bytes: the weights cannot be trusted."""


def resident_tensors(root: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor a model object holds, by attribute path, each storage once.

    Walks ``nn.Module`` parameters and buffers, and plain objects (their ``__dict__`` and slots, lists
    and tuples), skipping private attributes: those hold caches built from the weights (rope tables),
    not weights.
    """
    found: dict[str, torch.Tensor] = {}
    seen: set[int] = set()

    def walk(value: object, path: str) -> None:
        if isinstance(value, torch.Tensor):
            if value.data_ptr() not in seen and value.numel() > 0:
                seen.add(value.data_ptr())
                found[path] = value.detach()
        elif isinstance(value, torch.nn.Module):
            for name, tensor in [*value.named_parameters(), *value.named_buffers()]:
                walk(tensor, f"{path}.{name}" if path else name)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")
        elif hasattr(value, "__dict__") or hasattr(type(value), "__slots__"):
            names = list(getattr(value, "__dict__", {})) + list(getattr(type(value), "__slots__", ()))
            for name in names:
                if not name.startswith("_") and hasattr(value, name):
                    walk(getattr(value, name), f"{path}.{name}" if path else name)

    walk(root, prefix)
    return found


class WeightScrubber:
    def __init__(self, tensors: dict[str, torch.Tensor], golden: Callable[[], dict[str, torch.Tensor]],
                 interval_s: float, report: Report = lambda _kind, _fields: None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.tensors = tensors
        self.golden = golden  # the weights rebuilt from their source, with the same names
        self.interval_s = interval_s  # 0: scrub at every call of maybe_scrub
        self.report = report
        self.clock = clock
        self.scrubber = Scrubber(lambda: tensors)
        self.scrubber.seal()
        self.repairs = 0
        self._next = clock() + interval_s

    def maybe_scrub(self, step: int = 0) -> int:
        """Scrub if the schedule says so (called between tokens); the blocks repaired."""
        if self.clock() < self._next:
            return 0
        return self.scrub(step)

    def scrub(self, step: int = 0) -> int:
        """Verify every weight now and repair what differs; the blocks repaired."""
        self._next = self.clock() + self.interval_s
        found = self.scrubber.verify()
        if found:
            golden = self.golden()
            for detection in found:
                self._repair(detection, golden[detection.tensor])
                self.report("upset", {"step": step, "target": detection.tensor, "block": detection.block,
                                      "action": "repaired in place from the golden copy", "lost_steps": 0})
            left = self.scrubber.verify()
            if left:
                raise RepairFailed(f"{left[0].tensor} block {left[0].block} still differs after its repair")
            self.repairs += len(found)
        self.report("protection", self.stats())
        return len(found)

    def _repair(self, detection: Detection, golden: torch.Tensor) -> None:
        live = byte_view(self.tensors[detection.tensor])
        start = detection.block * self.scrubber.block_bytes
        end = min(start + self.scrubber.block_bytes, live.numel())
        source = byte_view(golden)
        if source.numel() != live.numel():
            raise RepairFailed(f"the golden {detection.tensor} has {source.numel()} bytes, the live one {live.numel()}")
        live[start:end].copy_(source[start:end].to(live.device))

    def stats(self) -> dict[str, int]:
        return {"scrubbed_bytes": self.scrubber.scrubbed_bytes, "detections": self.scrubber.detections,
                "rollbacks": 0, "lost_steps": 0, "repairs": self.repairs}



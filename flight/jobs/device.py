"""The device a job runs on: CUDA when present (bf16 autocast, TF32), the CPU otherwise (fp32)."""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

import torch

from flight.link.errors import ZenithError


class DeviceError(ZenithError):
    """A device asked for that this machine does not have."""


@dataclass(frozen=True)
class Device:
    torch_device: torch.device

    @property
    def type(self) -> str:
        return self.torch_device.type

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()  # fp32 on the CPU: bf16 autocast there is slower and less exact

    def memory_bytes(self) -> int:
        """Peak device memory in use: allocated CUDA memory, or this process's peak RSS on a CPU."""
        if self.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.torch_device))
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def synchronize(self) -> None:
        if self.type == "cuda":
            torch.cuda.synchronize(self.torch_device)

    def describe(self) -> str:
        if self.type == "cuda":
            return f"cuda:{self.torch_device.index or 0} {torch.cuda.get_device_name(self.torch_device)}"
        return f"cpu ({torch.get_num_threads()} threads)"


def select(name: str | None = None, index: int = 0,
           cuda_available: Callable[[], bool] = torch.cuda.is_available) -> Device:
    """``cuda`` or ``cpu`` as asked; by default CUDA when there is one."""
    wanted = name or ("cuda" if cuda_available() else "cpu")
    if wanted == "cuda":
        if not cuda_available():
            raise DeviceError("--device cuda, but this machine has no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = True  # TF32 tensor cores for fp32 matmuls
        torch.backends.cudnn.allow_tf32 = True
        return Device(torch.device("cuda", index))
    if wanted != "cpu":
        raise DeviceError(f"device {wanted!r}: cpu or cuda")
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, threads))
    return Device(torch.device("cpu"))

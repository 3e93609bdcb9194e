"""A stand-in for ``pynvml``'s power calls, for CPU machines: the same names, units (milliwatts)
and errors, with a board whose readings a test sets and whose cap it can watch."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import pytest


class NVMLError(Exception):
    pass


class NVMLError_NoPermission(NVMLError):  # noqa: N801 (pynvml's name)
    pass


class NVMLError_NotSupported(NVMLError):  # noqa: N801
    pass


class NVMLError_InvalidArgument(NVMLError):  # noqa: N801
    pass


class NVMLError_LibraryNotFound(NVMLError):  # noqa: N801
    pass


@dataclass
class FakeNvml:
    min_w: float = 200.0
    max_w: float = 700.0
    default_w: float = 700.0
    draw_w: float = 80.0
    temp_c: float = 40.0
    settable: bool = True  # False: the process has no permission to set the cap
    present: bool = True  # False: no driver (nvmlInit fails)
    failing_reads: int = 0  # the next reads that fail
    failing_sets: int = 0  # the next caps that fail for a passing reason
    shut_down: bool = False
    caps_set_w: list[float] = field(default_factory=list)
    NVML_TEMPERATURE_GPU: int = 0

    def __post_init__(self) -> None:
        self.cap_mw = round(self.default_w * 1000)
        self.NVMLError = NVMLError
        self.NVMLError_NoPermission = NVMLError_NoPermission
        self.NVMLError_NotSupported = NVMLError_NotSupported

    def nvmlInit(self) -> None:  # noqa: N802 (pynvml's names, all below)
        if not self.present:
            raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.shut_down = True

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802
        return f"gpu{index}"

    def nvmlDeviceGetPowerManagementLimitConstraints(self, _handle: str) -> list[int]:  # noqa: N802
        return [round(self.min_w * 1000), round(self.max_w * 1000)]

    def nvmlDeviceGetPowerManagementDefaultLimit(self, _handle: str) -> int:  # noqa: N802
        return round(self.default_w * 1000)

    def nvmlDeviceGetPowerUsage(self, _handle: str) -> int:  # noqa: N802
        if self.failing_reads:
            self.failing_reads -= 1
            raise NVMLError("Unknown Error")
        return round(self.draw_w * 1000)

    def nvmlDeviceGetTemperature(self, _handle: str, sensor: int) -> int:  # noqa: N802
        assert sensor == self.NVML_TEMPERATURE_GPU
        return round(self.temp_c)

    def nvmlDeviceGetEnforcedPowerLimit(self, _handle: str) -> int:  # noqa: N802
        return self.cap_mw

    def nvmlDeviceSetPowerManagementLimit(self, _handle: str, limit_mw: int) -> None:  # noqa: N802
        if not self.settable:
            raise NVMLError_NoPermission("Insufficient Permissions")
        if self.failing_sets:
            self.failing_sets -= 1
            raise NVMLError("Timeout")
        if not isinstance(limit_mw, int) or not self.min_w * 1000 <= limit_mw <= self.max_w * 1000:
            raise NVMLError_InvalidArgument("Invalid Argument")
        self.cap_mw = limit_mw
        self.caps_set_w.append(limit_mw / 1000)


def install(monkeypatch: pytest.MonkeyPatch, **board: float | bool) -> FakeNvml:
    """The fake, where ``import pynvml`` finds it."""
    fake = FakeNvml(**board)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake

"""The real GPU's side of power: its draw, temperature and cap through NVML (``nvidia-ml-py``).

On a GPU the governor reads what the board draws and how hot it is, instead of the simulated model's
figures, and, only where the mission file allows it (``[flight] power_cap_control``), sets the
board's power cap. Setting a cap needs root or the administrator's leave and is not supported on
every board, so a refusal is an ordinary outcome (:class:`CapRefused`), not a crash: the governor
then plans with the cap the driver enforces and governs by duty cycle and suspension alone.

The supervisor imports this (no torch here), and ``pynvml`` only when a GPU is asked for, so a CPU
bench never needs the library.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from flight.link.errors import ConfigError
from flight.power.gpu_model import GpuPowerModel

GPU_POWER_SOURCES = ("auto", "nvml", "simulated")
log = logging.getLogger(__name__)


class GpuPowerError(Exception):
    """NVML would not answer or would not do what was asked."""


class CapRefused(GpuPowerError):
    """The driver will not take a power cap, now or later (no permission, not supported, not allowed
    here). Any other failure to set one is a plain :class:`GpuPowerError`, worth another try."""


@dataclass(frozen=True)
class GpuSensed:
    draw_w: float  # the board's power now
    temp_c: float  # the GPU die
    cap_w: float  # the cap the driver enforces now (the lowest of ours, the administrator's, the board's)


class NvmlGpu:
    """One GPU's power through NVML. NVML speaks milliwatts; everything here is in watts."""

    name = "NVML"

    def __init__(self, index: int = 0, control: bool = False) -> None:
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        low, high = pynvml.nvmlDeviceGetPowerManagementLimitConstraints(self._handle)
        self.cap_range_w = (low / 1000.0, high / 1000.0)
        self.default_cap_w = pynvml.nvmlDeviceGetPowerManagementDefaultLimit(self._handle) / 1000.0
        self.control = control  # the mission file allows setting the cap
        self._set_by_us = False

    def read(self) -> GpuSensed:
        nvml, handle = self._nvml, self._handle
        try:
            return GpuSensed(draw_w=nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0,
                             temp_c=float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU)),
                             cap_w=nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0)
        except nvml.NVMLError as exc:
            raise GpuPowerError(f"NVML: {exc}") from None

    def set_cap(self, cap_w: float) -> None:
        """The board's cap, clamped into the driver's range; :class:`CapRefused` if it will not take it."""
        if not self.control:
            raise CapRefused("the mission file does not allow it ([flight] power_cap_control = false)")
        low, high = self.cap_range_w
        nvml = self._nvml
        try:
            nvml.nvmlDeviceSetPowerManagementLimit(self._handle, round(min(high, max(low, cap_w)) * 1000))
        except (nvml.NVMLError_NoPermission, nvml.NVMLError_NotSupported) as exc:
            raise CapRefused(f"NVML: {exc}") from None
        except nvml.NVMLError as exc:
            raise GpuPowerError(f"NVML: {exc}") from None
        self._set_by_us = True

    def close(self) -> None:
        """The supervisor exits: the board's default cap again, if we changed it (a kill leaves the
        last cap we set, and the next supervisor sets its own), and NVML let go."""
        nvml = self._nvml
        try:
            if self._set_by_us:
                nvml.nvmlDeviceSetPowerManagementLimit(self._handle, round(self.default_cap_w * 1000))
                self._set_by_us = False
        except nvml.NVMLError as exc:
            log.warning("the GPU's default power cap could not be put back: %s", exc)
        finally:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def model(self, base: GpuPowerModel) -> GpuPowerModel:
        """The governor's model, fitted to this board's cap range (its shape stays the base model's).
        A board NVML can read is powered: with its job suspended it idles, it is not switched off."""
        low, high = self.cap_range_w
        if not 0 < low <= high:
            return base  # a driver that reports no usable range: the base model's caps
        idle = min(base.idle_w, low / 2)  # a board whose lowest cap is under our idle figure
        return GpuPowerModel(idle_w=idle, max_w=high, min_cap_w=low, exponent=base.exponent, suspended_w=idle)


def open_nvml_gpu(kind: str = "auto", control: bool = False) -> NvmlGpu | None:
    """``nvml`` (a GPU must be there), ``simulated`` (None: the model stands in), or ``auto``: NVML
    where it finds a GPU whose power it can read, the model elsewhere (one of GPU_POWER_SOURCES: the
    mission file's check)."""
    if kind == "simulated":
        return None
    try:
        gpu = NvmlGpu(control=control)
        gpu.read()  # a board that cannot report its power is no use to the governor
        return gpu
    except Exception as exc:  # ImportError, or pynvml's errors (no library, no driver, no device, not supported)
        if kind == "nvml":
            raise ConfigError(f"flight.gpu_power nvml: NVML cannot read the GPU's power here "
                              f"({type(exc).__name__}: {exc})") from None
        return None


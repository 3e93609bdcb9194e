"""Where the GPU's memory-error counts come from: NVML on a real GPU, a simulated source on the bench.

The supervisor imports this (no torch here). Both sources give the same reading, so the monitor's
code paths are the same on the bench and in orbit:

- corrected and uncorrected ECC counts, volatile (since the driver loaded) and aggregate (the
  device's lifetime);
- retired pages (older GPUs) and remapped rows (Ampere and newer; HBM3 on an H100 or H200);
- the Xid codes the driver reported since the last reading (NVML's critical-error events).

A query the device does not support reads as 0: an H200 has remapped rows and no page retirement.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

COUNTS = ("corrected_volatile", "uncorrected_volatile", "corrected_aggregate", "uncorrected_aggregate",
          "retired_pages", "remapped_rows")


@dataclass(frozen=True)
class EccReading:
    corrected_volatile: int = 0
    uncorrected_volatile: int = 0
    corrected_aggregate: int = 0
    uncorrected_aggregate: int = 0
    retired_pages: int = 0
    remapped_rows: int = 0
    xids: tuple[int, ...] = ()  # reported since the last reading

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


class EccSource(Protocol):
    name: str

    def read(self) -> EccReading: ...


@dataclass
class SimulatedEcc:
    """Counts the bench sets (``hil``'s injection interface, or a test): the NVML source's stand-in."""

    name: str = "SIMULATED"
    _counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    _xids: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, corrected: int = 0, uncorrected: int = 0, retired_pages: int = 0, remapped_rows: int = 0,
               xid: int | None = None) -> None:
        """Errors as the hardware would count them: each lands in both the volatile and aggregate count."""
        if min(corrected, uncorrected, retired_pages, remapped_rows) < 0:
            raise ValueError("error counts only grow")
        with self._lock:
            for name, add in (("corrected_volatile", corrected), ("corrected_aggregate", corrected),
                              ("uncorrected_volatile", uncorrected), ("uncorrected_aggregate", uncorrected),
                              ("retired_pages", retired_pages), ("remapped_rows", remapped_rows)):
                self._counts[name] += add
            if xid is not None:
                self._xids.append(xid)

    def read(self) -> EccReading:
        with self._lock:
            xids, self._xids = tuple(self._xids), []
            return EccReading(**self._counts, xids=xids)


class NvmlEcc:
    """One GPU's counts through NVML (``nvidia-ml-py``), with its Xid events."""

    name = "NVML"

    def __init__(self, index: int = 0) -> None:
        import pynvml

        self._nvml = pynvml
        pynvml.nvmlInit()
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self._events: Any = None
        with contextlib.suppress(pynvml.NVMLError):  # events are not on every platform (not on Windows)
            events = pynvml.nvmlEventSetCreate()
            pynvml.nvmlDeviceRegisterEvents(self._handle, pynvml.nvmlEventTypeXidCriticalError, events)
            self._events = events

    def read(self) -> EccReading:
        nvml = self._nvml
        counts = {
            "corrected_volatile": self._total(nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_VOLATILE_ECC),
            "uncorrected_volatile": self._total(nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_VOLATILE_ECC),
            "corrected_aggregate": self._total(nvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, nvml.NVML_AGGREGATE_ECC),
            "uncorrected_aggregate": self._total(nvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, nvml.NVML_AGGREGATE_ECC),
            "retired_pages": sum(self._query(lambda c=cause: len(nvml.nvmlDeviceGetRetiredPages(self._handle, c)))
                                 for cause in (nvml.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS,
                                               nvml.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)),
            "remapped_rows": self._query(lambda: sum(nvml.nvmlDeviceGetRemappedRows(self._handle)[:2])),
        }
        return EccReading(**counts, xids=self._xid_events())

    def _total(self, error_type: int, counter_type: int) -> int:
        return self._query(lambda: int(self._nvml.nvmlDeviceGetTotalEccErrors(self._handle, error_type, counter_type)))

    def _query(self, query: Any) -> int:
        try:
            return int(query())
        except self._nvml.NVMLError_NotSupported:
            return 0

    def _xid_events(self) -> tuple[int, ...]:
        xids: list[int] = []
        while self._events is not None:
            try:
                data = self._nvml.nvmlEventSetWait(self._events, 0)
            except self._nvml.NVMLError_Timeout:
                break
            if data.eventType == self._nvml.nvmlEventTypeXidCriticalError:
                xids.append(int(data.eventData))
        return tuple(xids)


def open_ecc_source(kind: str = "auto") -> EccSource | None:
    """``nvml``, ``simulated``, ``none``, or ``auto``: NVML where it finds a GPU, the simulation elsewhere."""
    if kind == "none":
        return None
    if kind == "simulated":
        return SimulatedEcc()
    try:
        return NvmlEcc()
    except Exception as exc:  # ImportError, or pynvml's errors (no library, no driver, no device)
        if kind == "nvml":
            from flight.link.errors import ConfigError

            raise ConfigError(f"seu.ecc_source nvml: NVML is not usable here ({type(exc).__name__}: {exc})") from None
        return SimulatedEcc()


def grown(before: EccReading, after: EccReading) -> dict[str, tuple[int, int]]:
    """The counts that changed, with their values before and after (a driver reload resets the
    volatile ones: a fall is a change too)."""
    return {name: (old, new) for name, old, new in zip(COUNTS, before.counts().values(), after.counts().values(),
                                                        strict=True) if old != new}


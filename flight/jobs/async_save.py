"""Asynchronous checkpoint saves: the training loop waits at most for the copy to host memory.

The copy, the CRC-32C of every tensor and the atomic write happen on one background thread while
training goes on; the loop waits only if the copy is not done when its next optimizer step would
change the weights. One save is in flight at a time: a save asked for while the previous one is still
writing waits for it (and that wait is counted as stall), so generations are written in order and
the staging buffers are never written while a save reads them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from flight.jobs.checkpoint import CheckpointError, CheckpointStore, Snapshot

WRITER_NICE = 10


class AsyncSaver:
    def __init__(self, store: CheckpointStore, on_saved: Callable[[Path, float], None] | None = None) -> None:
        self.store = store
        self.on_saved = on_saved  # called from the writer thread with the path and the write time
        self._thread: threading.Thread | None = None
        self._staging: dict[str, torch.Tensor] = {}
        self._captured = threading.Event()
        self._captured.set()  # nothing in flight
        self._error: Exception | None = None
        self.last_path: Path | None = None
        self.last_error = ""
        self.saves = 0
        self.failures = 0
        self.write_s = 0.0  # time spent writing in the background, all saves
        self.stall_s = 0.0  # time the caller waited: for the previous save, and for the copy before a step

    def submit(self, capture: Callable[[dict[str, torch.Tensor]], Snapshot]) -> None:
        """Copy the state to host memory and write it, both on the writer thread.

        ``capture`` copies into the staging buffers it is given (reused from one save to the next: safe,
        because a save waits for the one before it). It runs while training goes on with the next
        step's forward and backward passes, which read the weights but change nothing that is saved;
        the caller must call :meth:`wait_captured` before anything changes them (the optimizer step).
        """
        began = time.perf_counter()
        try:
            self.wait()
        except CheckpointError as exc:
            self.last_error = str(exc)  # counted in failures; the caller reports it, training goes on
        self._captured.clear()
        self._thread = threading.Thread(target=self._save, args=(capture,), name="checkpoint-writer", daemon=True)
        self._thread.start()
        self.stall_s += time.perf_counter() - began

    def wait_captured(self) -> None:
        """Block until the save in flight has its copy of the state (at once when there is none)."""
        if not self._captured.is_set():
            began = time.perf_counter()
            self._captured.wait()
            self.stall_s += time.perf_counter() - began

    def _save(self, capture: Callable[[dict[str, torch.Tensor]], Snapshot]) -> None:
        # Below the training threads: on a machine with few cores, the copies and CRCs of a save must take
        # what the training leaves, not slow its steps (Linux sets a nice value per thread).
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICE)
        try:
            snapshot = capture(self._staging)
        except Exception as exc:  # nothing to write: the training must not wait for ever
            self._error = exc
            self.failures += 1
            return
        finally:
            self._captured.set()
        self._write(snapshot)

    def _write(self, snapshot: Snapshot) -> None:
        began = time.perf_counter()
        try:
            path = self.store.save(snapshot)
        except (CheckpointError, OSError) as exc:
            self._error = exc
            self.failures += 1
            return
        elapsed = time.perf_counter() - began
        self.write_s += elapsed
        self.last_path = path
        self.saves += 1
        if self.on_saved is not None:
            self.on_saved(path, elapsed)

    def wait(self, raise_error: bool = True) -> Path | None:
        """Let the save in flight finish; its path (a failed save raises, once, unless told not to)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            raise CheckpointError(f"the background save failed: {error}")
        return self.last_path

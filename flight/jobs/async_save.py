"""Asynchronous checkpoint saves: the training loop waits only for the copy to host memory.

Encoding, the CRC-32C of every tensor and the atomic write happen on one background thread, while
training goes on. One save is in flight at a time: a save asked for while the previous one is still
writing waits for it (and that wait is counted as stall), so generations are written in order and
host memory holds at most two snapshots.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from flight.jobs.checkpoint import CheckpointError, CheckpointStore, Snapshot


class AsyncSaver:
    def __init__(self, store: CheckpointStore, on_saved: Callable[[Path, float], None] | None = None) -> None:
        self.store = store
        self.on_saved = on_saved  # called from the writer thread with the path and the write time
        self._thread: threading.Thread | None = None
        self._staging: dict[str, torch.Tensor] = {}
        self._error: Exception | None = None
        self.last_path: Path | None = None
        self.last_error = ""
        self.saves = 0
        self.failures = 0
        self.write_s = 0.0  # time spent writing in the background, all saves
        self.stall_s = 0.0  # time the caller waited: capture plus any wait for the previous save

    def submit(self, capture: Callable[[dict[str, torch.Tensor]], Snapshot]) -> None:
        """Take a snapshot now (``capture`` copies to host, into the staging buffers it is given) and write
        it in the background. The buffers are reused from one save to the next, which is safe because a
        capture waits for the write before it."""
        began = time.perf_counter()
        try:
            self.wait()
        except CheckpointError as exc:
            self.last_error = str(exc)  # counted in failures; the caller reports it, training goes on
        snapshot = capture(self._staging)
        self._thread = threading.Thread(target=self._write, args=(snapshot,), name="checkpoint-writer",
                                        daemon=True)
        self._thread.start()
        self.stall_s += time.perf_counter() - began

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

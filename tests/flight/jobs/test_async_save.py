"""Background checkpoint saves: written in order and readable, a failed write reported once, the caller
held only for the capture while the write happens on another thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from flight.jobs.async_save import AsyncSaver
from flight.jobs.checkpoint import CheckpointError, CheckpointStore, Snapshot, load_file

pytestmark = pytest.mark.usefixtures("one_thread")


def snapshot(step: int) -> Snapshot:
    return Snapshot({"w": torch.full((4, 4), float(step)), "rng.cpu": torch.get_rng_state()}, {"step": step})


def test_snapshots_are_written_in_order_and_read_back(tmp_path: Path) -> None:
    saved: list[tuple[Path, float]] = []
    saver = AsyncSaver(CheckpointStore(tmp_path, keep=5), on_saved=lambda path, s: saved.append((path, s)))
    for step in (10, 20, 30):
        saver.submit(lambda _staging, step=step: snapshot(step))
    last = saver.wait()
    assert last == tmp_path / "step-000000030.safetensors"
    assert [p.name for p, _ in saved] == [f"step-0000000{s}.safetensors" for s in (10, 20, 30)]
    assert all(seconds >= 0 for _, seconds in saved)
    for step in (10, 20, 30):
        back = load_file(tmp_path / f"step-0000000{step}.safetensors")
        assert back.step == step and torch.equal(back.tensors["w"], torch.full((4, 4), float(step)))
    assert (saver.saves, saver.failures) == (3, 0) and saver.write_s > 0 and saver.stall_s > 0
    assert saver.wait() == last  # nothing in flight: the last path again


def test_wait_with_nothing_submitted_gives_no_path(tmp_path: Path) -> None:
    assert AsyncSaver(CheckpointStore(tmp_path)).wait() is None


def test_a_failed_write_is_raised_once_and_counted(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    saver = AsyncSaver(CheckpointStore(tmp_path / "file"))
    saver.submit(lambda _staging: snapshot(1))
    with pytest.raises(CheckpointError, match="the background save failed"):
        saver.wait()
    assert saver.wait() is None  # raised once
    assert (saver.saves, saver.failures) == (0, 1)


def test_a_failed_atomic_write_is_raised_as_a_checkpoint_error(tmp_path: Path) -> None:
    # A directory where the file should go: the atomic rename fails (a StorageError inside the store).
    (tmp_path / "step-000000001.safetensors").mkdir()
    (tmp_path / "step-000000001.safetensors" / "x").write_text("x")
    saver = AsyncSaver(CheckpointStore(tmp_path))
    saver.submit(lambda _staging: snapshot(1))
    with pytest.raises(CheckpointError, match="cannot write"):
        saver.wait()
    assert saver.failures == 1


class BlockingStore(CheckpointStore):
    """A store whose writes wait for the test to let them go."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.release = threading.Event()
        self.writing = threading.Event()
        self.writer: threading.Thread | None = None

    def save(self, snapshot: Snapshot) -> Path:
        self.writer = threading.current_thread()
        self.writing.set()
        assert self.release.wait(10), "the test never released the write"
        return super().save(snapshot)


def test_the_copy_and_the_write_run_on_the_writer_and_the_caller_waits_only_for_the_copy(tmp_path: Path) -> None:
    store = BlockingStore(tmp_path)
    saver = AsyncSaver(store)
    copying = threading.Event()
    captured_on: list[threading.Thread] = []

    def capture(_staging: dict[str, torch.Tensor]) -> Snapshot:
        assert copying.wait(10), "the test never let the copy go"
        captured_on.append(threading.current_thread())
        return snapshot(7)

    saver.submit(capture)  # returns before the copy is even made
    assert captured_on == [] and not saver._captured.is_set()
    waiter = threading.Thread(target=saver.wait_captured)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # what the training loop does before its optimizer step: it waits for the copy
    copying.set()
    waiter.join(10)
    assert not waiter.is_alive() and captured_on[0] is not threading.main_thread()
    assert store.writing.wait(10) and store.writer is captured_on[0]  # the write, on the same writer thread
    assert saver.saves == 0 and not (tmp_path / "step-000000007.safetensors").exists()
    assert saver.stall_s > 0
    store.release.set()
    assert saver.wait() == tmp_path / "step-000000007.safetensors" and saver.saves == 1


def test_a_copy_that_fails_releases_the_training_and_is_raised(tmp_path: Path) -> None:
    saver = AsyncSaver(CheckpointStore(tmp_path))

    def broken(_staging: dict[str, torch.Tensor]) -> Snapshot:
        raise RuntimeError("no memory for the staging buffers")

    saver.submit(broken)
    saver.wait_captured()  # returns: the loop is never held by a copy that failed
    with pytest.raises(CheckpointError, match="no memory"):
        saver.wait()
    assert saver.failures == 1


def test_a_new_save_waits_for_the_one_in_flight(tmp_path: Path) -> None:
    store = BlockingStore(tmp_path)
    saver = AsyncSaver(store)
    saver.submit(lambda _staging: snapshot(1))
    assert store.writing.wait(10)
    second = threading.Thread(target=saver.submit, args=(lambda _staging: snapshot(2),))
    second.start()
    second.join(0.2)
    assert second.is_alive()  # held until the first write ends
    store.release.set()
    second.join(10)
    assert not second.is_alive()
    assert saver.wait() == tmp_path / "step-000000002.safetensors" and saver.saves == 2

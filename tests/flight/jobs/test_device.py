"""The job's device: the CPU as asked (with its threads), CUDA refused where there is none, unknown devices
refused, and on the CPU no autocast and a positive memory figure."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from flight.jobs.device import Device, DeviceError, select


@pytest.fixture(autouse=True)
def threads() -> Iterator[None]:
    """select() sets torch's thread count: put it back for the other tests."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_the_cpu_uses_the_cores_this_process_may_run_on() -> None:
    torch.set_num_threads(1)
    device = select("cpu")
    assert device.type == "cpu" and device.torch_device == torch.device("cpu")
    assert torch.get_num_threads() == len(os.sched_getaffinity(0))
    assert device.describe() == f"cpu ({torch.get_num_threads()} threads)"


def test_without_cuda_the_default_is_the_cpu() -> None:
    assert select(cuda_available=lambda: False).type == "cpu"


def test_cuda_is_refused_where_there_is_none() -> None:
    with pytest.raises(DeviceError, match="no CUDA device"):
        select("cuda", cuda_available=lambda: False)


@pytest.mark.parametrize("name", ["tpu", "CPU", "mps"])
def test_other_devices_are_refused(name: str) -> None:
    with pytest.raises(DeviceError, match="cpu or cuda"):
        select(name, cuda_available=lambda: False)


def test_on_the_cpu_autocast_changes_nothing() -> None:
    device = Device(torch.device("cpu"))
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with device.autocast():
        product = a @ b
        assert not torch.is_autocast_enabled("cpu")
    assert product.dtype == torch.float32 and torch.equal(product, a @ b)
    device.synchronize()  # nothing to wait for


def test_memory_is_the_peak_resident_size() -> None:
    assert Device(torch.device("cpu")).memory_bytes() > 1 << 20

"""The real GPU's power through NVML, against a fake pynvml: units, clamping, refusals, restoring."""

from __future__ import annotations

import pytest

from flight.link.errors import ConfigError
from flight.mission_config import FlightSettings
from flight.power.gpu_model import GpuPowerModel
from flight.power.nvml_gpu import CapRefused, GpuPowerError, NvmlGpu, open_nvml_gpu
from tests.flight.power._fake_nvml import install


def test_readings_are_in_watts_and_degrees(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, draw_w=312.5, temp_c=61.0, default_w=600.0)
    gpu = NvmlGpu()
    sensed = gpu.read()
    assert (sensed.draw_w, sensed.temp_c, sensed.cap_w) == (312.5, 61.0, 600.0)
    assert gpu.cap_range_w == (200.0, 700.0) and gpu.default_cap_w == 600.0


def test_a_failed_read_is_a_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, failing_reads=1)
    gpu = NvmlGpu()
    with pytest.raises(GpuPowerError, match="NVML: Unknown Error"):
        gpu.read()
    assert gpu.read().draw_w == 80.0


def test_a_cap_is_set_in_milliwatts_clamped_into_the_drivers_range(monkeypatch: pytest.MonkeyPatch) -> None:
    board = install(monkeypatch)
    gpu = NvmlGpu(control=True)
    for cap in (350.25, 50.0, 900.0):
        gpu.set_cap(cap)
    assert board.caps_set_w == [350.25, 200.0, 700.0]
    assert gpu.read().cap_w == 700.0


def test_without_leave_no_cap_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    board = install(monkeypatch)
    with pytest.raises(CapRefused, match="power_cap_control"):
        NvmlGpu().set_cap(300.0)
    assert board.caps_set_w == []


def test_a_driver_that_refuses_is_a_typed_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, settable=False)
    with pytest.raises(CapRefused, match="Insufficient Permissions"):
        NvmlGpu(control=True).set_cap(300.0)


def test_a_passing_failure_to_set_a_cap_is_not_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    board = install(monkeypatch, failing_sets=1)
    gpu = NvmlGpu(control=True)
    with pytest.raises(GpuPowerError, match="Timeout") as caught:
        gpu.set_cap(300.0)
    assert not isinstance(caught.value, CapRefused)
    gpu.set_cap(300.0)
    assert board.caps_set_w == [300.0]


def test_closing_puts_back_the_default_only_after_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    board = install(monkeypatch, default_w=650.0)
    NvmlGpu(control=True).close()
    assert board.caps_set_w == [] and board.shut_down
    gpu = NvmlGpu(control=True)
    gpu.set_cap(300.0)
    gpu.close()
    assert board.caps_set_w == [300.0, 650.0]


def test_the_model_takes_the_boards_cap_range_and_keeps_its_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, min_w=100.0, max_w=400.0)
    model = NvmlGpu().model(GpuPowerModel())
    assert (model.min_cap_w, model.max_w, model.idle_w, model.exponent) == (100.0, 400.0, 50.0, 0.4)
    assert model.suspended_w == model.idle_w  # a board NVML reads is powered: suspended, it idles
    install(monkeypatch, min_w=0.0, max_w=400.0)  # a driver with no usable range: the base model
    assert NvmlGpu().model(GpuPowerModel()) == GpuPowerModel()


def test_open_chooses_nvml_where_it_can_read_the_board(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch)
    assert isinstance(open_nvml_gpu("auto"), NvmlGpu) and open_nvml_gpu("nvml", control=True).control
    assert open_nvml_gpu("simulated") is None


def test_open_falls_back_to_the_model_or_says_why_it_cannot(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, present=False)
    assert open_nvml_gpu("auto") is None
    with pytest.raises(ConfigError, match="NVML cannot read the GPU's power here.*Library Not Found"):
        open_nvml_gpu("nvml")
    install(monkeypatch, failing_reads=5)  # a board that cannot report its power
    assert open_nvml_gpu("auto") is None


def test_the_mission_file_names_the_source_and_allows_the_cap() -> None:
    assert FlightSettings().gpu_power == "auto" and FlightSettings().power_cap_control is False
    with pytest.raises(ConfigError, match="flight.gpu_power: 'gpu' is not auto, nvml or simulated"):
        FlightSettings(gpu_power="gpu")

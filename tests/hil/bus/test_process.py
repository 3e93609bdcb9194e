"""``hil bus`` as the supervisor sees it: states on base+8, draws heard on base+9, garbage counted."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import zmq

from flight.link.transport import BenchPorts
from flight.power.bus_message import pack_draw, unpack_state
from hil.bus.anomaly import Anomaly, pack_anomaly
from hil.cli import main as hil_main
from hil.ports import free_base_port


def test_the_bus_publishes_its_state_and_hears_the_payloads_draw() -> None:
    """The real process (``hil bus``), as ``hil stack`` will start it."""
    ports = BenchPorts(free_base_port())
    process = subprocess.Popen([sys.executable, "-m", "hil.cli", "bus", "--base-port", str(ports.base), "--rate", "300",
                                "--duration", "4"], stdout=subprocess.PIPE, text=True)
    ctx = zmq.Context()
    try:
        states = ctx.socket(zmq.SUB)
        states.setsockopt(zmq.SUBSCRIBE, b"")
        states.connect(ports.bus_state().address)
        draws = ctx.socket(zmq.PUSH)
        draws.connect(ports.bus_draw().address)
        received = []
        deadline = time.monotonic() + 30.0
        while len(received) < 20 and time.monotonic() < deadline:
            if states.poll(100):
                received.append(unpack_state(states.recv()))
                draws.send(pack_draw(500.0, 500.0, 1.0, True))
        draws.send(b"not a draw")
        control = ctx.socket(zmq.PUSH)
        control.connect(ports.bus_control().address)
        control.send(b"not an anomaly")
        control.send(pack_anomaly(Anomaly(array_share=0.5, extra_load_w=100.0)))
        deadline = time.monotonic() + 30.0
        after = received[-1]
        while after.state.sunlit_array_w > 0.75 * received[-1].state.sunlit_array_w and time.monotonic() < deadline:
            if states.poll(100):
                after = unpack_state(states.recv())
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
        ctx.destroy(linger=0)
    assert len(received) >= 20
    times = [r.time for r in received]
    assert all(b - a == pytest.approx(10.0) for a, b in zip(times, times[1:], strict=False))
    assert all(0.0 <= r.state.soc <= 1.0 for r in received)
    # the allocation, and the three temperatures of the heat path
    assert all(r.state.allocation_w == 1000.0 and r.state.gpu_temp_c > r.plate_c > r.radiator_c for r in received[5:])
    counters = json.loads(out.splitlines()[-1])["counters"]
    assert counters["bus.draws_heard"] >= 10 and counters["bus.bad_draws"] == 1
    # the anomaly: half the array, and 100 W more of the bus's own load (its heaters come and go)
    assert after.state.sunlit_array_w == pytest.approx(received[-1].state.sunlit_array_w / 2, rel=1e-3)
    assert counters["bus.anomalies"] == 1 and counters["bus.bad_anomalies"] == 1
    assert counters["bus.states_sent"] == counters["bus.steps"] >= 20


def test_bad_options_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert hil_main(["bus", "--rate", "0", "--duration", "0.1"]) == 2
    assert "--rate" in capsys.readouterr().err


def test_eps_settings_from_a_file_and_a_trace_of_every_step(tmp_path) -> None:  # type: ignore[no-untyped-def]
    eps = tmp_path / "eps.toml"
    eps.write_text("capacity_wh = 300.0\ninitial_soc = 0.55\nshed_soc = 0.2\n")
    trace = tmp_path / "trace.jsonl"
    ports = BenchPorts(free_base_port())
    assert hil_main(["bus", "--base-port", str(ports.base), "--rate", "600", "--duration", "0.6", "--eps", str(eps),
                     "--soc", "0.5", "--trace", str(trace)]) == 0
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert len(lines) >= 5
    assert [b["t"] - a["t"] for a, b in zip(lines, lines[1:], strict=False)] == [10.0] * (len(lines) - 1)
    assert lines[0]["soc"] == pytest.approx(0.5, abs=0.01)  # the option over the file
    assert set(lines[0]) == {"t", "sunlit", "soc", "array_w", "payload_w", "gpu_c", "shed"}


def test_a_bad_eps_file_names_the_field(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    eps = tmp_path / "eps.toml"
    eps.write_text("capacity_wh = -5.0\n")
    assert hil_main(["bus", "--eps", str(eps), "--duration", "0.1"]) == 2
    assert "capacity_wh" in capsys.readouterr().err

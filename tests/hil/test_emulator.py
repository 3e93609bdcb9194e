"""The link emulator process and its command line, driven over real ZeroMQ sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from flight.link.transport import BenchPorts
from hil.cli import build_parser, link_config, main
from hil.link.capture import read_capture
from hil.link.faults import Fate
from hil.ports import free_base_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 8.0


@dataclass
class Emulator:
    process: subprocess.Popen[str]
    base: int
    stats: Path
    capture: Path

    def read_stats(self) -> dict[str, int]:
        return json.loads(self.stats.read_text())["counters"]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, dict[str, object], str]:
        """Signal it; returns (exit code, summary printed on stdout, stderr)."""
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=10)
        lines = out.strip().splitlines()
        return self.process.returncode, json.loads(lines[-1]) if lines else {}, err


@pytest.fixture
def start_emulator(tmp_path: Path) -> Iterator[object]:
    started: list[Emulator] = []

    def start(*options: str) -> Emulator:
        base = free_base_port()
        stats, capture = tmp_path / f"stats-{base}.json", tmp_path / f"capture-{base}.jsonl"
        command = [sys.executable, "-m", "hil.cli", "link", "--base-port", str(base)]
        command += ["--stats", str(stats), "--stats-interval", "0.05", "--capture", str(capture), *options]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        emulator = Emulator(process, base, stats, capture)
        started.append(emulator)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not stats.exists():  # written once all four sockets are bound
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"emulator did not start: {process.communicate(timeout=5)}")
            time.sleep(0.02)
        return emulator

    yield start
    for emulator in started:
        if emulator.process.poll() is None:
            emulator.process.kill()
            emulator.process.communicate()


@dataclass
class Bench:
    """Ground and flight ends, connected to the emulator as the real ones are."""

    context: zmq.Context
    ground_out: zmq.Socket
    flight_in: zmq.Socket
    flight_out: zmq.Socket
    ground_in: zmq.Socket

    @classmethod
    def connect(cls, base: int) -> Bench:
        ports = BenchPorts(base)
        context = zmq.Context()
        sockets = []
        monitors = []
        for kind, endpoint in (
            (zmq.PUSH, ports.ground_uplink()),
            (zmq.PULL, ports.flight_uplink()),
            (zmq.PUSH, ports.flight_downlink()),
            (zmq.PULL, ports.ground_downlink()),
        ):
            sock = context.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            monitors.append(sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED))
            sock.connect(endpoint.address)
            sockets.append(sock)
        # The emulator's PUSH sockets drop frames until our PULLs have connected: wait for every
        # handshake rather than for a guessed time.
        for monitor in monitors:
            assert monitor.poll(5000), "no ZMTP handshake with the emulator"
            recv_monitor_message(monitor)
        time.sleep(0.05)  # the emulator's end attaches its pipe as it reads our handshake, just after ours
        for sock in sockets:
            sock.disable_monitor()
        for monitor in monitors:
            monitor.close()
        return cls(context, *sockets)

    def collect(self, sock: zmq.Socket, quiet_s: float = 0.5, limit_s: float = 5.0) -> list[bytes]:
        """Everything that arrives until nothing has for ``quiet_s``."""
        frames, deadline = [], time.monotonic() + limit_s
        while time.monotonic() < deadline and sock.poll(int(quiet_s * 1000)):
            frames.append(sock.recv())
        return frames

    def close(self) -> None:
        for sock in (self.ground_out, self.flight_in, self.flight_out, self.ground_in):
            sock.close()
        self.context.term()


def wait_for(emulator: Emulator, counter: str, value: int, limit_s: float = 5.0) -> None:
    deadline = time.monotonic() + limit_s
    while emulator.read_stats()[counter] < value:
        assert time.monotonic() < deadline, f"{counter} stuck at {emulator.read_stats()[counter]} < {value}"
        time.sleep(0.02)


@pytest.mark.integration
def test_frames_cross_with_faults_and_every_count_agrees(start_emulator) -> None:  # type: ignore[no-untyped-def]
    emulator = start_emulator("--seed", "11", "--loss", "0.2", "--duplicate", "0.2", "--up-ber", "0.001")
    bench = Bench.connect(emulator.base)
    n = 300
    sent = {
        "up": [b"UP" + i.to_bytes(2, "big") + bytes(28) for i in range(n)],
        "down": [b"DN" + i.to_bytes(2, "big") + bytes(28) for i in range(n)],
    }
    try:
        for up, down in zip(sent["up"], sent["down"], strict=True):
            bench.ground_out.send(up)
            bench.flight_out.send(down)
        wait_for(emulator, "link.up.frames_in", n)
        wait_for(emulator, "link.down.frames_in", n)
        received = {"up": bench.collect(bench.flight_in), "down": bench.collect(bench.ground_in)}
    finally:
        bench.close()
    code, summary, err = emulator.stop()
    assert code == 0, err
    assert summary["running"] is False
    counters = summary["counters"]
    assert isinstance(counters, dict)
    capture = list(read_capture(emulator.capture))
    assert len(capture) == counters["emulator.capture_records"]
    assert counters["emulator.pending_at_exit"] == 0

    for direction, sink in (("up", "to_flight"), ("down", "to_ground")):
        c = {key.removeprefix(f"link.{direction}."): value for key, value in counters.items()}
        assert c["frames_in"] == n
        assert 0.08 * n < c["dropped_loss"] < 0.35 * n
        assert 0.08 * n < c["duplicated"] < 0.35 * n
        unsent = counters[f"emulator.{sink}.dropped_queue_full"]
        assert len(received[direction]) == c["forwarded"] - unsent
        records = [r for r in capture if r.direction == direction]
        arrived = Counter(r.frame for r in records if r.fate is not Fate.DROPPED)
        assert arrived == Counter(received[direction])  # the capture shows exactly what came out
        assert sum(r.fate is Fate.DROPPED for r in records) == c["dropped"] + unsent
        for fate in (Fate.CORRUPTED, Fate.DUPLICATED):
            assert sum(r.fate is fate for r in records) <= c[fate.value]

    assert counters["link.up.corrupted"] > 0 and counters["link.down.corrupted"] == 0
    assert set(received["down"]) <= set(sent["down"])


@pytest.mark.integration
def test_the_orbits_pass_opens_and_closes_the_link(start_emulator) -> None:  # type: ignore[no-untyped-def]
    """Redmond's first pass of the default orbit, at 120 times real time: about 5.1 s after the
    emulator starts, for about 2.1 s. Frames sent every 50 ms across it come through only then."""
    from hil.bus.orbit import Orbit

    start = Orbit.default().epoch + 13.3 * 3600.0
    emulator = start_emulator("--orbit-passes", "default", "--stations", "redmond", "--orbit-rate", "120",
                              "--orbit-start", str(start), "--orbit-hours", "1")
    bench = Bench.connect(emulator.base)
    sent = []
    try:
        until = time.monotonic() + 10.0
        while time.monotonic() < until:
            frame = b"UP" + len(sent).to_bytes(4, "big")
            bench.ground_out.send(frame)
            sent.append(frame)
            time.sleep(0.05)
        wait_for(emulator, "link.up.frames_in", len(sent))
        received = bench.collect(bench.flight_in)
    finally:
        bench.close()
    code, summary, _ = emulator.stop()
    counters = summary["counters"]
    assert code == 0 and isinstance(counters, dict)
    assert received and counters["link.up.dropped_link_down"] == len(sent) - len(received)
    first = sent.index(received[0])
    assert received == sent[first:first + len(received)]  # one unbroken run: the pass
    assert first > 0 and first + len(received) < len(sent)  # down before it and after it
    assert 10 <= len(received) <= 45  # about 2.1 s of frames every 50 ms (fewer on a slow machine)


@pytest.mark.integration
def test_the_bench_changes_the_faults_while_it_runs(start_emulator) -> None:  # type: ignore[no-untyped-def]
    """Frames pass untouched, then the bench says 'lose them all' on the control port: from then on
    every frame is lost, and a control message that is garbage changes nothing, counted."""
    from hil.link.control import pack_faults

    emulator = start_emulator("--control", "bench", "--pass", "0:1000")
    bench = Bench.connect(emulator.base)
    control = bench.context.socket(zmq.PUSH)
    control.setsockopt(zmq.LINGER, 1000)
    control.connect(BenchPorts(emulator.base).link_control().address)
    try:
        for i in range(20):
            bench.ground_out.send(b"A" + bytes([i]))
        wait_for(emulator, "link.up.frames_in", 20)
        assert len(bench.collect(bench.flight_in)) == 20
        for garbage in (b"\x00\xff", pack_faults({"warp": "9"}), pack_faults({"loss": "2"}),
                        pack_faults({"pass": "0:1"})):
            control.send(garbage)
        control.send(pack_faults({"loss": "1", "down-loss": "0"}))
        wait_for(emulator, "emulator.control_applied", 1)
        for i in range(20):
            bench.ground_out.send(b"B" + bytes([i]))
            bench.flight_out.send(b"C" + bytes([i]))
        wait_for(emulator, "link.up.frames_in", 40)
        wait_for(emulator, "link.down.frames_in", 20)
        assert bench.collect(bench.flight_in) == []
        assert len(bench.collect(bench.ground_in)) == 20  # the downlink kept no loss
    finally:
        control.close()
        bench.close()
    code, summary, _ = emulator.stop()
    counters = summary["counters"]
    assert code == 0 and isinstance(counters, dict)
    assert counters["emulator.control_rejected"] == 4 and counters["emulator.control_applied"] == 1
    assert counters["link.up.dropped_loss"] == 20 and counters["link.up.dropped_link_down"] == 0


@pytest.mark.integration
def test_delay_is_applied(start_emulator) -> None:  # type: ignore[no-untyped-def]
    emulator = start_emulator("--down-delay", "0.4")
    bench = Bench.connect(emulator.base)
    try:
        sent_at = time.monotonic()
        bench.flight_out.send(b"slow")
        bench.ground_out.send(b"fast")
        assert bench.flight_in.poll(3000) and bench.flight_in.recv() == b"fast"
        assert bench.ground_in.poll(3000) and bench.ground_in.recv() == b"slow"
        assert time.monotonic() - sent_at > 0.3  # the downlink delay was applied
    finally:
        bench.close()
    assert emulator.stop()[0] == 0


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown_on_signal(start_emulator, sig: int) -> None:  # type: ignore[no-untyped-def]
    emulator = start_emulator()
    code, summary, err = emulator.stop(sig)
    assert code == 0, err
    assert "Traceback" not in err
    assert summary["running"] is False and "link.up.frames_in" in summary["counters"]  # type: ignore[operator]
    assert json.loads(emulator.stats.read_text())["running"] is False


@pytest.mark.integration
def test_duration_ends_the_run(tmp_path: Path) -> None:
    base = free_base_port()
    result = subprocess.run(
        [sys.executable, "-m", "hil.cli", "link", "--base-port", str(base), "--duration", "0.3"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["elapsed_s"] >= 0.3


# ---- the command line, in process


@pytest.mark.parametrize(
    "options",
    [
        ["--loss", "2"],
        ["--up-loss", "lots"],
        ["--pass", "60:0"],
        ["--pass-duration", "5"],
        ["--reorder-window", "0"],
        ["--duration", "nan"],
        ["--base-port", "65534"],
        ["--ground-up", "nowhere"],
        ["--config", "/nonexistent/link.toml"],
        ["--capture", "/nonexistent/dir/capture.jsonl"],
        ["--seed", "x"],
        ["--no-such-option"],
    ],
)
def test_bad_options_are_one_line_errors(options: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["link", "--base-port", str(free_base_port()), *options])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_port_in_use_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    base = free_base_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))
        taken.listen()
        assert main(["link", "--base-port", str(base)]) == 2
    err = capsys.readouterr().err
    assert "cannot bind" in err and len(err.strip().splitlines()) == 1


def test_settings_precedence(tmp_path: Path) -> None:
    config = tmp_path / "link.toml"
    config.write_text(
        "seed = 5\n[up]\nloss = 0.1\nduplicate = 0.3\npasses = [[0, 60], [90, 150]]\n[down]\nber = 1e-5\n"
    )
    args = build_parser().parse_args(
        ["link", "--config", str(config), "--duplicate", "0.05", "--up-loss", "0.2", "--down-delay", "0.5"]
    )
    result = link_config(args)
    assert result.seed == 5
    assert (result.up.loss, result.up.duplicate, result.up.passes) == (
        0.2,
        0.05,
        ((0.0, 60.0), (90.0, 150.0)),
    )
    assert (result.down.loss, result.down.duplicate, result.down.ber, result.down.delay) == (
        0.0,
        0.05,
        1e-5,
        0.5,
    )


@pytest.mark.parametrize(
    "text",
    [
        "[up]\nlos = 0.1\n",
        "up = 3\n",
        "[sideways]\n",
        "seed = 'x'\n",
        "[up\n",
        "[down]\nreorder_window = 1.5\n",
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "link.toml"
    config.write_text(text)
    assert main(["link", "--config", str(config)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_explicit_endpoints_override_the_bench() -> None:
    args = build_parser().parse_args(
        ["link", "--base-port", "6000", "--flight-up", "bind:ipc:///tmp/zenith-up"]
    )
    endpoints = link_config(args).endpoints
    assert str(endpoints.flight_up) == "bind:ipc:///tmp/zenith-up"
    assert str(endpoints.ground_up) == "bind:tcp://127.0.0.1:6000"
    assert str(endpoints.ground_down) == "bind:tcp://127.0.0.1:6003"


def test_help_lists_the_link_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "link" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["link", "--help"])
    out = capsys.readouterr().out
    assert all(
        flag in out
        for flag in ("--loss", "--up-loss", "--down-loss", "--pass", "--pass-period", "--ge-ber-bad")
    )

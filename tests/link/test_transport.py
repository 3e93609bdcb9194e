"""The emulated radio: endpoints, and frames over real ZeroMQ PUSH/PULL sockets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts, Endpoint, FrameReceiver, FrameSender
from hil.ports import free_base_port


@pytest.mark.parametrize(("text", "address", "bind"), [
    ("bind:tcp://127.0.0.1:5550", "tcp://127.0.0.1:5550", True),
    ("connect:tcp://127.0.0.1:5550", "tcp://127.0.0.1:5550", False),
    ("connect:ipc:///tmp/up", "ipc:///tmp/up", False),
    ("bind:ipc:///tmp/up", "ipc:///tmp/up", True),
    ("bind:inproc://radio", "inproc://radio", True),
    ("tcp://*:5550", "tcp://*:5550", True),  # a bare address binds when its host is *
    ("tcp://127.0.0.1:5550", "tcp://127.0.0.1:5550", False),
    ("ipc:///tmp/down", "ipc:///tmp/down", False),
    ("inproc://radio", "inproc://radio", False),
])
def test_endpoint_parse_accepted(text: str, address: str, bind: bool) -> None:
    endpoint = Endpoint.parse(text)
    assert endpoint == Endpoint(address, bind)
    assert str(endpoint) == f"{'bind' if bind else 'connect'}:{address}"
    assert Endpoint.parse(str(endpoint)) == endpoint


@pytest.mark.parametrize("text", [
    "", "tcp", "127.0.0.1:5550", "bind:127.0.0.1:5550", "connect:", "bind:", "udp://127.0.0.1:5550",
    "listen:tcp://127.0.0.1:5550", "http://example.org", "bind", ":tcp://x",
])
def test_endpoint_parse_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="is not bind:ADDRESS or connect:ADDRESS"):
        Endpoint.parse(text)


def test_bench_ports() -> None:
    ports = BenchPorts(6000)
    assert ports.ground_uplink() == Endpoint("tcp://127.0.0.1:6000", False)
    assert ports.flight_uplink() == Endpoint("tcp://127.0.0.1:6001", False)
    assert ports.flight_downlink() == Endpoint("tcp://127.0.0.1:6002", False)
    assert ports.ground_downlink() == Endpoint("tcp://127.0.0.1:6003", False)
    assert ports.ground_uplink(bind=True) == Endpoint("tcp://127.0.0.1:6000", True)
    assert str(BenchPorts(7000, "10.0.0.1").ground_downlink(bind=True)) == "bind:tcp://10.0.0.1:7003"
    assert BenchPorts() == BenchPorts(5550, "127.0.0.1")


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def _collect(rx: FrameReceiver, count: int, deadline_s: float = 5.0) -> list[bytes]:
    frames: list[bytes] = []
    end = time.monotonic() + deadline_s
    while len(frames) < count and time.monotonic() < end:
        frame = rx.recv(0.05)
        if frame is not None:
            frames.append(frame)
    return frames


def _pair(ctx: zmq.Context, address: str) -> tuple[FrameSender, FrameReceiver]:
    rx = FrameReceiver(ctx, Endpoint(address, bind=True), "rx")
    tx = FrameSender(ctx, Endpoint(address, bind=False), "tx")
    return tx, rx


@pytest.fixture(params=["tcp", "ipc", "inproc"])
def address(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "tcp":
        return f"tcp://127.0.0.1:{free_base_port(1)}"
    if request.param == "ipc":
        return f"ipc://{tmp_path / 'radio'}"
    return f"inproc://radio-{id(tmp_path)}"


def test_frames_arrive_in_order(ctx: zmq.Context, address: str) -> None:
    tx, rx = _pair(ctx, address)
    frames = [bytes([i]) * (1 + i * 37 % 5000) for i in range(60)]  # small (copied) and large (zero-copy)
    for frame in frames:
        assert tx.send(frame)
    assert _collect(rx, len(frames)) == frames
    assert tx.counters["sent"] == 60 and tx.counters["dropped_queue_full"] == 0
    assert rx.counters["received"] == 60
    assert tx.counters.snapshot()["tx.sent"] == 60


def test_recv_timeout_returns_none(ctx: zmq.Context, address: str) -> None:
    _, rx = _pair(ctx, address)
    start = time.monotonic()
    assert rx.recv(0.1) is None
    assert time.monotonic() - start >= 0.05  # it waited (how long at most is the machine's business)
    assert rx.recv(0) is None
    assert rx.counters["received"] == 0


def test_recv_all_drains(ctx: zmq.Context, address: str) -> None:
    tx, rx = _pair(ctx, address)
    assert rx.recv_all() == []
    frames = [b"frame-%d" % i for i in range(10)]
    for frame in frames:
        tx.send(frame)
    first = _collect(rx, 1)
    assert first == frames[:1]
    rest: list[bytes] = []
    end = time.monotonic() + 5
    while len(rest) < 9 and time.monotonic() < end:
        rest += rx.recv_all()
        time.sleep(0.01)
    assert first + rest == frames
    assert rx.recv_all() == []
    assert rx.counters["received"] == 10


def test_receiver_connects_sender_binds(ctx: zmq.Context) -> None:
    address = f"tcp://127.0.0.1:{free_base_port(1)}"
    tx = FrameSender(ctx, Endpoint(address, bind=True), "tx")
    rx = FrameReceiver(ctx, Endpoint(address, bind=False), "rx")
    # a bound PUSH without a peer yet drops: retry until the connection is up
    end = time.monotonic() + 5
    while not tx.send(b"hello") and time.monotonic() < end:
        time.sleep(0.01)
    assert _collect(rx, 1) == [b"hello"]


def _without_blocking(work: Callable[[], list[bool]]) -> list[bool]:
    """Run ``work`` in a thread: a send that blocked would keep it alive past the (generous) join."""
    out: list[list[bool]] = []
    worker = threading.Thread(target=lambda: out.append(work()), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "send blocked"
    return out[0]


def test_sender_without_peer_drops_and_counts_instead_of_blocking(ctx: zmq.Context) -> None:
    bound = FrameSender(ctx, Endpoint(f"tcp://127.0.0.1:{free_base_port(1)}", bind=True), "lonely", hwm=1)
    results = _without_blocking(lambda: [bound.send(b"x" * 100) for _ in range(200)])
    assert not any(results)
    assert bound.counters["dropped_queue_full"] == 200 and bound.counters["sent"] == 0

    # connected to nobody: the queue takes at most about the HWM, then frames are dropped and counted
    connected = FrameSender(ctx, Endpoint(f"tcp://127.0.0.1:{free_base_port(1)}", bind=False), "waiting", hwm=1)
    results = _without_blocking(lambda: [connected.send(b"y" * 100) for _ in range(200)])
    assert connected.counters["dropped_queue_full"] >= 190
    assert connected.counters["sent"] + connected.counters["dropped_queue_full"] == 200
    assert sum(results) == connected.counters["sent"]


def test_binding_an_address_in_use_is_a_config_error(ctx: zmq.Context) -> None:
    address = f"tcp://127.0.0.1:{free_base_port(1)}"
    first = FrameReceiver(ctx, Endpoint(address, bind=True), "first")
    with pytest.raises(ConfigError, match=f"cannot bind {address}"):
        FrameReceiver(ctx, Endpoint(address, bind=True), "second")
    with pytest.raises(ConfigError, match="cannot bind"):
        FrameSender(ctx, Endpoint(address, bind=True), "third")
    first.close()


def test_unusable_address_is_a_config_error(ctx: zmq.Context) -> None:
    with pytest.raises(ConfigError, match="cannot connect"):
        FrameSender(ctx, Endpoint("tcp://no-port-here", bind=False), "tx")
    with pytest.raises(ConfigError, match="cannot bind"):
        FrameReceiver(ctx, Endpoint("udp://127.0.0.1:1", bind=True), "rx")


def test_close(ctx: zmq.Context, tmp_path: Path) -> None:
    tx, rx = _pair(ctx, f"ipc://{tmp_path / 'c'}")
    tx.close()
    rx.close()
    assert tx.socket.closed and rx.socket.closed

"""A worker's end of the supervisor link, against a real ZMQ ROUTER standing in for the supervisor.

Reports queued from any thread leave only on ``pump`` (the loop's thread), in order; a heartbeat goes
when nothing was sent for HEARTBEAT_PERIOD (time is faked here); "pause", "resume" and "stop" from the
supervisor set the flags ``should_stop`` and ``wait_while_paused`` read; garbage from the socket is ignored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import msgpack
import pytest
import zmq

from flight.jobs import worker_link
from flight.jobs.worker_link import HEARTBEAT_PERIOD, WorkerLink
from flight.jobs.worker_protocol import pack, unpack_from_worker

IDENTITY = "7:2"
WAIT_MS = 2000  # how long a test waits for a message that should come (it comes in milliseconds)


class Supervisor:
    """The ROUTER a worker connects to: what it received, and a way to answer."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind("tcp://127.0.0.1:*")
        self.address = self.socket.getsockopt_string(zmq.LAST_ENDPOINT)

    def receive(self, timeout_ms: int = WAIT_MS) -> tuple[str, dict[str, Any]] | None:
        """The next message (checked as the supervisor checks it), None if none came in time."""
        if not self.socket.poll(timeout_ms):
            return None
        identity, raw = self.socket.recv_multipart()
        assert identity == IDENTITY.encode()
        return unpack_from_worker(raw)

    def all(self) -> list[str]:
        """The kinds of every message waiting now (after a short settle)."""
        kinds = []
        while (message := self.receive(100)) is not None:
            kinds.append(message[0])
        return kinds

    def tell(self, raw: bytes) -> None:
        self.socket.send_multipart([IDENTITY.encode(), raw])


class FakeTime:
    """What the link's module sees as ``time``: a monotonic clock set by hand, a real sleep."""

    def __init__(self) -> None:
        self.now = 5000.0
        self.module = SimpleNamespace(monotonic=lambda: self.now, sleep=time.sleep)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def supervisor(ctx: zmq.Context) -> Supervisor:
    return Supervisor(ctx)


@pytest.fixture
def link(ctx: zmq.Context, supervisor: Supervisor) -> WorkerLink:
    return WorkerLink(supervisor.address, IDENTITY, ctx)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(worker_link, "time", fake.module)
    return fake


def connected(link: WorkerLink, supervisor: Supervisor) -> None:
    """Make the ROUTER know the worker (it can answer only a peer that has spoken): one heartbeat."""
    link.pump()
    assert supervisor.receive() == ("heartbeat", {})


def pump_until(link: WorkerLink, done: Any) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while not done():
        assert time.monotonic() < deadline, "the command never arrived"
        link.pump()
        time.sleep(0.005)


def test_reports_from_another_thread_leave_only_on_pump_and_in_order(link: WorkerLink, supervisor: Supervisor,
                                                                      clock: FakeTime) -> None:
    def checkpoint_writer() -> None:
        for step in range(1, 4):
            link.report("checkpoint", {"step": step, "path": f"ckpt-{step}", "write_s": 0.5})

    thread = threading.Thread(target=checkpoint_writer)
    thread.start()
    thread.join()
    assert supervisor.receive(100) is None  # queued, not sent: the socket belongs to the loop's thread
    link.pump()
    assert [supervisor.receive() for _ in range(3)] == [
        ("checkpoint", {"step": step, "path": f"ckpt-{step}", "write_s": 0.5}) for step in range(1, 4)]
    assert supervisor.all() == []  # something went: no heartbeat as well


def test_send_queues_and_sends_at_once(link: WorkerLink, supervisor: Supervisor, clock: FakeTime) -> None:
    link.report("resumed", {"step": 40, "path": "ckpt-40"})
    link.send("hello", device="cpu", step=40)
    assert supervisor.receive() == ("resumed", {"step": 40, "path": "ckpt-40"})
    assert supervisor.receive() == ("hello", {"device": "cpu", "step": 40})


def test_a_heartbeat_goes_when_nothing_was_sent_for_the_period(link: WorkerLink, supervisor: Supervisor,
                                                                clock: FakeTime) -> None:
    link.pump()  # nothing ever sent: a heartbeat at once
    assert supervisor.receive() == ("heartbeat", {})
    clock.now += HEARTBEAT_PERIOD * 0.9
    link.pump()
    assert supervisor.all() == []
    clock.now += HEARTBEAT_PERIOD * 0.1
    link.pump()
    assert supervisor.receive() == ("heartbeat", {})
    clock.now += HEARTBEAT_PERIOD * 0.5
    link.send("paused", step=3)  # a report counts as a sign of life...
    clock.now += HEARTBEAT_PERIOD * 0.9
    link.pump()  # ... so no heartbeat yet
    assert supervisor.all() == ["paused"]
    clock.now += HEARTBEAT_PERIOD * 0.1
    link.pump()
    assert supervisor.receive() == ("heartbeat", {})


def test_many_pumps_within_the_period_send_one_heartbeat(link: WorkerLink, supervisor: Supervisor,
                                                         clock: FakeTime) -> None:
    for _ in range(50):
        link.pump()
        clock.now += HEARTBEAT_PERIOD / 100
    assert supervisor.all() == ["heartbeat"]


def test_pause_resume_and_stop_from_the_supervisor_set_the_flags(link: WorkerLink, supervisor: Supervisor,
                                                                  clock: FakeTime) -> None:
    connected(link, supervisor)
    assert not link.should_stop()
    supervisor.tell(pack("pause"))
    pump_until(link, lambda: link.pause_requested)
    assert link.should_stop() and not link.stop_requested
    supervisor.tell(pack("resume"))
    pump_until(link, lambda: not link.pause_requested)
    assert not link.should_stop()
    supervisor.tell(pack("stop"))
    pump_until(link, lambda: link.stop_requested)
    assert link.should_stop() and not link.pause_requested


def test_injections_queue_and_the_checkpoint_period_is_kept(link: WorkerLink, supervisor: Supervisor,
                                                              clock: FakeTime) -> None:
    connected(link, supervisor)
    first = {"target": "param", "bits": "exponent", "seed": 1, "at": []}
    second = {"target": "optim.x.exp_avg", "bits": "any", "seed": 0, "at": [3, 7]}
    supervisor.tell(pack("inject", **first))
    supervisor.tell(pack("inject", **second))
    supervisor.tell(pack("checkpoint_period", seconds=42.5))
    pump_until(link, lambda: link.checkpoint_period is not None)
    assert link.injections == [first, second] and link.checkpoint_period == 42.5
    for nonsense in (float("nan"), -1.0, 0.0, float("inf")):  # none of these is an interval
        supervisor.tell(pack("checkpoint_period", seconds=nonsense))
        pump_until(link, lambda: link.checkpoint_period is None)
        supervisor.tell(pack("checkpoint_period", seconds=42.5))
        pump_until(link, lambda: link.checkpoint_period == 42.5)


def test_the_duty_cycle_is_kept_within_sense(link: WorkerLink, supervisor: Supervisor, clock: FakeTime) -> None:
    connected(link, supervisor)
    for told, kept in ((0.5, 0.5), (0.0, 0.05), (7.0, 1.0), (float("nan"), 1.0), (0.25, 0.25)):
        supervisor.tell(pack("duty", duty=told))
        pump_until(link, lambda k=kept: link.duty == k)


def test_throttle_pauses_for_the_rest_of_the_duty_cycle_and_beats_meanwhile(link: WorkerLink,
                                                                           supervisor: Supervisor) -> None:
    connected(link, supervisor)
    link.throttle(10.0)  # full duty: no pause at all
    link.duty = 0.25
    started = time.monotonic()
    link.throttle(0.5)  # 0.5 s of work at a quarter duty: 1.5 s of pause, longer than a heartbeat period
    assert 1.45 <= time.monotonic() - started < 5.0
    assert "heartbeat" in supervisor.all()
    link.stop_requested = True
    started = time.monotonic()
    link.throttle(100.0)  # a stop cuts the pause short
    assert time.monotonic() - started < 0.5


def test_garbage_from_the_socket_is_ignored(link: WorkerLink, supervisor: Supervisor, clock: FakeTime) -> None:
    connected(link, supervisor)
    for raw in (b"", b"\xc1", msgpack.packb(["stop"]), pack("hello", device="cpu", step=1), pack("STOP"),
                b"x" * 70_000):
        supervisor.tell(raw)
    supervisor.tell(pack("pause"))  # the last: when it has arrived, all the garbage has been read
    pump_until(link, lambda: link.pause_requested)
    assert not link.stop_requested


def test_should_stop_pumps_so_a_report_leaves_with_it(link: WorkerLink, supervisor: Supervisor,
                                                      clock: FakeTime) -> None:
    link.report("progress", {"step": 10, "loss": 2.5, "tokens_per_s": 100.0, "lr": 1e-3, "memory": 2**20})
    assert link.should_stop() is False
    assert supervisor.receive() == ("progress", {"step": 10, "loss": 2.5, "tokens_per_s": 100.0, "lr": 1e-3,
                                                 "memory": 2**20})


def test_wait_while_paused_returns_at_once_when_not_paused(link: WorkerLink) -> None:
    started = time.monotonic()
    link.wait_while_paused()
    assert time.monotonic() - started < 0.05


@pytest.mark.parametrize("command", ["resume", "stop"])
def test_wait_while_paused_returns_on_resume_or_stop(link: WorkerLink, supervisor: Supervisor,
                                                     command: str) -> None:
    connected(link, supervisor)
    link.pause_requested = True
    supervisor.tell(pack(command))
    started = time.monotonic()
    link.wait_while_paused()
    assert time.monotonic() - started < WAIT_MS / 1000
    assert link.stop_requested is (command == "stop")
    assert link.pause_requested is (command == "stop")  # a stop leaves the pause standing: the loop ends anyway


def test_a_paused_worker_keeps_beating_while_it_waits(link: WorkerLink, supervisor: Supervisor,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_link, "HEARTBEAT_PERIOD", 0.0)  # every pump beats
    connected(link, supervisor)
    link.pause_requested = True
    waiter = threading.Thread(target=link.wait_while_paused, daemon=True)
    waiter.start()
    beats = [supervisor.receive() for _ in range(3)]
    link.stop_requested = True  # the flag the stop command sets; the waiting thread owns the socket
    waiter.join(WAIT_MS / 1000)
    assert not waiter.is_alive()
    assert beats == [("heartbeat", {})] * 3


def test_close_sends_what_is_still_queued(ctx: zmq.Context, link: WorkerLink, supervisor: Supervisor,
                                          clock: FakeTime) -> None:
    link.report("failed", {"reason": "RuntimeError: boom", "device_error": False})
    link.close()
    assert supervisor.receive() == ("failed", {"reason": "RuntimeError: boom", "device_error": False})
    assert link.socket.closed


class RefusingSocket:
    """A DEALER whose peer is not reading: the first send is refused (zmq.Again), the next ones go."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.refusals = 1

    def send(self, data: bytes, flags: int = 0) -> None:
        if self.refusals:
            self.refusals -= 1
            raise zmq.Again()
        self.sent.append(data)

    def poll(self, _timeout: int = 0) -> int:
        return 0


def test_a_report_refused_by_a_busy_socket_is_sent_at_the_next_pump(link: WorkerLink, clock: FakeTime) -> None:
    refusing = RefusingSocket()
    link.socket = refusing  # type: ignore[assignment]
    link.report("done", {"step": 5, "loss": 1.0, "val_loss": 1.0, "tokens_per_s": 1.0, "checkpoint": ""})
    link.pump()
    link.pump()
    assert [kind for kind, _ in map(unpack_from_worker, refusing.sent) if kind != "heartbeat"] == ["done"]

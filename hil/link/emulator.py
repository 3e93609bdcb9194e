"""The link emulator process: ground and flight talk through it as they would through the radio.

It binds the four pipes of the bench, runs every frame through the fault :class:`Channel` of its
direction (``up``: ground to flight, ``down``: flight to ground) and sends each delivery when it
falls due, from one loop on one thread, so the fault models see frames in a single, replayable
order. The loop never sleeps longer than the next due delivery (and at most ``MAX_POLL_S``), so
delays stay accurate to about a millisecond and a stop request is seen at once.

Every fate goes to the capture at its scheduled time. A frame the channel forwarded but the
outgoing socket could not take (no peer connected, or its queue full) is captured as ``dropped``,
so the capture shows what the far end really received. On shutdown, frames still in flight or held
for reordering are discarded and counted as ``emulator.pending_at_exit``: the radio went off.

With a ``control`` endpoint it also takes the bench's changes of the faults while it runs
(:mod:`hil.link.control`), applied between two frames so that the order stays replayable.
"""

from __future__ import annotations

import heapq
import itertools
import math
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import zmq

from flight.atomic_file import write_json_atomic
from flight.counters import Counters
from flight.link.errors import ConfigError, StorageError
from flight.link.transport import BenchPorts, Endpoint, FrameReceiver, FrameSender
from hil.link.capture import CaptureWriter
from hil.link.control import MAX_MESSAGE as MAX_CONTROL
from hil.link.control import LinkControlError, reconfigured, unpack_faults
from hil.link.faults import Channel, Delivery, Fate, FaultConfig

MAX_POLL_S = 0.05  # the longest the loop waits without looking at the clock, the stop flag and the stats
RECV_BATCH = 256  # frames taken from one socket per turn, so that a flood on one side cannot starve the other


@dataclass(frozen=True, slots=True)
class LinkEndpoints:
    ground_up: Endpoint  # ground → emulator (telecommands in)
    flight_up: Endpoint  # emulator → flight (telecommands out)
    flight_down: Endpoint  # flight → emulator (telemetry in)
    ground_down: Endpoint  # emulator → ground (telemetry out)

    @classmethod
    def bench(cls, ports: BenchPorts) -> LinkEndpoints:
        """The emulator's side of the bench: it binds all four, ground and flight connect."""
        return cls(
            ports.ground_uplink(bind=True),
            ports.flight_uplink(bind=True),
            ports.flight_downlink(bind=True),
            ports.ground_downlink(bind=True),
        )


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    endpoints: LinkEndpoints = field(default_factory=lambda: LinkEndpoints.bench(BenchPorts()))
    up: FaultConfig = field(default_factory=FaultConfig)
    down: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0
    capture: Path | None = None
    stats: Path | None = None
    stats_interval: float = 1.0
    duration: float | None = None  # seconds; None runs until stopped
    control: Endpoint | None = None  # where the bench's fault changes come in (bind:...); None: no changes
    epoch: float | None = None  # UNIX time its pass windows count from; None: from its own start

    def __post_init__(self) -> None:
        if not (math.isfinite(self.stats_interval) and self.stats_interval > 0):
            raise ConfigError(f"stats_interval = {self.stats_interval} must be a positive number of seconds")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration >= 0):
            raise ConfigError(f"duration = {self.duration} must be a number of seconds >= 0")


@dataclass(slots=True)
class StopFlag:
    """Set from a signal handler, read by the loop: a plain attribute store is signal-safe."""

    requested: bool = False

    def set(self) -> None:
        self.requested = True


@dataclass(slots=True)
class _Direction:
    name: str
    receiver: FrameReceiver
    sender: FrameSender
    channel: Channel


class LinkEmulator:
    """Binds on construction (a ConfigError if it cannot), runs in :meth:`run` until :meth:`stop`."""

    def __init__(
        self,
        config: EmulatorConfig,
        stop: StopFlag | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._clock = clock
        self._stop = stop if stop is not None else StopFlag()
        self.counters = Counters("emulator")
        for counter in ("capture_records", "pending_at_exit", "stats_write_errors", "control_applied",
                        "control_rejected"):
            self.counters.inc(counter, 0)
        self._heap: list[tuple[float, int, int, Delivery]] = []  # (due, order, direction index, delivery)
        self._order = itertools.count()
        # A bench that starts several processes gives them one epoch, so that their times agree.
        self._start = clock() - (time.time() - config.epoch if config.epoch is not None else 0.0)
        self._capture: CaptureWriter | None = None
        self._context = zmq.Context()
        self._resources = ExitStack()
        self._resources.callback(self._context.term)  # last: after every socket is closed
        try:
            ends = config.endpoints
            self._directions = [
                self._open("up", ends.ground_up, ends.flight_up, config.up),
                self._open("down", ends.flight_down, ends.ground_down, config.down),
            ]
            self._control = self._open_control(config.control) if config.control is not None else None
            if config.capture is not None:
                self._capture = self._resources.enter_context(_open_capture(config.capture))
            self._write_stats(running=True, strict=True)
        except BaseException:
            self._resources.close()
            raise
        self._next_stats = self._now() + config.stats_interval

    def _open(self, name: str, inbound: Endpoint, outbound: Endpoint, faults: FaultConfig) -> _Direction:
        source, sink = ("ground", "flight") if name == "up" else ("flight", "ground")
        receiver = FrameReceiver(self._context, inbound, f"emulator.from_{source}")
        self._resources.callback(receiver.close)
        sender = FrameSender(self._context, outbound, f"emulator.to_{sink}")
        self._resources.callback(sender.close)
        # So that the summary lists them before the first frame.
        receiver.counters.inc("received", 0)
        sender.counters.inc("sent", 0)
        sender.counters.inc("dropped_queue_full", 0)
        return _Direction(name, receiver, sender, Channel(faults, self.config.seed, name))

    def _open_control(self, endpoint: Endpoint) -> zmq.Socket:
        socket = self._context.socket(zmq.PULL)
        self._resources.callback(socket.close, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_CONTROL)  # a larger message is dropped by ZeroMQ itself
        try:
            socket.bind(endpoint.address) if endpoint.bind else socket.connect(endpoint.address)
        except zmq.ZMQError as exc:
            raise ConfigError(f"link control {endpoint.address}: {exc.strerror}") from None
        return socket

    def _take_control(self) -> None:
        assert self._control is not None
        while self._control.poll(0):
            try:
                configs = reconfigured(unpack_faults(self._control.recv()),
                                       {d.name: d.channel.config for d in self._directions})
            except LinkControlError:
                self.counters.inc("control_rejected")
                continue
            for direction in self._directions:
                direction.channel.reconfigure(configs[direction.name])
            self.counters.inc("control_applied")

    def _now(self) -> float:
        return self._clock() - self._start

    def stop(self) -> None:
        """Ask :meth:`run` to return; safe from a signal handler."""
        self._stop.set()

    def run(self) -> dict[str, object]:
        """Forward frames until stopped or the duration is over, then close; returns the summary."""
        poller = zmq.Poller()
        for direction in self._directions:
            poller.register(direction.receiver.socket, zmq.POLLIN)
        if self._control is not None:
            poller.register(self._control, zmq.POLLIN)
        try:
            while not self._stop.requested:
                now = self._now()
                if self.config.duration is not None and now >= self.config.duration:
                    break
                self._send_due(now)
                if self.config.stats is not None and now >= self._next_stats:
                    self._write_stats(running=True)
                    self._next_stats = now + self.config.stats_interval
                ready = dict(poller.poll(self._poll_ms(self._now())))
                if self._control is not None and self._control in ready:
                    self._take_control()
                for index, direction in enumerate(self._directions):
                    if direction.receiver.socket in ready:
                        self._receive(index, direction)
        finally:
            self._close()
        return self.summary(running=False)

    def _receive(self, index: int, direction: _Direction) -> None:
        for _ in range(RECV_BATCH):
            frame = direction.receiver.recv(timeout=0)
            if frame is None:
                return
            for delivery in direction.channel.process(frame, self._now()):
                heapq.heappush(self._heap, (delivery.at, next(self._order), index, delivery))

    def _send_due(self, now: float) -> None:
        for index, direction in enumerate(self._directions):
            for delivery in direction.channel.flush(now):
                heapq.heappush(self._heap, (delivery.at, next(self._order), index, delivery))
        while self._heap and self._heap[0][0] <= now:
            _, _, index, delivery = heapq.heappop(self._heap)
            direction = self._directions[index]
            fate = delivery.fate
            if delivery.forwarded and not direction.sender.send(delivery.frame):
                fate = Fate.DROPPED
            if self._capture is not None:
                self._capture.write(delivery.at, direction.name, delivery.frame, fate)
                self.counters.inc("capture_records")

    def _poll_ms(self, now: float) -> int:
        wake = [now + MAX_POLL_S]
        if self._heap:
            wake.append(self._heap[0][0])
        wake.extend(r for d in self._directions if (r := d.channel.next_release()) is not None)
        if self.config.stats is not None:
            wake.append(self._next_stats)
        if self.config.duration is not None:
            wake.append(self.config.duration)
        return max(0, math.ceil((min(wake) - now) * 1000))

    def summary(self, running: bool) -> dict[str, object]:
        counters: dict[str, int] = {}
        for direction in self._directions:
            counters |= direction.channel.counters.snapshot()
            counters |= direction.receiver.counters.snapshot()
            counters |= direction.sender.counters.snapshot()
        counters |= self.counters.snapshot()
        return {
            "elapsed_s": round(self._now(), 6),
            "seed": self.config.seed,
            "running": running,
            "counters": counters,
        }

    def _write_stats(self, running: bool, strict: bool = False) -> None:
        if self.config.stats is None:
            return
        try:
            write_json_atomic(self.config.stats, self.summary(running))
        except StorageError as exc:
            if strict:
                raise ConfigError(f"stats file: {exc}") from None
            self.counters.inc("stats_write_errors")  # a full disk must not stop the link

    def _close(self) -> None:
        pending = len(self._heap) + sum(d.channel.held for d in self._directions)
        self.counters.inc("pending_at_exit", pending)
        self._heap.clear()
        self._resources.close()
        self._write_stats(running=False)


def _open_capture(path: Path) -> CaptureWriter:
    try:
        return CaptureWriter(path)
    except OSError as exc:
        raise ConfigError(f"cannot write capture file {path}: {exc.strerror}") from None


def serve(config: EmulatorConfig, log: TextIO = sys.stderr) -> dict[str, object]:
    """Run the emulator in the foreground until SIGINT, SIGTERM or the duration; returns the summary."""
    stop = StopFlag()
    # Installed before binding, so a signal that arrives as soon as the stats file appears is honoured.
    handlers = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        emulator = LinkEmulator(config, stop)
        ends = config.endpoints
        print(
            f"hil link: up {ends.ground_up} -> {ends.flight_up}, down {ends.flight_down} -> {ends.ground_down}",
            file=log,
            flush=True,
        )
        return emulator.run()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

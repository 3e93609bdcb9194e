"""The physical layer, emulated: one ZeroMQ message per frame (or CLTU).

This is the only module under ``flight/link`` that does I/O. Each direction is a PUSH→PULL pipe:
ZeroMQ reconnects by itself when a peer restarts, and the high-water marks bound the queues, so a
slow or absent peer costs dropped frames (counted), as a radio would, never unbounded memory.

An endpoint is written ``bind:tcp://127.0.0.1:5550`` or ``connect:ipc:///tmp/up`` (a bare address
binds when its host is ``*`` and connects otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from flight.counters import Counters
from flight.link.errors import ConfigError

DEFAULT_HWM = 1000
MAX_MESSAGE = 65536  # far above any frame or CLTU: a peer sending more is dropped, not buffered
LINGER_MS = 200  # on close, give queued frames this long to leave, then drop them
RECONNECT_MS = 100
RECONNECT_MAX_MS = 1000


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str
    bind: bool

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        mode, _, address = text.partition(":")
        if mode in ("bind", "connect") and "://" in address:
            return cls(address, mode == "bind")
        if "://" in text and text.split("://", 1)[0] in ("tcp", "ipc", "inproc"):
            return cls(text, "://*" in text)
        raise ConfigError(f"endpoint {text!r} is not bind:ADDRESS or connect:ADDRESS (tcp://, ipc://)")

    def __str__(self) -> str:
        return f"{'bind' if self.bind else 'connect'}:{self.address}"


def _open(ctx: zmq.Context, kind: int, endpoint: Endpoint, hwm: int) -> zmq.Socket:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, LINGER_MS)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_MAX_MS)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
    try:
        if endpoint.bind:
            sock.bind(endpoint.address)
        else:
            sock.connect(endpoint.address)
    except zmq.ZMQError as exc:
        sock.close(0)
        raise ConfigError(f"cannot {'bind' if endpoint.bind else 'connect'} {endpoint.address}: {exc}") from None
    return sock


class FrameSender:
    """Sends frames without ever blocking: a full queue drops the frame and counts it."""

    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, name: str, hwm: int = DEFAULT_HWM) -> None:
        self.endpoint = endpoint
        self.socket = _open(ctx, zmq.PUSH, endpoint, hwm)
        self.counters = Counters(name)

    def send(self, frame: bytes) -> bool:
        try:
            self.socket.send(frame, zmq.NOBLOCK, copy=len(frame) > 4096)
        except zmq.Again:
            self.counters.inc("dropped_queue_full")
            return False
        self.counters.inc("sent")
        return True

    def close(self) -> None:
        self.socket.close()


class FrameReceiver:
    def __init__(self, ctx: zmq.Context, endpoint: Endpoint, name: str, hwm: int = DEFAULT_HWM) -> None:
        self.endpoint = endpoint
        self.socket = _open(ctx, zmq.PULL, endpoint, hwm)
        self.counters = Counters(name)

    def recv(self, timeout: float | None = None) -> bytes | None:
        """One frame, or None if none arrives within ``timeout`` seconds (None waits forever)."""
        if timeout is not None and not self.socket.poll(int(timeout * 1000)):
            return None
        frame = self.socket.recv()
        self.counters.inc("received")
        return frame

    def recv_all(self) -> list[bytes]:
        """Every frame already waiting, without blocking."""
        frames = []
        while True:
            try:
                frames.append(self.socket.recv(zmq.NOBLOCK))
            except zmq.Again:
                break
        self.counters.inc("received", len(frames))
        return frames

    def close(self) -> None:
        self.socket.close()


@dataclass(frozen=True, slots=True)
class BenchPorts:
    """The four pipes of the bench, from one base port: the link emulator binds, ground and flight connect.

    base+0 ground→emulator (TC), base+1 emulator→flight (TC), base+2 flight→emulator (TM),
    base+3 emulator→ground (TM); beside the link, base+4 takes managed processes' heartbeats to the
    supervisor, base+5 is the ground station's operator control, base+6 takes job workers, base+7 the
    bench's keyed fault requests (when enabled), base+8 carries the bus simulator's state to the
    supervisor and base+9 the payload's power draw back to it, base+10 takes the bench's power
    anomalies to the bus simulator, and base+11 its changes of the link's faults to the emulator. Two
    benches side by side just use two base ports, ``SPAN`` apart.
    """

    SPAN = 12

    base: int = 5550
    host: str = "127.0.0.1"

    def _addr(self, offset: int) -> str:
        return f"tcp://{self.host}:{self.base + offset}"

    def ground_uplink(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(0), bind)

    def flight_uplink(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(1), bind)

    def flight_downlink(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(2), bind)

    def ground_downlink(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(3), bind)

    def heartbeats(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(4), bind)

    def ground_control(self) -> str:
        return self._addr(5)

    def jobs(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(6), bind)

    def faults(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(7), bind)

    def bus_state(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(8), bind)

    def bus_draw(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(9), bind)

    def bus_control(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(10), bind)

    def link_control(self, bind: bool = False) -> Endpoint:
        return Endpoint(self._addr(11), bind)

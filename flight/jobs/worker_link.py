"""A job worker's side of the supervisor link: reports out, control in, heartbeats between steps.

Heartbeats come from the training loop itself (each time it asks whether to stop), never from a
thread of their own, so a step that hangs on the device silences them and the supervisor kills the
worker. Reports may come from the checkpoint writer's thread too, so they are queued and sent only
from the loop's thread (a ZMQ socket belongs to one thread).
"""

from __future__ import annotations

import math
import queue
import time
from typing import Any

import zmq

from flight.jobs.worker_protocol import WorkerMessageError, pack, unpack_to_worker

HEARTBEAT_PERIOD = 1.0
CLOSE_LINGER_MS = 5000  # the last messages (done, failed) must reach the supervisor before exit


class WorkerLink:
    def __init__(self, address: str, identity: str, ctx: zmq.Context | None = None) -> None:
        self.ctx = ctx or zmq.Context.instance()
        self.socket = self.ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IDENTITY, identity.encode())
        self.socket.setsockopt(zmq.LINGER, CLOSE_LINGER_MS)
        self.socket.connect(address)
        self._reports: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._last_sent = 0.0
        self._unsent: bytes | None = None
        self.pause_requested = False
        self.stop_requested = False
        self.scrub_requested = False
        self.injections: list[dict[str, Any]] = []  # the bench's upsets, flipped at the next step boundary
        self.checkpoint_period: float | None = None  # Young/Daly's interval, as the supervisor last advised
        self.duty = 1.0  # the share of the time the job may compute (the power governor's duty cycle)

    def report(self, kind: str, fields: dict[str, Any]) -> None:
        """Queue a message (any thread); it leaves at the next ``pump``."""
        self._reports.put(pack(kind, **fields))

    def send(self, kind: str, **fields: Any) -> None:
        """Queue and send now (the loop's thread only)."""
        self.report(kind, fields)
        self.pump()

    def pump(self) -> None:
        """Send what is queued (or a heartbeat if nothing went for a while) and take control messages."""
        sent = False
        while True:
            message = self._unsent
            if message is None:
                try:
                    message = self._reports.get_nowait()
                except queue.Empty:
                    break
            try:
                self.socket.send(message, zmq.NOBLOCK)
                self._unsent = None
                sent = True
            except zmq.Again:
                self._unsent = message  # kept for the next pump: a report is delayed, never dropped
                break
        now = time.monotonic()
        if sent:
            self._last_sent = now
        elif now - self._last_sent >= HEARTBEAT_PERIOD:
            try:
                self.socket.send(pack("heartbeat"), zmq.NOBLOCK)
                self._last_sent = now
            except zmq.Again:
                pass
        while self.socket.poll(0):
            try:
                command, fields = unpack_to_worker(self.socket.recv())
            except WorkerMessageError:
                continue  # only the supervisor talks to this socket; garbage from it is ignored
            if command == "pause":
                self.pause_requested = True
            elif command == "resume":
                self.pause_requested = False
            elif command == "stop":
                self.stop_requested = True
            elif command == "scrub":
                self.scrub_requested = True  # taken by the job at its next step boundary
            elif command == "inject":
                self.injections.append(fields)
            elif command == "duty":
                duty = fields["duty"]
                self.duty = min(1.0, max(0.05, duty)) if math.isfinite(duty) else 1.0
            elif command == "checkpoint_period":
                seconds = fields["seconds"]
                self.checkpoint_period = seconds if math.isfinite(seconds) and seconds > 0 else None

    def should_stop(self) -> bool:
        """Asked by the training loop before every step."""
        self.pump()
        return self.pause_requested or self.stop_requested

    def throttle(self, busy_s: float) -> None:
        """After ``busy_s`` of work, pause as long as the duty cycle asks (beating meanwhile)."""
        if self.duty >= 1.0:
            return
        until = time.monotonic() + busy_s * (1.0 - self.duty) / self.duty
        while not (self.stop_requested or self.pause_requested) and time.monotonic() < until:
            self.pump()
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))

    def wait_while_paused(self) -> None:
        """Block, still beating, until resumed or told to stop."""
        while self.pause_requested and not self.stop_requested:
            self.pump()
            time.sleep(0.05)

    def close(self) -> None:
        self.pump()
        self.socket.close()

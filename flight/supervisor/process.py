"""``flight run``: the supervisor as a process, over ZeroMQ.

One thread does everything, in a loop: frames from the uplink, heartbeats, the services' clock
ticks, and downlink frames (after every uplink burst so FOP-1 hears the CLCW at once, whenever
telemetry is queued, and otherwise every ``link.tm_frame_interval`` seconds to keep the CLCW fresh), never faster than
``link.tm_frame_rate``.
A watchdog thread resets the process if the loop stalls. Journaled commands a kill interrupted
run first, before anything new is heard.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from typing import TextIO

import msgpack
import zmq

from flight.command_line import StopRequest
from flight.dictionary import Dictionary
from flight.files.settings import files_settings
from flight.link.config import build_sdls
from flight.link.errors import ConfigError
from flight.link.keys import KeyRing
from flight.link.transport import FrameReceiver, FrameSender
from flight.mission_config import MissionFile
from flight.power.nvml_gpu import open_nvml_gpu
from flight.seu.ecc_source import open_ecc_source
from flight.supervisor.dispatch import Outcome
from flight.supervisor.fault_request import KEY_ID, MAX_REQUEST, reply
from flight.supervisor.health.heartbeat import Watchdog
from flight.supervisor.state_db import StateDb
from flight.supervisor.supervisor import Supervisor

log = logging.getLogger(__name__)
MAX_WAIT = 0.05  # the loop turns at least this often, for the schedule and housekeeping
BURST = 32  # uplink units taken per turn: a flood on the uplink cannot starve the rest of the loop


def run_supervisor(mission: MissionFile, dictionary: Dictionary, duration: float | None = None,
                   out: TextIO = sys.stdout) -> int:
    link = mission.link
    settings = mission.flight()
    sdls = build_sdls(link)
    state_path = mission.resolve(settings.state)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    db = StateDb(state_path)
    files = files_settings(mission)
    bench_key = KeyRing.load(mission.resolve(settings.bench_key_file)).get(KEY_ID) if settings.bench_key_file else None
    supervisor = Supervisor(link, dictionary, db, settings.clock.build(db), sdls, settings.responses,
                            files=files, files_root=mission.resolve(files.root),
                            jobs_dir=mission.resolve(settings.jobs_dir), job_device=settings.job_device or None,
                            ecc_source=open_ecc_source(settings.ecc_source), bench_key=bench_key,
                            gpu_power=open_nvml_gpu(settings.gpu_power, settings.power_cap_control))
    ctx = zmq.Context()
    rx = FrameReceiver(ctx, mission.endpoint(settings.uplink, mission.ports.flight_uplink()), "radio_up")
    tx = FrameSender(ctx, mission.endpoint(settings.downlink, mission.ports.flight_downlink()), "radio_down")
    beats = None
    if settings.heartbeats:
        beats = FrameReceiver(ctx, mission.endpoint(settings.heartbeats, mission.ports.heartbeats(True)), "heartbeats")
    supervisor.jobs.bind(ctx, mission.endpoint(settings.jobs, mission.ports.jobs(True)).address)
    bus_in, draw_out = connect_bus(ctx, mission.endpoint(settings.bus_state, mission.ports.bus_state()).address,
                                   mission.endpoint(settings.bus_draw, mission.ports.bus_draw()).address)
    faults = None
    if bench_key is not None:
        faults = bind_fault_socket(ctx, mission.endpoint(settings.faults, mission.ports.faults(True)).address)
        print(f"flight: bench fault interface open at {faults.getsockopt_string(zmq.LAST_ENDPOINT)} (test only)",
              file=out, flush=True)
    stopping = StopRequest(duration)

    def show(outcome: Outcome) -> None:
        print("COMMAND " + json.dumps(outcome.as_dict()), file=out, flush=True)

    print(f"flight: supervisor up: boot {supervisor.restarts.boots}, mode {supervisor.modes.mode.name}, "
          f"state {state_path}", file=out, flush=True)
    watchdog = Watchdog(settings.watchdog)
    watchdog.start()
    parameters = supervisor.parameters
    next_frame = next_data = time.monotonic()
    try:
        for outcome in supervisor.run_journal():  # what a kill interrupted, before anything new
            show(outcome)
        while not stopping:
            wake = next_data if supervisor.mux.has_data() else next_frame
            raw = rx.recv(min(MAX_WAIT, max(0.0, wake - time.monotonic())))
            began = time.monotonic()
            heard = raw is not None
            taken = 0
            while raw is not None:
                for outcome in supervisor.on_uplink(raw):
                    show(outcome)
                taken += 1
                raw = rx.recv(0) if taken < BURST else None
            if beats is not None:
                _take_heartbeats(beats, supervisor)
            supervisor.on_job_messages()
            if faults is not None:
                _serve_faults(faults, supervisor)
            while bus_in.poll(0):
                supervisor.governor.on_bus_message(bus_in.recv())
            for outcome in supervisor.tick():
                show(outcome)
            draw = supervisor.governor.take_draw()
            if draw is not None:
                with contextlib.suppress(zmq.Again):  # no bus listening: the draw is news to no one
                    draw_out.send(draw, zmq.NOBLOCK)
            now = time.monotonic()
            # Data goes down at the downlink's rate; with nothing to send, a frame now and then keeps
            # the CLCW fresh; and one right after an uplink burst tells FOP-1 at once what arrived.
            if now >= next_data and (heard or supervisor.mux.has_data() or now >= next_frame):
                tx.send(supervisor.next_frame())
                next_data = now + 1.0 / parameters.get("link.tm_frame_rate")
                next_frame = now + parameters.get("link.tm_frame_interval")
            supervisor.note_loop(time.monotonic() - began)
            watchdog.pet()
        supervisor.stop()  # reached only by a deliberate stop: a crash is a restart next time
    finally:
        watchdog.stop()
        supervisor.jobs.close()
        supervisor.governor.close()
        print(json.dumps({"counters": supervisor.counters()}), file=out, flush=True)
        for socket in (rx, tx, beats, faults, bus_in, draw_out):
            if socket is not None:
                socket.close()
        ctx.term()
        db.close()
    return 0


def connect_bus(ctx: zmq.Context, state: str, draw: str) -> tuple[zmq.Socket, zmq.Socket]:
    """The payload's side of the bus interface: its state in (SUB), the payload's draw out (PUSH)."""
    bus_in = ctx.socket(zmq.SUB)
    bus_in.setsockopt(zmq.SUBSCRIBE, b"")
    bus_in.setsockopt(zmq.MAXMSGSIZE, 4096)
    bus_in.setsockopt(zmq.RCVHWM, 100)
    draw_out = ctx.socket(zmq.PUSH)
    draw_out.setsockopt(zmq.SNDHWM, 10)
    for socket in (bus_in, draw_out):
        socket.setsockopt(zmq.LINGER, 0)
    try:
        bus_in.connect(state)
        draw_out.connect(draw)
    except zmq.ZMQError as exc:
        for socket in (bus_in, draw_out):
            socket.close(0)
        raise ConfigError(f"cannot connect to the bus at {state} / {draw}: {exc}") from None
    return bus_in, draw_out


def bind_fault_socket(ctx: zmq.Context, address: str) -> zmq.Socket:
    socket = ctx.socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST)  # bigger is dropped by ZMQ, before it is read
    try:
        socket.bind(address)
    except zmq.ZMQError as exc:
        socket.close(0)
        raise ConfigError(f"cannot bind the bench fault socket {address}: {exc}") from None
    return socket


def _serve_faults(socket: zmq.Socket, supervisor: Supervisor) -> None:
    """At most one request a turn: the bench waits for each reply, so there is never a queue."""
    if socket.poll(0):
        raw = socket.recv()
        try:
            answer = supervisor.on_fault_request(raw)
        except Exception:  # a bug on odd input: the bench hears so, and the supervisor goes on
            supervisor.faults.counters.inc("rejected")
            log.exception("a bench fault request could not be handled")
            answer = reply(False, "failed", "the supervisor could not carry it out; see its log")
        socket.send(answer)


def _take_heartbeats(beats: FrameReceiver, supervisor: Supervisor) -> None:
    """Heartbeats are msgpack maps {"process": name, "timeout": seconds (optional)}; garbage is counted."""
    for raw in beats.recv_all():
        try:
            beat = msgpack.unpackb(raw, raw=False)
            process, timeout = beat["process"], beat.get("timeout")
            if not isinstance(process, str) or not (timeout is None or isinstance(timeout, int | float)):
                raise TypeError("process must be a string, timeout a number")
        except Exception:  # whatever a broken sender sends: counted, never fatal
            supervisor.heartbeats.counters.inc("bad_heartbeats")
            continue
        supervisor.heartbeat(process[:64], float(timeout) if timeout is not None else None)

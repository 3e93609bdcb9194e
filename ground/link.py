"""The ground station's end of the link over ZeroMQ: commands up through COP-1, telemetry down.

:class:`GroundLink` owns the sockets and drives the pure protocol machines (UplinkSender, the TM
demultiplexer) from one ``pump`` call, so scripts, tests and benchmarks can run it in their own loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from flight.counters import Counters, merged
from flight.dictionary import Dictionary, encode_command
from flight.link.config import LinkConfig, build_sdls
from flight.link.errors import TmFrameError, ZenithError
from flight.link.pus import SequenceCounter
from flight.link.tmframe import TmChannelFormat
from flight.link.transport import Endpoint, FrameReceiver, FrameSender
from flight.link.uplink_sender import SenderEvent, UplinkSender
from flight.link.vcdemux import VirtualChannelDemux
from ground.iv_state import IvReservations, iv_state_path

PUMP_BURST = 64


class GroundLink:
    def __init__(self, config: LinkConfig, dictionary: Dictionary, uplink: Endpoint, downlink: Endpoint,
                 clock: Callable[[], float] = time.monotonic, sequence: SequenceCounter | None = None) -> None:
        self.dictionary = dictionary
        self.ctx = zmq.Context()
        self.tx = FrameSender(self.ctx, uplink, "ground_up")
        self.rx = FrameReceiver(self.ctx, downlink, "ground_down")
        self.received: list[tuple[bytes, int]] = []  # (packet, VCID) not yet taken
        self.last_heard: float | None = None  # monotonic time of the last good downlink frame
        self.counters = Counters("ground")
        self.iv_state: IvReservations | None = None
        try:
            sdls = build_sdls(config)
            keys = config.keys_path()
            if sdls is not None and keys is not None:
                self.iv_state = IvReservations(iv_state_path(keys))
                self.iv_state.attach(sdls)
            self.sender = UplinkSender(config, clock, sdls)
        except ZenithError:
            self.close()
            raise
        fmt = TmChannelFormat(config.spacecraft_id, config.tm.frame_length, config.tm.ocf, config.tm.fecf)
        self.demux = VirtualChannelDemux(fmt)
        self.sequence = sequence or SequenceCounter()
        self.events: list[SenderEvent] = []

    def start(self) -> None:
        self.sender.start()

    def command(self, name: str, arguments: dict[str, Any] | None = None, tag: Any = None) -> bytes:
        """Queue a dictionary command for AD delivery; returns the TC packet."""
        command = self.dictionary.command(name)
        apid = command.apid if command else 0
        packet = encode_command(self.dictionary, name, arguments, seq_count=self.sequence.next(apid))
        self.sender.send(packet, tag if tag is not None else name)
        return packet

    def pump(self, timeout: float = 0.01) -> None:
        """Move frames both ways: downlink frames feed FOP-1 their CLCWs, then the uplink drains."""
        raw = self.rx.recv(timeout)
        taken = 0
        while raw is not None:
            try:
                result = self.demux.feed(raw)
            except TmFrameError:
                self.counters.inc("tm_frames_rejected")
            else:
                self.last_heard = time.monotonic()
                vcid = result.frame.virtual_channel_id
                self.received.extend((packet, vcid) for packet in result.packets)
                self.counters.inc("tm_packets", len(result.packets))
                if result.clcw is not None:
                    self.sender.on_clcw(result.clcw)
            taken += 1
            # Bounded: a busy downlink must not starve the uplink and the rest of the loop.
            raw = self.rx.recv(0) if taken < PUMP_BURST else None
        self.sender.poll()
        for frame in self.sender.take_frames():
            self.tx.send(frame)
        self.events.extend(self.sender.take_events())

    def take_received(self) -> list[tuple[bytes, int]]:
        """The telemetry packets received since the last call, with their virtual channel."""
        taken, self.received = self.received, []
        return taken

    def housekeeping(self) -> dict[str, int]:
        """Every counter of the ground's link end."""
        sender = self.sender
        return merged(self.counters, sender.counters, sender.fop.counters, self.demux.counters, self.tx.counters,
                      self.rx.counters, *([sender.cltu.counters] if sender.cltu else []))

    def run_until(self, done: Callable[[], bool], timeout: float, tick: float = 0.005) -> bool:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                return False
            self.pump(tick)
        return True

    def close(self) -> None:
        if self.iv_state is not None:
            self.iv_state.close()
        self.tx.close()
        self.rx.close()
        self.ctx.term()

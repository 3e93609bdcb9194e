"""COP-1 end to end, in process: UplinkSender (FOP-1, SDLS, CLTU) → lossy channel → UplinkReceiver (FARM-1),
with the CLCW coming back in TM frames through the VC mux/demux over a lossy channel too.

Simulated time, seeded faults: a failure replays exactly.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field

import pytest

from flight.link.config import FopSettings, LinkConfig, TcChannel, TcSettings
from flight.link.farm import FarmOutcome
from flight.link.fop import AlertReason, FopState, InitiateMode
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls, SecurityAssociation
from flight.link.tcframe import FrameType, TcFrame
from flight.link.tmframe import TmChannelFormat
from flight.link.uplink_receiver import UplinkReceiver
from flight.link.uplink_sender import SenderEventKind, UplinkSender
from flight.link.vcdemux import VirtualChannelDemux
from flight.link.vcmux import VirtualChannelMux

STEP = 0.001


@dataclass
class LossyChannel:
    rng: random.Random
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.002
    drop_next: set[int] = field(default_factory=set)  # indices of frames to drop on purpose
    sent: int = 0

    def send(self, heap: list, now: float, frame: bytes, order: itertools.count) -> None:
        index = self.sent
        self.sent += 1
        if index in self.drop_next or self.rng.random() < self.loss:
            return
        for _ in range(2 if self.rng.random() < self.duplicate else 1):
            late = self.rng.uniform(0, 0.01) if self.rng.random() < self.reorder else 0.0
            heapq.heappush(heap, (now + self.delay + late, next(order), frame))


class Loopback:
    """Ground and flight link ends joined by two lossy channels, on a simulated clock."""

    def __init__(self, *, seed: int = 1, loss: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
                 transmission_limit: int = 20, sdls: bool = True, cltu: bool = True, blocking: bool = False) -> None:
        rng = random.Random(seed)
        self.now = 0.0
        channel = TcChannel(accept_set_vr=True)  # the Set V(R) test drives it by hand
        config = LinkConfig(tc=TcSettings(cltu=cltu, channels=(channel,)),
                            fop=FopSettings(window=5, t1=0.05, transmission_limit=transmission_limit,
                                            blocking=blocking))
        keys = KeyRing.generate(["tc-0"])
        sas = [SecurityAssociation(1, "tc-0", (0,))]
        self.config = config
        self.sender = UplinkSender(config, lambda: self.now, Sdls(sas, keys) if sdls else None)
        self.receiver = UplinkReceiver(config, Sdls(sas, keys) if sdls else None)
        fmt = TmChannelFormat(config.spacecraft_id, 256)
        self.mux = VirtualChannelMux(fmt, ocf_source=self.receiver.clcw_bytes)
        self.demux = VirtualChannelDemux(fmt)
        self.up = LossyChannel(rng, loss, duplicate, reorder)
        self.down = LossyChannel(rng, loss, duplicate, reorder)
        self._up_heap: list = []
        self._down_heap: list = []
        self._order = itertools.count()
        self.delivered: list[bytes] = []
        self.events = []

    def inject_uplink(self, raw: bytes) -> None:
        heapq.heappush(self._up_heap, (self.now, next(self._order), raw))

    def step(self) -> None:
        self.now += STEP
        self.sender.poll()
        for frame in self.sender.take_frames():
            self.up.send(self._up_heap, self.now, frame, self._order)
        while self._up_heap and self._up_heap[0][0] <= self.now:
            self.receiver.receive(heapq.heappop(self._up_heap)[2])
        self.delivered += [d.packet for d in self.receiver.take_packets()]
        self.down.send(self._down_heap, self.now, self.mux.next_frame(), self._order)
        while self._down_heap and self._down_heap[0][0] <= self.now:
            result = self.demux.feed(heapq.heappop(self._down_heap)[2])
            if result.clcw is not None:
                self.sender.on_clcw(result.clcw)
        self.events += self.sender.take_events()

    def run(self, until, limit_s: float = 600.0) -> None:
        while not until() and self.now < limit_s:
            self.step()


def commands(n: int) -> list[bytes]:
    return [build_tc(16, 17, 1, i.to_bytes(4, "big"), seq_count=i % 16384) for i in range(n)]


def send_all(link: Loopback, packets: list[bytes]) -> None:
    for i, packet in enumerate(packets):
        link.sender.send(packet, i)
    link.sender.start()
    link.run(lambda: len(link.delivered) >= len(packets) and link.sender.pending == 0)


def test_10000_frames_through_20_percent_loss_duplication_and_reordering_arrive_once_in_order() -> None:
    packets = commands(10_000)
    link = Loopback(seed=2026, loss=0.2, duplicate=0.1, reorder=0.1)
    send_all(link, packets)
    assert link.delivered == packets
    farm = link.receiver.farms[0].counters
    assert farm["accepted_ad"] == 10_000
    assert farm["discarded_positive_window"] > 0  # losses really happened and were recovered
    assert link.sender.fop.counters["ad_retransmitted"] > 0
    assert link.receiver.counters["rejected_sdls_replay"] > 0  # duplicates reached SDLS and were refused


@pytest.mark.parametrize("seed", range(8))
def test_blocked_frames_through_loss_and_alerts_deliver_every_packet_once_in_order(seed: int) -> None:
    """Several packets a frame (as many as wait when FOP-1 has room): go-back-N, Alerts and limbo
    recovery resend whole frames, so every packet still arrives once, in order, and each is
    confirmed once."""
    packets = commands(1500)
    link = Loopback(seed=seed, loss=0.3, duplicate=0.2, reorder=0.3, transmission_limit=2, blocking=True)
    link.sender.start()
    rng = random.Random(seed)
    queued = 0
    while queued < len(packets):  # bursts of 1 to 60 commands, now and then
        burst = min(len(packets), queued + rng.randint(1, 60))
        for i in range(queued, burst):
            link.sender.send(packets[i], i)
        queued = burst
        link.run(lambda: rng.random() < 0.02)
    link.run(lambda: len(link.delivered) >= len(packets) and link.sender.pending == 0)
    assert link.delivered == packets
    confirmed = [e.tag for e in link.events if e.kind is SenderEventKind.CONFIRMED]
    assert sorted(confirmed) == list(range(len(packets)))
    frames = link.receiver.farms[0].counters["accepted_ad"]
    assert frames < len(packets) // 2 and link.sender.counters["blocked"] == len(packets) - frames
    assert link.sender.counters["recoveries"] > 0  # limbo of blocked frames was really settled


@pytest.mark.parametrize("limit", [1, 2])
def test_alerts_from_a_tight_transmission_limit_recover_without_loss_or_duplicates(limit: int) -> None:
    packets = commands(600)
    link = Loopback(seed=limit, loss=0.3, duplicate=0.2, reorder=0.3, transmission_limit=limit)
    send_all(link, packets)
    assert link.delivered == packets
    assert link.sender.counters["recoveries"] > 0


@pytest.mark.parametrize("seed", range(12))
def test_recovery_is_exact_for_many_seeds(seed: int) -> None:
    packets = commands(300)
    link = Loopback(seed=seed, loss=0.3, duplicate=0.2, reorder=0.3, transmission_limit=2)
    send_all(link, packets)
    assert link.delivered == packets


def test_dropping_frame_n_and_delivering_n_plus_1_recovers_with_sdls() -> None:
    """The SDLS/COP-1 hazard: n+1 is authentic but FARM discards it; the retransmission of n and then of
    n+1 (bit-identical, same IV) must not be refused as replays."""
    packets = commands(10)
    link = Loopback(seed=5)
    link.up.drop_next = {3}  # "with CLCW check" sends no BC frame: the 4th frame on the wire is N(S)=3
    send_all(link, packets)
    assert link.delivered == packets
    assert link.receiver.farms[0].counters["discarded_positive_window"] >= 1
    assert link.receiver.counters["rejected_sdls_replay"] == 0


def test_lockout_is_reported_and_cleared_by_unlock_without_losing_commands() -> None:
    packets = commands(40)
    link = Loopback(seed=9)
    for i, packet in enumerate(packets[:20]):
        link.sender.send(packet, i)
    link.sender.start()
    link.run(lambda: len(link.delivered) >= 20 and link.sender.pending == 0)
    # A frame far outside FARM-1's window (e.g. from a ground station that restarted) locks it out.
    far = TcFrame(link.config.spacecraft_id, 0, FrameType.AD, (link.receiver.farms[0].v_r + 100) & 0xFF, packets[0])
    assert link.sender.cltu is not None and link.sender.fop.protect is not None
    link.inject_uplink(link.sender.cltu.encode(link.sender.fop.protect(far)))
    link.run(lambda: link.receiver.farms[0].lockout, limit_s=link.now + 1)
    assert link.receiver.farms[0].lockout
    for i, packet in enumerate(packets[20:], start=20):
        link.sender.send(packet, i)
    link.run(lambda: len(link.delivered) >= 40 and link.sender.pending == 0)
    assert link.delivered == packets
    assert link.sender.counters["alert_lockout"] == 1
    assert link.receiver.farms[0].counters["unlock"] >= 1
    assert not link.receiver.farms[0].lockout


def test_set_vr_moves_farm_and_fop_together() -> None:
    link = Loopback(seed=3)
    fop = link.sender.fop  # FOP-1's directives, by hand: the operator's Set V(R)
    fop.initiate_ad(InitiateMode.WITH_SET_VR, tag="op", v_r=200)
    link.run(lambda: fop.state is FopState.ACTIVE, limit_s=5)
    assert link.receiver.farms[0].v_r == 200
    assert fop.v_s == 200
    packets = commands(60)  # wraps 255 → 0
    for i, packet in enumerate(packets):
        link.sender.send(packet, i)
    link.run(lambda: len(link.delivered) >= 60 and link.sender.pending == 0)
    assert link.delivered == packets
    assert link.receiver.farms[0].v_r == (200 + 60) & 0xFF


def test_bd_frames_pass_farm_in_lockout() -> None:
    link = Loopback(seed=4)
    farm = link.receiver.farms[0]
    assert farm.receive(TcFrame(link.config.spacecraft_id, 0, FrameType.AD, 100, b"")) is FarmOutcome.LOCKOUT_AREA
    link.sender.send_expedited(commands(1)[0], "bd")
    link.run(lambda: bool(link.delivered), limit_s=1)
    assert link.delivered == commands(1)
    assert farm.counters["accepted_bd"] == 1


def test_terminate_stops_recovery_and_reports_the_alert() -> None:
    link = Loopback(seed=6)
    link.sender.start()
    link.run(lambda: link.sender.fop.state is FopState.ACTIVE, limit_s=5)
    link.sender.fop.terminate("op")
    link.step()
    assert link.sender.fop.last_alert is AlertReason.TERM
    assert link.sender.fop.state is FopState.INITIAL
    assert any(e.kind is SenderEventKind.ALERT and e.detail == "term" for e in link.events)

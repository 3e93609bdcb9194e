"""UplinkSender against UplinkReceiver through fades, restarts and attackers (review regressions).

A fake clock and a channel that is either up or down in each direction: the cases that matter are
about what COP-1 and SDLS do across an outage, not about random loss (test_cop1.py does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from flight.link.clcw import Clcw
from flight.link.cltu import CltuCodec
from flight.link.config import FopSettings, LinkConfig, TcChannel, TcSettings
from flight.link.errors import TcFrameError
from flight.link.farm import FarmOutcome
from flight.link.fop import FopState
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, SetVr, TcFrame
from flight.link.uplink_receiver import Delivered, UplinkReceiver
from flight.link.uplink_sender import UplinkSender

STEP = 0.05


@dataclass
class Link:
    config: LinkConfig = field(default_factory=LinkConfig)
    now: float = 0.0
    captured: list[bytes] = field(default_factory=list)  # everything the ground transmitted
    delivered: list[Delivered] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.keys = KeyRing.generate(["tc-0"])
        self.sender = UplinkSender(self.config, lambda: self.now, self._sdls())
        self.receiver = UplinkReceiver(self.config, self._sdls())

    def _sdls(self) -> Sdls:
        return Sdls(list(self.config.sdls.associations), self.keys)

    def restart_flight(self) -> None:
        """The payload restarts and has lost its link state (what the flight state file prevents)."""
        self.receiver = UplinkReceiver(self.config, self._sdls())

    def run(self, steps: int, up: bool = True, down: bool = True) -> None:
        for _ in range(steps):
            self.now += STEP
            self.sender.poll()
            for raw in self.sender.take_frames():
                self.captured.append(raw)
                if up:
                    self.receiver.receive(raw)
            self.delivered += self.receiver.take_packets()
            if down:
                self.sender.on_clcw(Clcw.unpack(self.receiver.clcw_bytes()))

    def started(self) -> Link:
        self.sender.start()
        self.run(5)
        return self


def tc(n: int, data: bytes = b"") -> bytes:
    return build_tc(16, 17, 1, data, n)


def test_a_command_resent_after_an_outage_cannot_be_replayed() -> None:
    """The copy sent before the alert and the copy that got through are the same frame (same IV): once it
    has been accepted, replaying the recording, even after a clear Set V(R), is refused."""
    link = Link().started()
    link.sender.send(tc(7), "noop")
    link.run(300, up=False)  # the uplink fades; COP-1 alerts; an eavesdropper records every frame
    link.run(100)
    assert [d.packet for d in link.delivered] == [tc(7)]
    link.receiver.receive(CltuCodec().encode(TcFrame.bc(link.config.spacecraft_id, 0, SetVr(0)).pack()))
    for recorded in link.captured:
        link.receiver.receive(recorded)
    assert link.receiver.take_packets() == []
    assert link.receiver.counters["rejected_sdls_replay"] > 0


def test_a_long_uplink_outage_does_not_burn_ivs_and_wedge_the_link() -> None:
    link = Link().started()
    link.sender.send(tc(100))
    link.run(20)
    for i in range(5):
        link.sender.send(tc(i), i)
    link.run(4000, up=False)  # 200 s: alert after alert, resend after resend
    link.run(400)
    assert [d.packet for d in link.delivered] == [tc(100), *(tc(i) for i in range(5))]
    assert link.sender.pending == 0
    assert link.receiver.counters["rejected_sdls_replay"] == 0


def test_expedited_frames_lost_in_an_outage_do_not_block_what_follows() -> None:
    link = Link().started()
    link.sender.send(tc(0))
    link.run(20)
    for i in range(65):
        link.sender.send_expedited(tc(100 + i), i)
    link.run(20, up=False, down=False)
    link.sender.send(tc(1))
    link.run(400)
    assert [d.packet for d in link.delivered] == [tc(0), tc(1)]
    assert link.sender.pending == 0


def test_a_packet_too_big_for_a_frame_is_refused_at_once_and_blocks_nothing() -> None:
    link = Link().started()
    biggest = link.sender.max_packet_length
    with pytest.raises(TcFrameError) as error:
        link.sender.send(tc(1, bytes(biggest)))  # 13 octets of PUS overhead too many
    assert error.value.field == "frame_length"
    fits = tc(2, bytes(biggest - 13))
    assert len(fits) == biggest
    link.sender.send(fits)
    link.run(50)
    assert [d.packet for d in link.delivered] == [fits]
    assert link.sender.pending == 0


def test_a_flight_restart_that_lost_farm_state_does_not_deadlock_the_ground() -> None:
    link = Link().started()
    for i in range(50):
        link.sender.send(tc(i), i)
    link.run(200)
    link.restart_flight()  # V(R) back to 0: every CLCW now looks older than what the ground knows
    link.run(20)
    for i in range(3):
        link.sender.send(tc(100 + i), 100 + i)
    link.run(600)
    assert [d.packet for d in link.delivered][-3:] == [tc(100), tc(101), tc(102)]
    assert link.sender.pending == 0
    assert link.sender.fop.counters["sync_floor_dropped"] >= 1


def test_recovery_reads_only_its_own_channels_clcw() -> None:
    link = Link(LinkConfig(tc=TcSettings(channels=(TcChannel(0), TcChannel(1))))).started()
    other = link.receiver.farms[1]
    assert other.receive(TcFrame(link.config.spacecraft_id, 1, FrameType.AD, 100, b"")) is FarmOutcome.LOCKOUT_AREA
    link.sender.send(tc(1))
    link.run(1, up=False, down=False)
    link.sender.on_clcw(other.clcw())  # the last report heard is another channel's, in Lockout
    link.run(200, up=False, down=False)  # T1 runs out: an Alert, then recovery from the last CLCW
    assert link.sender.counters["recoveries"] >= 1
    assert link.sender.fop.state is FopState.INITIALISING_WITHOUT_BC  # a CLCW check: VC 0 was clean
    assert link.sender.fop.counters["bc_sent"] == 0  # no Unlock for somebody else's Lockout


def test_timeout_type_1_suspends_and_recovers_once_the_spacecraft_is_heard() -> None:
    link = Link(LinkConfig(fop=FopSettings(timeout_type=1))).started()
    link.sender.send(tc(1))
    link.run(400, up=False)
    assert link.sender.fop.counters["suspended"] >= 1
    link.run(400)
    assert [d.packet for d in link.delivered] == [tc(1)]
    assert link.sender.fop.state is FopState.ACTIVE
    assert link.sender.pending == 0

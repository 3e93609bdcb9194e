"""The ground end of the uplink, unit level: a fake clock, hand-made CLCWs, frames decoded on the way out."""

from __future__ import annotations

import pytest

from flight.link.clcw import Clcw
from flight.link.cltu import CltuCodec
from flight.link.config import FopSettings, LinkConfig, SdlsSettings, TcChannel, TcSettings
from flight.link.farm import FarmOutcome
from flight.link.fop import AlertReason, FopState, InitiateMode
from flight.link.keys import KeyRing
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, SequenceFlags, SetVr, TcFrame, Unlock
from flight.link.uplink_receiver import UplinkReceiver
from flight.link.uplink_sender import SenderEvent, SenderEventKind, UplinkSender

VC = 0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def plain_config(window: int = 3, t1: float = 1.0, limit: int = 2, blocking: bool = False, **tc) -> LinkConfig:
    """No CLTU, no SDLS, and no settling time after start: FOP-1's mechanics, frame by frame (one
    packet a frame unless ``blocking``)."""
    return LinkConfig(tc=TcSettings(cltu=False, **tc), sdls=SdlsSettings(()),
                      fop=FopSettings(window=window, t1=t1, transmission_limit=limit, start_settle=0,
                                      blocking=blocking))


def make(window: int = 3, t1: float = 1.0, limit: int = 2, blocking: bool = False) -> tuple[UplinkSender, Clock]:
    clock = Clock()
    return UplinkSender(plain_config(window, t1, limit, blocking), clock, None), clock


def decode(frames: list[bytes]) -> list[tuple[FrameType, int, bytes]]:
    out = []
    for raw in frames:
        f = TcFrame.unpack(raw)
        assert (f.spacecraft_id, f.virtual_channel_id) == (42, VC)
        out.append((f.frame_type, f.frame_sequence_number, f.data))
    return out


def kinds(events: list[SenderEvent], kind: SenderEventKind) -> list:
    return [e.tag for e in events if e.kind is kind]


def started(v_r: int = 17, **kw) -> tuple[UplinkSender, Clock]:
    sender, clock = make(**kw)
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=v_r))
    sender.take_events()
    return sender, clock


def test_start_initiates_with_clcw_check_and_adopts_v_s() -> None:
    sender, _ = make()
    sender.start()
    assert sender.fop.state is FopState.INITIALISING_WITHOUT_BC
    assert sender.take_frames() == []  # a CLCW check sends nothing
    assert sender.take_events() == []
    sender.on_clcw(Clcw(VC + 1, report_value=99))  # another VC's report is not ours
    assert sender.fop.state is FopState.INITIALISING_WITHOUT_BC
    sender.on_clcw(Clcw(VC, report_value=17))
    assert sender.fop.state is FopState.ACTIVE
    assert sender.fop.v_s == 17
    assert sender.take_events() == [SenderEvent(SenderEventKind.SYNCHRONISED, detail="V(S)=17")]
    assert sender.last_clcw == Clcw(VC, report_value=17)


def test_packets_before_start_wait_in_the_queue() -> None:
    sender, _ = make()
    sender.send(b"early", "e")
    assert sender.take_frames() == [] and sender.pending == 1
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=5))
    assert decode(sender.take_frames()) == [(FrameType.AD, 5, b"early")]


def test_queue_feeds_fop_as_the_window_frees() -> None:
    sender, _ = started(17, window=3)
    for i in range(7):
        sender.send(b"pkt%d" % i, f"t{i}")
    assert decode(sender.take_frames()) == [(FrameType.AD, 17 + i, b"pkt%d" % i) for i in range(3)]
    assert sender.take_frames() == []  # K = 3 outstanding
    assert kinds(sender.take_events(), SenderEventKind.ACCEPTED) == ["t0", "t1", "t2"]
    sender.on_clcw(Clcw(VC, report_value=19))  # two acknowledged
    assert decode(sender.take_frames()) == [(FrameType.AD, 20, b"pkt3"), (FrameType.AD, 21, b"pkt4")]
    events = sender.take_events()
    assert kinds(events, SenderEventKind.CONFIRMED) == ["t0", "t1"]
    assert kinds(events, SenderEventKind.ACCEPTED) == ["t3", "t4"]
    sender.on_clcw(Clcw(VC, report_value=22))
    assert [n for _, n, _ in decode(sender.take_frames())] == [22, 23]
    sender.on_clcw(Clcw(VC, report_value=24))
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == ["t2", "t3", "t4", "t5", "t6"]
    assert sender.pending == 0
    assert sender.counters["confirmed"] == 7 and sender.counters["queued"] == 7


def test_v_s_wraps_modulo_256() -> None:
    sender, _ = started(254, window=5)
    for i in range(4):
        sender.send(bytes([i]), i)
    assert [n for _, n, _ in decode(sender.take_frames())] == [254, 255, 0, 1]
    sender.on_clcw(Clcw(VC, report_value=2))
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == [0, 1, 2, 3]


def test_retransmit_flag_goes_back_n_with_the_same_frames() -> None:
    sender, _ = started(0, window=3, limit=5)
    for i in range(3):
        sender.send(b"p%d" % i, i)
    first = sender.take_frames()
    sender.on_clcw(Clcw(VC, report_value=1, retransmit=True))  # frame 1 was lost
    again = sender.take_frames()
    assert again == first[1:]  # bit-identical
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == [0]


def test_lockout_alert_then_unlock_recovery() -> None:
    sender, _ = started(17, window=5)
    for i in range(5):
        sender.send(b"pkt%d" % i, f"t{i}")
    assert [n for _, n, _ in decode(sender.take_frames())] == [17, 18, 19, 20, 21]
    sender.on_clcw(Clcw(VC, report_value=19, lockout=True))  # FARM took 17, 18 and then locked out
    events = sender.take_events()
    assert SenderEvent(SenderEventKind.ALERT, detail="lockout") in events
    assert sender.counters["alert_lockout"] == 1 and sender.counters["recoveries"] == 1
    assert sender.fop.state is FopState.INITIALISING_WITH_BC
    (bc,) = sender.take_frames()
    frame = TcFrame.unpack(bc)
    assert frame.frame_type is FrameType.BC and frame.control == Unlock()
    assert frame.bypass and frame.control_command
    sender.on_clcw(Clcw(VC, report_value=19, lockout=True))  # still locked: ignored while the BC is under way
    assert sender.take_frames() == []
    sender.on_clcw(Clcw(VC, report_value=19, farm_b_counter=1))
    assert sender.fop.state is FopState.ACTIVE
    events = sender.take_events()
    assert kinds(events, SenderEventKind.CONFIRMED) == ["t0", "t1"]
    assert SenderEvent(SenderEventKind.SYNCHRONISED, detail="V(S)=19") in events
    resent = decode(sender.take_frames())
    assert resent == [(FrameType.AD, 19, b"pkt2"), (FrameType.AD, 20, b"pkt3"), (FrameType.AD, 21, b"pkt4")]
    assert sender.counters["confirmed_by_resync"] == 2 and sender.counters["resent_after_alert"] == 3
    sender.on_clcw(Clcw(VC, report_value=22, farm_b_counter=1))
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == ["t2", "t3", "t4"]
    assert sender.pending == 0


def test_t1_alert_confirms_limbo_below_v_r_and_resends_the_rest_with_the_same_n_s() -> None:
    sender, clock = started(17, window=3, t1=1.0, limit=2)
    for i in range(5):
        sender.send(b"pkt%d" % i, f"t{i}")
    sender.take_frames()
    sender.on_clcw(Clcw(VC, report_value=19))
    assert [n for _, n, _ in decode(sender.take_frames())] == [20, 21]
    sender.take_events()
    clock.now = 1.5
    sender.poll()  # first T1: go back N
    assert [n for _, n, _ in decode(sender.take_frames())] == [19, 20, 21]
    clock.now = 3.0
    sender.poll()  # second T1: the transmission limit is reached: alert, then recovery by CLCW check
    assert SenderEvent(SenderEventKind.ALERT, detail=AlertReason.T1.value) in sender.take_events()
    assert sender.fop.state is FopState.INITIALISING_WITHOUT_BC
    assert sender.take_frames() == []
    assert sender.pending == 3
    sender.on_clcw(Clcw(VC, report_value=21))  # the spacecraft had 19 and 20
    events = sender.take_events()
    assert kinds(events, SenderEventKind.CONFIRMED) == ["t2", "t3"]
    assert decode(sender.take_frames()) == [(FrameType.AD, 21, b"pkt4")]
    sender.on_clcw(Clcw(VC, report_value=22))
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == ["t4"]
    assert sender.pending == 0


def test_t1_alert_with_nothing_delivered_resends_everything() -> None:
    sender, clock = started(100, window=2, t1=1.0, limit=1)
    sender.send(b"a", "a")
    sender.send(b"b", "b")
    assert [n for _, n, _ in decode(sender.take_frames())] == [100, 101]
    clock.now = 1.1
    sender.poll()
    assert sender.counters["alert_t1"] == 1
    sender.on_clcw(Clcw(VC, report_value=100))
    assert decode(sender.take_frames()) == [(FrameType.AD, 100, b"a"), (FrameType.AD, 101, b"b")]
    sender.on_clcw(Clcw(VC, report_value=102))
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == ["a", "b"]


def test_recovery_with_unlock_when_farm_reports_wait() -> None:
    sender, clock = started(0, window=2, t1=1.0, limit=1)
    sender.send(b"x", "x")
    sender.take_frames()
    sender.on_clcw(Clcw(VC, report_value=0, wait=True, retransmit=True))  # limit 1: alert at once
    assert sender.counters["alert_limit"] == 1
    (bc,) = sender.take_frames()
    assert TcFrame.unpack(bc).control == Unlock()


def test_terminate_stops_automatic_recovery() -> None:
    sender, clock = started(3, window=3)
    sender.send(b"a", "a")
    sender.take_frames()
    sender.fop.terminate()
    sender.poll()
    events = sender.take_events()
    assert SenderEvent(SenderEventKind.ALERT, detail="term") in events
    assert sender.fop.state is FopState.INITIAL
    assert sender.take_frames() == []
    sender.on_clcw(Clcw(VC, report_value=3, lockout=True))
    clock.now = 10
    sender.poll()
    assert sender.fop.state is FopState.INITIAL and sender.take_frames() == []
    assert sender.counters["recoveries"] == 0
    assert sender.pending == 1
    sender.send(b"b", "b")  # queued, not sent
    assert sender.take_frames() == [] and sender.pending == 2
    # the operator starts again: limbo is settled against the V(R) reported
    sender.on_clcw(Clcw(VC, report_value=3))
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=3))
    assert decode(sender.take_frames()) == [(FrameType.AD, 3, b"a"), (FrameType.AD, 4, b"b")]


def test_auto_recover_off() -> None:
    clock = Clock()
    sender = UplinkSender(plain_config(), clock, None, auto_recover=False)
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=0))
    sender.on_clcw(Clcw(VC, report_value=0, lockout=True))
    assert sender.fop.state is FopState.INITIAL
    assert sender.take_frames() == []


def test_send_expedited_produces_a_bd_frame() -> None:
    sender, _ = make()
    sender.send_expedited(b"urgent", "u")  # in any state, even before start
    assert decode(sender.take_frames()) == [(FrameType.BD, 0, b"urgent")]
    sender.send_expedited(b"again", "v")  # the lower layer took the first one
    assert decode(sender.take_frames()) == [(FrameType.BD, 0, b"again")]


def test_segmented_vc_frames_carry_a_segment_header() -> None:
    clock = Clock()
    config = plain_config(channels=(TcChannel(0, segmented=True),))
    sender = UplinkSender(config, clock, None)
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=0))
    sender.send(b"seg", "s")
    (raw,) = sender.take_frames()
    frame = TcFrame.unpack(raw, segmented=True)
    assert frame.segment is not None and frame.segment.sequence_flags is SequenceFlags.UNSEGMENTED
    assert frame.data == b"seg"


def test_set_vr_frames_decode() -> None:
    sender, _ = make()
    sender.fop.initiate_ad(InitiateMode.WITH_SET_VR, v_r=9)
    (raw,) = sender.take_frames()
    assert TcFrame.unpack(raw).control == SetVr(9)


def test_default_config_sends_protected_cltus_that_the_receiver_accepts(tmp_path) -> None:
    """CLTU and SDLS on (the defaults): the frames go through the flight end's stack."""
    keys = KeyRing.generate(["tc-0"])
    config = LinkConfig()
    clock = Clock()
    sender = UplinkSender(config, clock, Sdls(list(config.sdls.associations), keys))
    receiver = UplinkReceiver(config, Sdls(list(config.sdls.associations), keys))
    sender.start()
    sender.on_clcw(Clcw.unpack(receiver.clcw_bytes()))
    clock.now += config.fop.start_settle  # what a previous session might still have on the way lands
    packets = [b"\x18\x10\xc0\x00\x00\x00" + bytes([i]) for i in range(4)]
    for i, p in enumerate(packets):
        sender.send(p, i)
    for _ in range(3):
        for cltu in sender.take_frames():
            assert cltu.startswith(b"\xeb\x90")
            assert CltuCodec().decode(cltu)  # a valid CLTU
            assert receiver.receive(cltu) is FarmOutcome.ACCEPTED_AD
        sender.on_clcw(Clcw.unpack(receiver.clcw_bytes()))
    assert [d.packet for d in receiver.take_packets()] == packets
    assert kinds(sender.take_events(), SenderEventKind.CONFIRMED) == [0, 1, 2, 3]


@pytest.mark.parametrize("report", [Clcw(VC, report_value=0, cop_in_effect=0), Clcw(VC + 3, report_value=200)])
def test_foreign_clcws_are_ignored(report: Clcw) -> None:
    sender, _ = started(0)
    sender.send(b"a", "a")
    sender.take_frames()
    sender.on_clcw(report)
    assert sender.fop.state is FopState.ACTIVE and sender.pending == 1


# --- bugs --------------------------------------------------------------------------------------------


def test_pending_counts_each_packet_once() -> None:
    sender, _ = started(17, window=3)
    for i in range(7):
        sender.send(b"pkt%d" % i, i)
    assert sender.fop.wait_queue is not None  # three frames out, the fourth waits in FOP-1
    assert sender.pending == 7


def test_second_expedited_packet_is_not_silently_lost() -> None:
    sender, _ = make()
    sender.send_expedited(b"first", "a")
    sender.send_expedited(b"second", "b")
    sent = [data for _, _, data in decode(sender.take_frames())]
    assert sent == [b"first", b"second"]  # the second waited for the first to leave, then went too
    assert kinds(sender.take_events(), SenderEventKind.ACCEPTED) == ["a", "b"]


def test_after_start_the_ground_settles_before_sending() -> None:
    """A frame of the previous session may still be on its way: FARM-1 must see it before any new one,
    or it could take the old frame for the new one and the CLCW would confirm the wrong command."""
    clock = Clock()
    config = LinkConfig(tc=TcSettings(cltu=False), sdls=SdlsSettings(()), fop=FopSettings(start_settle=1.0))
    sender = UplinkSender(config, clock, None)
    sender.send(b"\x18\x10\xc0\x00\x00\x00\x01", "new")
    sender.start()
    sender.on_clcw(Clcw(VC, report_value=5))
    assert sender.take_frames() == []
    # The old session's frame N(S)=5 lands meanwhile: FARM-1's V(R) moves past what we synchronised to.
    sender.on_clcw(Clcw(VC, report_value=6))
    clock.now += 1.0
    sender.poll()
    sender.on_clcw(Clcw(VC, report_value=6))
    clock.now += 1.0
    sender.poll()
    frames = decode(sender.take_frames())  # (and, no CLCW having come, its retransmission by T1)
    assert {f[1] for f in frames} == {6}  # the new command takes the next number, not the old frame's


def test_a_backlog_is_blocked_into_as_few_frames_as_fit_and_each_packet_is_reported() -> None:
    sender, _ = started(v_r=0, window=1, blocking=True)
    packets = [bytes([i]) * 100 for i in range(25)]  # 100 octets each: ten fit a 1017-octet data field
    for i, packet in enumerate(packets):
        sender.send(packet, i)
    assert sender.pending == 25
    frames = decode(sender.take_frames())
    assert [(n, data) for _, n, data in frames] == [(0, packets[0])]  # the first went alone, at once
    v_r = 0
    while sender.pending:
        v_r += 1
        sender.on_clcw(Clcw(VC, report_value=v_r))
        frames += decode(sender.take_frames())
    assert b"".join(data for _, _, data in frames) == b"".join(packets)
    # The second was already in FOP-1's Wait_Queue, alone; the rest waited behind it, ten a frame.
    assert [len(data) for _, _, data in frames] == [100, 100, 1000, 1000, 300]
    events = sender.take_events()
    assert kinds(events, SenderEventKind.ACCEPTED) == kinds(events, SenderEventKind.CONFIRMED) == list(range(25))
    assert sender.counters["blocked"] == 20 and sender.counters["confirmed"] == 25


def test_a_frame_awaiting_resend_is_never_extended_and_expedited_packets_go_alone() -> None:
    sender, clock = started(v_r=0, window=1, t1=1.0, limit=1, blocking=True)
    sender.send(b"a" * 10, "a")
    first = sender.take_frames()
    sender.send(b"b" * 10, "b")  # waits (window 1), alone in the queue
    clock.now = 2.0
    sender.poll()  # T1 expires at the limit: Alert; "a" goes to limbo with its frame
    sender.on_clcw(Clcw(VC, report_value=0))  # recovery: nothing was delivered
    sender.send(b"c" * 10, "c")
    again = sender.take_frames()
    assert again[0] == first[0]  # bit-identical, "b" and "c" not added to it
    after = []
    for v_r in (1, 2, 3):
        sender.on_clcw(Clcw(VC, report_value=v_r))
        after += [data for _, _, data in decode(sender.take_frames())]
    assert b"".join(after) == b"b" * 10 + b"c" * 10
    sender.send_expedited(b"x" * 10, "x")
    sender.send_expedited(b"y" * 10, "y")
    bd = [data for kind, _, data in decode(sender.take_frames()) if kind is FrameType.BD]
    assert bd and all(len(data) == 10 for data in bd)

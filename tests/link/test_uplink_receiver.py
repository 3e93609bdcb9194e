"""The flight end of the uplink: CLTU → TC frame → SDLS → FARM-1 → packets, and every rejection counted."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.link.clcw import Clcw
from flight.link.cltu import START_SEQUENCE, TAIL_SEQUENCE, CltuCodec, CltuConfig
from flight.link.config import LinkConfig, SdlsSettings, TcChannel, TcSettings
from flight.link.crc import crc16
from flight.link.errors import PacketError
from flight.link.farm import FarmOutcome
from flight.link.keys import KeyRing
from flight.link.pus import build_tc
from flight.link.sdls import Sdls, SecurityAssociation
from flight.link.tcframe import FrameType, SegmentHeader, SequenceFlags, SetVr, TcFrame, Unlock
from flight.link.uplink_receiver import Delivered, UplinkReceiver, split_packets

SCID = 42
KEYS = KeyRing.generate(["tc-0", "tc-1"])


def packet(seq: int, size: int = 0, apid: int = 16) -> bytes:
    """A PUS TC packet (17,1) whose app data pads it by ``size`` octets."""
    return build_tc(apid, 17, 1, bytes([seq & 0xFF]) * size, seq_count=seq)


class Uplink:
    """The ground side of a test: frames built, protected and CLTU-encoded as the configuration says."""

    def __init__(self, *, cltu: bool, sdls: bool, channels: tuple[TcChannel, ...] = (TcChannel(0),),
                 associations: tuple[SecurityAssociation, ...] | None = None) -> None:
        sas = associations if associations is not None else (SecurityAssociation(1, "tc-0", (0,)),)
        self.config = LinkConfig(tc=TcSettings(cltu=cltu, channels=channels),
                                 sdls=SdlsSettings(sas if sdls else ()))
        self.tx_sdls = Sdls(list(sas), KEYS) if sdls else None
        self.rx = UplinkReceiver(self.config, Sdls(list(sas), KEYS) if sdls else None)
        self.codec = CltuCodec(CltuConfig(self.config.tc.randomize)) if cltu else None

    def wire(self, raw_frame: bytes) -> bytes:
        return self.codec.encode(raw_frame) if self.codec else raw_frame

    def frame(self, frame: TcFrame) -> bytes:
        raw = self.tx_sdls.protect(frame) if self.tx_sdls else frame.pack()
        return self.wire(raw)

    def ad(self, n_s: int, data: bytes, vcid: int = 0, segment: SegmentHeader | None = None,
           scid: int = SCID) -> bytes:
        return self.frame(TcFrame(scid, vcid, FrameType.AD, n_s, data, segment))

    def counter(self, name: str) -> int:
        return self.rx.counters[name]


MODES = [pytest.param(c, s, id=f"cltu={c}-sdls={s}") for c, s in itertools.product((False, True), repeat=2)]


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
def test_valid_frames_deliver_packets_in_order(cltu: bool, sdls: bool) -> None:
    up = Uplink(cltu=cltu, sdls=sdls)
    packets = [packet(i, size=i * 13) for i in range(8)]
    for n_s, p in enumerate(packets):
        assert up.rx.receive(up.ad(n_s, p)) is FarmOutcome.ACCEPTED_AD
    delivered = up.rx.take_packets()
    assert [d.packet for d in delivered] == packets
    assert delivered[3] == Delivered(0, 0, FrameType.AD, 3, packets[3])
    assert up.rx.take_packets() == []
    assert up.counter("received") == 8 and up.counter("rejected") == 0 and up.counter("packets") == 8
    assert up.rx.farms[0].v_r == 8
    if sdls:
        assert up.rx.sdls.counters["verified"] == 8  # type: ignore[union-attr]


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
def test_several_packets_blocked_in_one_frame(cltu: bool, sdls: bool) -> None:
    up = Uplink(cltu=cltu, sdls=sdls)
    block = [packet(1), packet(2, 100), packet(3, 5)]
    assert up.rx.receive(up.ad(0, b"".join(block))) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(up.ad(1, packet(4))) is FarmOutcome.ACCEPTED_AD
    delivered = up.rx.take_packets()
    assert [d.packet for d in delivered] == [*block, packet(4)]
    assert [d.frame_sequence_number for d in delivered] == [0, 0, 0, 1]


def test_packets_wait_in_farm_until_taken() -> None:
    up = Uplink(cltu=False, sdls=False, channels=(TcChannel(0, farm_buffer=2),))
    assert up.rx.receive(up.ad(0, packet(0))) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(up.ad(1, packet(1))) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(up.ad(2, packet(2))) is FarmOutcome.BUFFER_FULL
    assert Clcw.unpack(up.rx.clcw_bytes()).wait
    assert [d.packet for d in up.rx.take_packets()] == [packet(0), packet(1)]
    assert not Clcw.unpack(up.rx.clcw_bytes()).wait
    assert up.rx.receive(up.ad(2, packet(2))) is FarmOutcome.ACCEPTED_AD


# --- segmentation ------------------------------------------------------------------------------------

SEGMENTED = (TcChannel(0), TcChannel(1, segmented=True))


def seg(flags: SequenceFlags, map_id: int) -> SegmentHeader:
    return SegmentHeader(flags, map_id)


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
def test_segments_reassembled_per_map_id(cltu: bool, sdls: bool) -> None:
    up = Uplink(cltu=cltu, sdls=sdls, channels=SEGMENTED,
                associations=(SecurityAssociation(1, "tc-0", (0, 1)),))
    big5, big6 = packet(5, 700), packet(6, 400)
    a5, b5, c5 = big5[:300], big5[300:600], big5[600:]
    a6, b6 = big6[:200], big6[200:]
    frames = [
        (seg(SequenceFlags.FIRST, 5), a5),
        (seg(SequenceFlags.FIRST, 6), a6),
        (seg(SequenceFlags.CONTINUATION, 5), b5),
        (seg(SequenceFlags.UNSEGMENTED, 7), packet(7) + packet(8)),
        (seg(SequenceFlags.LAST, 6), b6),
        (seg(SequenceFlags.LAST, 5), c5),
    ]
    for n_s, (segment, data) in enumerate(frames):
        assert up.rx.receive(up.ad(n_s, data, vcid=1, segment=segment)) is FarmOutcome.ACCEPTED_AD
    delivered = up.rx.take_packets()
    assert [(d.map_id, d.packet) for d in delivered] == [(7, packet(7)), (7, packet(8)), (6, big6), (5, big5)]
    assert all(d.vcid == 1 for d in delivered)
    assert [d.frame_sequence_number for d in delivered] == [3, 3, 4, 5]


def test_segments_taken_frame_by_frame() -> None:
    up = Uplink(cltu=False, sdls=False, channels=SEGMENTED)
    whole = packet(1, 50)
    up.rx.receive(up.ad(0, whole[:20], vcid=1, segment=seg(SequenceFlags.FIRST, 2)))
    assert up.rx.take_packets() == []
    up.rx.receive(up.ad(1, whole[20:], vcid=1, segment=seg(SequenceFlags.LAST, 2)))
    assert [d.packet for d in up.rx.take_packets()] == [whole]


@pytest.mark.parametrize("flags", [SequenceFlags.CONTINUATION, SequenceFlags.LAST])
def test_segment_without_first_is_counted_and_dropped(flags: SequenceFlags) -> None:
    up = Uplink(cltu=False, sdls=False, channels=SEGMENTED)
    assert up.rx.receive(up.ad(0, b"orphan", vcid=1, segment=seg(flags, 3))) is FarmOutcome.ACCEPTED_AD
    assert up.rx.take_packets() == []
    assert up.counter("rejected_tc_frame_segment") == 1
    # the MAP works normally afterwards
    whole = packet(9, 30)
    up.rx.receive(up.ad(1, whole[:10], vcid=1, segment=seg(SequenceFlags.FIRST, 3)))
    up.rx.receive(up.ad(2, whole[10:], vcid=1, segment=seg(SequenceFlags.LAST, 3)))
    assert [d.packet for d in up.rx.take_packets()] == [whole]


def test_new_first_segment_abandons_the_partial_one() -> None:
    up = Uplink(cltu=False, sdls=False, channels=SEGMENTED)
    whole = packet(4, 40)
    up.rx.receive(up.ad(0, b"stale start", vcid=1, segment=seg(SequenceFlags.FIRST, 1)))
    up.rx.receive(up.ad(1, whole[:15], vcid=1, segment=seg(SequenceFlags.FIRST, 1)))
    up.rx.receive(up.ad(2, whole[15:], vcid=1, segment=seg(SequenceFlags.LAST, 1)))
    assert [d.packet for d in up.rx.take_packets()] == [whole]
    assert up.counter("segments_abandoned") == 1


def test_garbage_in_an_accepted_frame_is_counted_at_take() -> None:
    up = Uplink(cltu=False, sdls=False)
    assert up.rx.receive(up.ad(0, b"\xff\xff\xff")) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(up.ad(1, packet(1))) is FarmOutcome.ACCEPTED_AD
    assert [d.packet for d in up.rx.take_packets()] == [packet(1)]
    assert up.counter("rejected_packet_header") == 1


# --- rejections --------------------------------------------------------------------------------------


def refix_fecf(raw: bytes) -> bytes:
    body = raw[:-2]
    return body + crc16(body).to_bytes(2, "big")


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
def test_wrong_spacecraft_unknown_vc_bad_fecf(cltu: bool, sdls: bool) -> None:
    up = Uplink(cltu=cltu, sdls=sdls)
    assert up.rx.receive(up.ad(0, packet(0), scid=SCID + 1)) is None
    assert up.counter("rejected_tc_frame_spacecraft_id") == 1
    raw = TcFrame(SCID, 5, FrameType.AD, 0, packet(0)).pack()
    assert up.rx.receive(up.wire(raw)) is None
    assert up.counter("rejected_tc_frame_virtual_channel_id") == 1
    good = TcFrame(SCID, 0, FrameType.AD, 0, packet(0))
    raw = up.tx_sdls.protect(good) if up.tx_sdls else good.pack()
    bad = raw[:-1] + bytes([raw[-1] ^ 0x01])
    assert up.rx.receive(up.wire(bad)) is None
    assert up.counter("rejected_tc_frame_fecf") == 1
    assert up.counter("rejected") == 3 and up.counter("received") == 3
    assert up.rx.farms[0].v_r == 0
    assert up.rx.receive(up.wire(raw)) is FarmOutcome.ACCEPTED_AD  # the good frame still goes through


def test_header_errors() -> None:
    up = Uplink(cltu=False, sdls=False)
    raw = TcFrame(SCID, 0, FrameType.AD, 0, packet(0)).pack()
    assert up.rx.receive(raw[:4]) is None
    assert up.counter("rejected_tc_frame_frame_length") == 1
    assert up.rx.receive(raw + b"\x00") is None
    assert up.counter("rejected_tc_frame_frame_length") == 2
    assert up.rx.receive(refix_fecf(bytes([raw[0] | 0x40]) + raw[1:])) is None
    assert up.counter("rejected_tc_frame_version") == 1


def test_cltu_errors_are_counted() -> None:
    up = Uplink(cltu=True, sdls=False)
    assert up.rx.receive(b"\x00\x01\x02") is None
    assert up.counter("rejected_cltu_start_sequence") == 1
    cltu = up.ad(0, packet(0))
    assert up.rx.receive(cltu[:-8]) is None
    assert up.counter("rejected_cltu_tail_sequence") == 1
    assert up.rx.receive(START_SEQUENCE + TAIL_SEQUENCE) is None
    assert up.counter("rejected_cltu_codeblocks") == 1
    # one flipped bit per codeblock is corrected
    flipped = bytearray(cltu)
    flipped[2 + 8 * 1] ^= 0x10
    assert up.rx.receive(bytes(flipped)) is FarmOutcome.ACCEPTED_AD
    assert up.rx.cltu.counters["corrected_bits"] == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("cltu", [False, True])
def test_sdls_rejections(cltu: bool) -> None:
    up = Uplink(cltu=cltu, sdls=True)
    # a clear frame on a protected VC: its first octets are read as an SPI that does not exist
    clear = TcFrame(SCID, 0, FrameType.AD, 0, packet(0)).pack()
    assert up.rx.receive(up.wire(clear)) is None
    assert up.counter("rejected_sdls_unknown_spi") == 1
    short = TcFrame(SCID, 0, FrameType.AD, 0, b"\x00").pack()
    assert up.rx.receive(up.wire(short)) is None
    assert up.counter("rejected_sdls_truncated") == 1
    # a forged MAC (FECF recomputed so that only SDLS can notice)
    protected = up.tx_sdls.protect(TcFrame(SCID, 0, FrameType.AD, 0, packet(0)))  # type: ignore[union-attr]
    forged = bytearray(protected)
    forged[-3] ^= 0x80
    assert up.rx.receive(up.wire(refix_fecf(bytes(forged)))) is None
    assert up.counter("rejected_sdls_bad_mac") == 1
    # an attacker with another key
    attacker = Sdls([SecurityAssociation(1, "tc-0", (0,))], KeyRing.generate(["tc-0"]))
    assert up.rx.receive(up.wire(attacker.protect(TcFrame(SCID, 0, FrameType.AD, 0, packet(0))))) is None
    assert up.counter("rejected_sdls_bad_mac") == 2
    # the authentic frame is accepted once; its replay is refused
    assert up.rx.receive(up.wire(protected)) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(up.wire(protected)) is None
    assert up.counter("rejected_sdls_replay") == 1
    assert [d.packet for d in up.rx.take_packets()] == [packet(0)]
    assert up.counter("rejected") == 5


def test_sdls_wrong_sa_for_the_vc() -> None:
    sas = (SecurityAssociation(1, "tc-0", (0,)), SecurityAssociation(2, "tc-1", (1,)))
    up = Uplink(cltu=False, sdls=True, channels=(TcChannel(0), TcChannel(1)), associations=sas)
    frame = up.tx_sdls.protect(TcFrame(SCID, 1, FrameType.AD, 0, packet(0)))  # type: ignore[union-attr]
    # re-label the frame for VC 0: SPI 2 is not valid there
    body = bytearray(frame[:-2])
    body[2] = (body[2] & 0x03) | (0 << 2)
    assert up.rx.receive(refix_fecf(bytes(body) + b"\x00\x00")) is None
    assert up.counter("rejected_sdls_wrong_sa") == 1


def test_anti_replay_is_committed_only_when_farm_accepts() -> None:
    """FOP-1's bit-identical retransmission of a frame FARM-1 discarded is not a replay."""
    up = Uplink(cltu=False, sdls=True)
    f0 = up.ad(0, packet(0))
    f1 = up.ad(1, packet(1))
    assert up.rx.receive(f1) is FarmOutcome.POSITIVE_WINDOW  # f0 was lost
    assert up.rx.receive(f0) is FarmOutcome.ACCEPTED_AD
    assert up.rx.receive(f1) is FarmOutcome.ACCEPTED_AD  # the retransmission
    assert up.rx.receive(f1) is None  # but now it is a replay
    assert [d.packet for d in up.rx.take_packets()] == [packet(0), packet(1)]


@pytest.mark.parametrize("cltu", [False, True])
def test_bc_frames_bypass_sdls(cltu: bool) -> None:
    up = Uplink(cltu=cltu, sdls=True, channels=(TcChannel(0, accept_set_vr=True),))
    assert up.rx.receive(up.wire(TcFrame.bc(SCID, 0, SetVr(7)).pack())) is FarmOutcome.SET_VR
    assert up.rx.farms[0].v_r == 7
    # the same through Sdls.protect, which leaves BC frames in clear
    assert up.rx.receive(up.frame(TcFrame.bc(SCID, 0, Unlock()))) is FarmOutcome.UNLOCK
    assert up.rx.sdls.counters["verified"] == 0  # type: ignore[union-attr]
    assert up.rx.receive(up.wire(TcFrame(SCID, 0, FrameType.BC, 0, b"\x42").pack())) is FarmOutcome.INVALID_BC
    assert up.counter("rejected") == 0
    clcw = Clcw.unpack(up.rx.clcw_bytes())
    assert clcw.report_value == 7 and clcw.farm_b_counter == 2


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
def test_bd_frames(cltu: bool, sdls: bool) -> None:
    up = Uplink(cltu=cltu, sdls=sdls)
    assert up.rx.receive(up.frame(TcFrame(SCID, 0, FrameType.BD, 0, packet(3)))) is FarmOutcome.ACCEPTED_BD
    (d,) = up.rx.take_packets()
    assert (d.frame_type, d.packet) == (FrameType.BD, packet(3))
    assert up.rx.farms[0].v_r == 0


def test_data_frames_on_a_vc_without_association_are_refused_when_sdls_is_on() -> None:
    """Fail closed: with SDLS on, a configured VC without a security association takes no data frames."""
    up = Uplink(cltu=False, sdls=True, channels=(TcChannel(0), TcChannel(1, accept_set_vr=True)))
    assert not up.tx_sdls.protects(1)  # type: ignore[union-attr]
    for frame_type in (FrameType.AD, FrameType.BD):
        assert up.rx.receive(TcFrame(SCID, 1, frame_type, 0, packet(0)).pack()) is None
    assert up.counter("rejected_sdls_unprotected") == 2
    assert up.rx.sdls.counters["rejected_unprotected"] == 2  # type: ignore[union-attr]  # its dictionary channel
    assert up.rx.receive(TcFrame.bc(SCID, 1, SetVr(4)).pack()) is FarmOutcome.SET_VR  # COP-1 control stays open
    assert up.rx.take_packets() == []


def test_segment_reassembly_is_bounded_by_the_largest_packet() -> None:
    up = Uplink(cltu=False, sdls=False, channels=SEGMENTED)
    up.rx.receive(up.ad(0, b"\x00" * 1000, vcid=1, segment=seg(SequenceFlags.FIRST, 0)))
    for n_s in range(1, 80):
        up.rx.receive(up.ad(n_s & 0xFF, b"\x00" * 1000, vcid=1, segment=seg(SequenceFlags.CONTINUATION, 0)))
        up.rx.take_packets()
    # 65 continuations of 1000 octets pass the largest packet: the partial packet is dropped and counted,
    # and the continuations after it have no first segment to follow
    assert up.counter("rejected_packet_segment") == 1
    assert up.counter("rejected_tc_frame_segment") == 79 - 65


# --- CLCW --------------------------------------------------------------------------------------------


def test_clcw_bytes_rotates_over_channels() -> None:
    up = Uplink(cltu=False, sdls=False, channels=(TcChannel(0), TcChannel(2), TcChannel(5)))
    up.rx.receive(up.ad(0, packet(0), vcid=2))
    up.rx.receive(up.ad(1, packet(1), vcid=2))
    up.rx.receive(up.ad(0, packet(0), vcid=5))
    seen = [Clcw.unpack(up.rx.clcw_bytes()) for _ in range(7)]
    assert [c.virtual_channel_id for c in seen] == [0, 2, 5, 0, 2, 5, 0]
    assert [c.report_value for c in seen[:3]] == [0, 2, 1]


def test_clcw_single_channel() -> None:
    up = Uplink(cltu=False, sdls=False)
    assert {Clcw.unpack(up.rx.clcw_bytes()).virtual_channel_id for _ in range(3)} == {0}


# --- garbage -----------------------------------------------------------------------------------------

_CODEC = CltuCodec()
FRAMEISH = st.builds(
    lambda scid_vc, seq, data: TcFrame(SCID, scid_vc, FrameType.AD, seq, data).pack(),
    st.sampled_from([0, 1, 5]), st.integers(0, 255), st.binary(max_size=60))
GARBAGE = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=120).map(lambda b: START_SEQUENCE + b + TAIL_SEQUENCE),
    st.binary(min_size=1, max_size=200).map(_CODEC.encode),
    FRAMEISH,
    FRAMEISH.map(_CODEC.encode),
    st.tuples(FRAMEISH, st.integers(0, 10_000)).map(
        lambda t: bytes(b ^ (1 if i == t[1] % len(t[0]) else 0) for i, b in enumerate(t[0]))),
)


@pytest.mark.parametrize(("cltu", "sdls"), MODES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raws=st.lists(GARBAGE, min_size=1, max_size=5))
def test_receive_never_raises(cltu: bool, sdls: bool, raws: list[bytes]) -> None:
    up = Uplink(cltu=cltu, sdls=sdls, channels=(TcChannel(0), TcChannel(1, segmented=True)),
                associations=(SecurityAssociation(1, "tc-0", (0, 1)),))
    for raw in raws:
        outcome = up.rx.receive(raw)
        assert outcome is None or isinstance(outcome, FarmOutcome)
    assert all(isinstance(d, Delivered) for d in up.rx.take_packets())
    assert up.counter("received") == len(raws)


def test_split_packets() -> None:
    a, b = packet(1), packet(2, 20)
    assert split_packets(a + b) == [a, b]
    assert split_packets(b"") == []
    with pytest.raises(PacketError, match="header"):
        split_packets(a + b"\x18\x10")
    with pytest.raises(PacketError, match="version"):
        split_packets(bytes([0x20]) + a[1:])
    with pytest.raises(PacketError, match="data_length"):
        split_packets(a[:-1])


@given(st.binary(max_size=200))
def test_split_packets_garbage_raises_only_packet_error(data: bytes) -> None:
    try:
        packets = split_packets(data)
    except PacketError:
        return
    assert b"".join(packets) == data


def test_set_vr_in_clear_is_refused_unless_the_channel_accepts_it() -> None:
    """BC frames carry no MAC: a forged Set V(R) would make the ground confirm commands never received."""
    up = Uplink(cltu=False, sdls=True)
    assert up.rx.receive(TcFrame.bc(SCID, 0, SetVr(9)).pack()) is FarmOutcome.SET_VR_REFUSED
    assert up.rx.farms[0].v_r == 0
    assert up.rx.farms[0].counters["discarded_set_vr_refused"] == 1
    assert Clcw.unpack(up.rx.clcw_bytes()).farm_b_counter == 0
    assert up.rx.receive(TcFrame.bc(SCID, 0, Unlock()).pack()) is FarmOutcome.UNLOCK  # Unlock still works

"""TM virtual-channel demultiplexer (with the mux as its source): complete in-order packets, gaps,
resynchronisation at the FHP, no corrupted packet ever emitted, CLCW extraction, garbage in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.clcw import Clcw
from flight.link.errors import TmFrameError
from flight.link.pus import idle_packet
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, IDLE_VCID, TmChannelFormat, TmFrame
from flight.link.vcdemux import VirtualChannelDemux
from flight.link.vcmux import VirtualChannelMux

from ._helpers import (
    GARBAGE,
    is_idle,
    make_packet,
    mux_scenarios,
    only_zenith_errors,
    packets_in_stream,
    with_fecf,
)
from .test_vcmux import SCID, run_mux, vc_streams


def demux_all(fmt, frames):
    demux = VirtualChannelDemux(fmt)
    got: dict[int, list[bytes]] = {}
    for raw in frames:
        result = demux.feed(raw)
        got.setdefault(result.frame.virtual_channel_id, []).extend(result.packets)
    return demux, got


@given(mux_scenarios())
@settings(max_examples=250, deadline=None)
def test_every_packet_comes_out_complete_and_in_order_per_vc(scenario):
    params, ops = scenario
    fmt, mux, sent, frames, clcws = run_mux(params, ops)
    demux, got = demux_all(fmt, frames)
    for vcid, packets in sent.items():
        assert got.get(vcid, []) == packets
    assert got.get(IDLE_VCID, []) == []
    for name in ("vc_gaps", "mc_gaps", "fhp_mismatch", "bad_packet_headers", "partial_packets_dropped"):
        assert demux.counters[name] == 0, name
    assert demux.counters["packets"] == sum(len(p) for p in sent.values())
    assert demux.counters["frames"] == len(frames)
    if fmt.has_ocf:
        assert demux.last_clcw == clcws[-1]


@given(mux_scenarios(), st.data())
@settings(max_examples=250, deadline=None)
def test_dropped_frames_lose_exactly_the_packets_they_touch(scenario, data):
    params, ops = scenario
    fmt, mux, sent, frames, _ = run_mux(params, ops)
    dropped = set(data.draw(st.sets(st.integers(0, len(frames) - 1), max_size=max(1, len(frames) // 3))))
    received = [raw for i, raw in enumerate(frames) if i not in dropped]
    demux, got = demux_all(fmt, received)

    # The oracle: on each VC, a packet is delivered exactly when every frame holding one of its octets
    # arrived; a dropped frame loses the packets it touches, extraction resumes at the next FHP.
    size = fmt.data_field_len
    index_on_vc: dict[int, list[int]] = {}  # VC -> indices (in ``frames``) of its frames, in order
    for i, frame in enumerate(TmFrame.unpack(raw, has_fecf=fmt.has_fecf) for raw in frames):
        index_on_vc.setdefault(frame.virtual_channel_id, []).append(i)
    expected_gaps = expected_missing = 0
    for vcid, vc_frames in vc_streams(frames, fmt).items():
        indices = index_on_vc[vcid]
        if vcid != IDLE_VCID:
            stream = b"".join(f.data for f in vc_frames)
            expected = [
                packet for start, end, packet in packets_in_stream(stream)
                if not is_idle(packet)
                and all(indices[j] not in dropped for j in range(start // size, (end - 1) // size + 1))
            ]
            emitted = got.get(vcid, [])
            assert emitted == expected
            # Never a corrupted packet: each one emitted is one that was sent, in the order sent.
            it = iter(sent[vcid])
            assert all(any(p == q for q in it) for p in emitted)
        seen_any, missing = False, 0
        for i in indices:
            if i in dropped:
                missing += 1
                continue
            if seen_any and missing:
                expected_gaps += vcid != IDLE_VCID
                expected_missing += missing if vcid != IDLE_VCID else 0
            seen_any, missing = True, 0
    assert demux.counters["vc_gaps"] == expected_gaps
    assert demux.counters["vc_frames_missing"] == expected_missing
    assert demux.counters["partial_packets_dropped"] + demux.counters["partial_idle_dropped"] <= expected_gaps
    assert demux.counters["fhp_mismatch"] == 0
    assert demux.counters["bad_packet_headers"] == 0


def _fmt():
    return TmChannelFormat(SCID, 64, has_ocf=False)


def test_drop_in_the_middle_of_a_packet_then_resync_at_fhp():
    fmt = _fmt()
    size = fmt.data_field_len  # 56
    mux = VirtualChannelMux(fmt)
    # Six packets of 1.5 frames: P[i] covers octets [84 i, 84 i + 84) of the stream, 9 frames in all.
    packets = [make_packet(size + size // 2, 1, i, bytes([i])) for i in range(6)]
    for p in packets:
        mux.push(0, p)
    frames = []
    while mux.has_data():
        frames.append(mux.next_frame())
    assert len(frames) == 9
    fhps = [TmFrame.unpack(f).first_header_pointer for f in frames]
    nps = FHP_NO_PACKET_START
    assert fhps == [0, 28, nps, 0, 28, nps, 0, 28, nps]
    demux = VirtualChannelDemux(fmt)
    out = []
    for i, raw in enumerate(frames):
        if i == 4:  # frame 4, octets [224, 280), holds the tail of P2 and the head of P3
            continue
        out += demux.feed(raw).packets
    # Frame 5 starts no packet (FHP 7FF) and is skipped; extraction resumes at frame 6's FHP.
    assert out == [packets[0], packets[1], packets[4], packets[5]]
    assert demux.counters["vc_gaps"] == 1
    assert demux.counters["vc_frames_missing"] == 1
    assert demux.counters["partial_packets_dropped"] == 1
    assert demux.counters["frames_skipped_unsynced"] == 1


def test_after_a_gap_frames_without_packet_start_are_skipped_until_an_fhp():
    fmt = _fmt()
    size = fmt.data_field_len  # 56
    mux = VirtualChannelMux(fmt)
    packets = [make_packet(3 * size - 10, 1, 0, b"a"), make_packet(8, 1, 1, b"b")]
    for p in packets:
        mux.push(0, p)
    frames = [mux.next_frame() for _ in range(3)]
    assert not mux.has_data()
    assert [TmFrame.unpack(f).first_header_pointer for f in frames] == [0, FHP_NO_PACKET_START, size - 10]
    demux = VirtualChannelDemux(fmt)
    assert demux.feed(frames[1]).packets == []  # starts in the middle of packet 0: nothing to sync on
    assert demux.counters["frames_skipped_unsynced"] == 1
    assert demux.feed(frames[2]).packets == [packets[1]]  # resynchronised at the FHP


def test_oid_frames_yield_nothing_and_keep_the_clcw_flowing():
    clcw = Clcw(1, 0x42, wait=True)
    fmt = TmChannelFormat(SCID, 64)
    mux = VirtualChannelMux(fmt, ocf_source=clcw.pack)
    demux = VirtualChannelDemux(fmt)
    for _ in range(3):
        result = demux.feed(mux.next_frame())
        assert result.frame.first_header_pointer == FHP_IDLE
        assert result.packets == []
        assert result.clcw == clcw
    assert demux.last_clcw == clcw
    assert demux.counters["idle_frames"] == 3


def test_ocf_that_is_not_a_clcw_is_counted():
    fmt = TmChannelFormat(SCID, 64)
    fsr = bytes.fromhex("80123456")  # control word type 1: an SDLS FSR
    demux = VirtualChannelDemux(fmt)
    result = demux.feed(VirtualChannelMux(fmt, ocf_source=lambda: fsr).next_frame())
    assert result.clcw is None and demux.last_clcw is None
    assert demux.counters["ocf_not_clcw"] == 1


def test_master_channel_gaps_are_counted():
    fmt = _fmt()
    mux = VirtualChannelMux(fmt)
    frames = [mux.next_frame() for _ in range(10)]
    demux = VirtualChannelDemux(fmt)
    for i in (0, 1, 4, 5, 9):
        demux.feed(frames[i])
    assert demux.counters["mc_gaps"] == 2
    assert demux.counters["mc_frames_missing"] == 5


def test_idle_packets_are_not_emitted():
    fmt = _fmt()
    mux = VirtualChannelMux(fmt)
    packet = make_packet(10, 3, 0, b"z")
    mux.push(0, packet)
    demux = VirtualChannelDemux(fmt)
    assert demux.feed(mux.next_frame()).packets == [packet]
    assert demux.counters["idle_packets"] == 1


@pytest.mark.parametrize("pad", range(1, 7))
def test_idle_padding_split_across_frames(pad):
    fmt = _fmt()
    size = fmt.data_field_len
    mux = VirtualChannelMux(fmt)
    demux = VirtualChannelDemux(fmt)
    first, second = make_packet(size - pad, 1, 0, b"1"), make_packet(30, 1, 1, b"2")
    mux.push(0, first)
    assert demux.feed(mux.next_frame()).packets == [first]
    assert demux.feed(mux.next_frame()).packets == []  # OID frame
    mux.push(0, second)
    assert demux.feed(mux.next_frame()).packets == [second]
    assert demux.counters["idle_packets"] == 2
    assert demux.counters["fhp_mismatch"] == 0


def _frame(vc_count: int, fhp: int, data: bytes, vcid: int = 0, mc: int | None = None) -> bytes:
    return TmFrame(SCID, vcid, vc_count if mc is None else mc, vc_count, fhp, data).pack()


def test_packet_not_ending_at_the_next_fhp_is_dropped():
    fmt = TmChannelFormat(SCID, 6 + 20 + 2, has_ocf=False)
    demux = VirtualChannelDemux(fmt)
    good = make_packet(12, 4, 0, b"g")
    # Frame 0: a packet header that claims 30 octets; frame 1 says a new packet starts at 4: corrupt.
    liar = make_packet(30, 5, 0, b"L")
    assert demux.feed(_frame(0, 0, liar[:20])).packets == []
    assert demux.feed(_frame(1, 4, b"\x00" * 4 + good + b"\xff" * 4)).packets == [good]
    assert demux.counters["fhp_mismatch"] == 1
    assert demux.counters["partial_packets_dropped"] == 1


def test_bad_packet_header_desynchronises_until_next_fhp():
    fmt = TmChannelFormat(SCID, 6 + 20 + 2, has_ocf=False)
    demux = VirtualChannelDemux(fmt)
    good = make_packet(10, 4, 0, b"g")
    assert demux.feed(_frame(0, 0, b"\xe0" + bytes(19))).packets == []  # version 7
    assert demux.counters["bad_packet_headers"] == 1
    assert demux.feed(_frame(1, FHP_NO_PACKET_START, bytes(20))).packets == []
    assert demux.counters["frames_skipped_unsynced"] == 1
    assert demux.feed(_frame(2, 3, b"\x01\x02\x03" + good + idle_packet(7))).packets == [good]


@pytest.mark.parametrize(("raw", "field"), [
    (TmFrame(SCID + 1, 0, 0, 0, 0, bytes(56)).pack(), "spacecraft_id"),
    (TmFrame(SCID, 0, 0, 0, 0, bytes(56), sync_flag=True).pack(), "sync_flag"),
    (TmFrame(SCID, 0, 0, 0, 0, bytes(55)).pack(), "frame_length"),
    (TmFrame(SCID, 0, 0, 0, 0, bytes(56)).pack()[:-1] + b"\x00", "fecf"),
])
def test_rejected_frames_are_counted(raw, field):
    demux = VirtualChannelDemux(_fmt())
    if field == "fecf" and raw[-1] == 0:
        raw = raw[:-1] + b"\x01"
    with pytest.raises(TmFrameError) as info:
        demux.feed(raw)
    assert info.value.field == field
    assert demux.counters[f"rejected_{field}"] == 1
    assert demux.counters["frames"] == 0


@given(st.lists(GARBAGE, max_size=5))
@settings(max_examples=300, deadline=None)
def test_garbage_raises_only_zenith_errors(raws):
    demux = VirtualChannelDemux(TmChannelFormat(SCID, 64, has_ocf=True))
    for raw in raws:
        only_zenith_errors(demux.feed, raw)
        only_zenith_errors(demux.feed, raw[:64].ljust(64, b"\x00"))


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 255), st.integers(0, 0x7FF),
                          st.binary(min_size=50, max_size=50), st.binary(min_size=4, max_size=4)),
                min_size=1, max_size=12))
@settings(max_examples=400, deadline=None)
def test_valid_frames_with_garbage_data_raise_only_zenith_errors(frames):
    # Frames that pass every frame-level check, with arbitrary FHPs and data fields.
    fmt = TmChannelFormat(SCID, 6 + 50 + 4 + 2)
    demux = VirtualChannelDemux(fmt)
    for vcid, count, fhp, data, ocf in frames:
        if fhp not in (FHP_IDLE, FHP_NO_PACKET_START):
            fhp %= 50
        raw = with_fecf(TmFrame(SCID, vcid, count, count, fhp, data, ocf=ocf).pack(has_fecf=False))
        result = only_zenith_errors(demux.feed, raw)
        assert result is not None
        for packet in result.packets:
            assert packet[0] >> 5 == 0
            assert len(packet) == int.from_bytes(packet[4:6], "big") + 7
            assert not is_idle(packet)

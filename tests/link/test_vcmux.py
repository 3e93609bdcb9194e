"""TM virtual-channel multiplexer: frame sequence, FHP, idle padding, OID frames, counts, OCF, interop."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from spacepackets.ccsds.tm_frame import TmTransferFrame

from flight.link.clcw import Clcw
from flight.link.errors import PacketError, TmFrameError, ZenithError
from flight.link.pus import idle_packet
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, IDLE_VCID, TmChannelFormat, TmFrame
from flight.link.vcmux import DEFAULT_CHANNELS, Priority, VirtualChannel, VirtualChannelMux

from ._helpers import crc16_ref, is_idle, make_packet, mux_scenarios, packets_in_stream

SCID = 0x2A
CHANNELS = {c.vcid: c for c in DEFAULT_CHANNELS}


def run_mux(params, ops):
    """Drive a mux through ``ops`` and drain it; return what went in and every frame that came out."""
    frame_length, has_ocf, has_fecf, secondary = params
    fmt = TmChannelFormat(SCID, frame_length, has_ocf=has_ocf, has_fecf=has_fecf,
                          secondary_header_len=secondary)
    clcws: list[Clcw] = []

    def ocf() -> bytes:
        clcw = Clcw(virtual_channel_id=len(clcws) % 64, report_value=len(clcws) & 0xFF,
                    retransmit=bool(len(clcws) & 1))
        clcws.append(clcw)
        return clcw.pack()

    mux = VirtualChannelMux(fmt, ocf_source=ocf if has_ocf else None)
    sent: dict[int, list[bytes]] = {c.vcid: [] for c in DEFAULT_CHANNELS}
    frames: list[bytes] = []
    for op in ops:
        if op[0] == "push":
            _, vcid, size, seed = op
            packet = make_packet(size, seed % 0x7FF, len(sent[vcid]), seed.to_bytes(3, "big") + bytes([vcid]))
            mux.push(vcid, packet)
            sent[vcid].append(packet)
        else:
            frames.append(mux.next_frame())
    while mux.has_data():
        frames.append(mux.next_frame())
    frames.append(mux.next_frame())  # one OID frame to finish
    return fmt, mux, sent, frames, clcws


def vc_streams(frames: list[bytes], fmt: TmChannelFormat) -> dict[int, list[TmFrame]]:
    by_vc: dict[int, list[TmFrame]] = {}
    for raw in frames:
        frame = TmFrame.unpack(raw, has_fecf=fmt.has_fecf, frame_length=fmt.frame_length)
        by_vc.setdefault(frame.virtual_channel_id, []).append(frame)
    return by_vc


@given(mux_scenarios())
@settings(max_examples=250, deadline=None)
def test_frames_headers_fhp_and_stream_content(scenario):
    params, ops = scenario
    fmt, _, sent, frames, clcws = run_mux(params, ops)
    size = fmt.data_field_len
    vc_counts: dict[int, int] = {}
    for index, raw in enumerate(frames):
        assert len(raw) == fmt.frame_length
        frame = TmFrame.unpack(raw, has_fecf=fmt.has_fecf, frame_length=fmt.frame_length)
        assert frame.spacecraft_id == SCID
        assert frame.master_channel_frame_count == index & 0xFF
        expected_vc = vc_counts.get(frame.virtual_channel_id, 0)
        assert frame.virtual_channel_frame_count == expected_vc
        vc_counts[frame.virtual_channel_id] = (expected_vc + 1) & 0xFF
        assert not frame.sync_flag and not frame.packet_order_flag and frame.segment_length_id == 0b11
        if fmt.has_ocf:
            assert frame.ocf == clcws[index].pack()
        else:
            assert frame.ocf is None
        if fmt.secondary_header_len:
            assert frame.secondary_header == bytes(fmt.secondary_header_len)
        else:
            assert frame.secondary_header is None
        if frame.virtual_channel_id == IDLE_VCID:
            assert frame.first_header_pointer == FHP_IDLE
            assert frame.data == b"\x55" * size
        else:
            assert frame.first_header_pointer != FHP_IDLE
        assert len(frame.data) == size
    for vcid, vc_frames in vc_streams(frames, fmt).items():
        if vcid == IDLE_VCID:
            continue
        stream = b"".join(f.data for f in vc_frames)
        cut = packets_in_stream(stream)
        # Every octet of the stream belongs to a packet (the unfinished tail can only be idle padding).
        assert [p for _, _, p in cut if not is_idle(p)] == sent[vcid]
        starts = [start for start, _, _ in cut]
        if cut and cut[-1][1] < len(stream):
            starts.append(cut[-1][1])
        for j, frame in enumerate(vc_frames):
            inside = [s - j * size for s in starts if j * size <= s < (j + 1) * size]
            assert frame.first_header_pointer == (inside[0] if inside else FHP_NO_PACKET_START)
        if CHANNELS[vcid].frame_aligned:
            assert all(start % size == 0 for start, _, p in cut if not is_idle(p))
    for vcid, packets in sent.items():
        if packets:
            assert vcid in vc_counts


@given(mux_scenarios(max_frame_len=400))
@settings(max_examples=150, deadline=None)
def test_spacepackets_parses_every_mux_frame(scenario):
    params, ops = scenario
    fmt, _, _, frames, _ = run_mux(params, ops)
    for raw in frames:
        ours = TmFrame.unpack(raw, has_fecf=fmt.has_fecf)
        theirs = TmTransferFrame.unpack(raw, fmt.frame_length, has_error_control_field=fmt.has_fecf)
        head = theirs.primary_header
        status = head.frame_datafield_status
        assert head.master_channel_id.transfer_frame_version == 0
        assert head.master_channel_id.spacecraft_id == ours.spacecraft_id == SCID
        assert head.vc_id == ours.virtual_channel_id
        assert head.ocf_flag == fmt.has_ocf
        assert head.master_ch_frame_count == ours.master_channel_frame_count
        assert head.vc_frame_count == ours.virtual_channel_frame_count
        assert status.first_header_pointer == ours.first_header_pointer
        assert status.secondary_header_flag == bool(fmt.secondary_header_len)
        assert (status.sync_flag, status.packet_order_flag, status.segment_len_id) == (False, False, 3)
        assert bytes(theirs.data_field) == ours.data
        if fmt.has_ocf:
            assert bytes(theirs.op_ctrl_field) == ours.ocf
        if fmt.has_fecf:
            assert crc16_ref(raw) == 0


def test_oid_frames_when_idle_and_counts_wrap_at_256():
    fmt = TmChannelFormat(SCID, 64, has_ocf=False)
    mux = VirtualChannelMux(fmt)
    assert not mux.has_data()
    for i in range(600):
        frame = TmFrame.unpack(mux.next_frame(), frame_length=64)
        assert frame.virtual_channel_id == IDLE_VCID == 7
        assert frame.first_header_pointer == FHP_IDLE == 0x7FE
        assert frame.master_channel_frame_count == i & 0xFF
        assert frame.virtual_channel_frame_count == i & 0xFF
        assert frame.data == b"\x55" * fmt.data_field_len
    assert mux.master_frame_count == 600 & 0xFF
    assert mux.counters["idle_frames"] == 600


def test_idle_pattern_is_configurable():
    mux = VirtualChannelMux(TmChannelFormat(SCID, 64, has_ocf=False), idle_pattern=0xAA)
    assert TmFrame.unpack(mux.next_frame()).data == b"\xaa" * 56


def test_vc_and_mc_counts_wrap_independently():
    fmt = TmChannelFormat(SCID, 40, has_ocf=False)
    mux = VirtualChannelMux(fmt)
    size = fmt.data_field_len
    counts = {0: 0, 1: 0, IDLE_VCID: 0}
    for i in range(700):
        if i % 3 == 0:
            mux.push(0, make_packet(size, 1, i, b"a"))
        elif i % 3 == 1:
            mux.push(1, make_packet(size, 2, i, b"b"))
        frame = TmFrame.unpack(mux.next_frame())
        assert frame.master_channel_frame_count == i & 0xFF
        assert frame.virtual_channel_frame_count == counts[frame.virtual_channel_id]
        counts[frame.virtual_channel_id] = (counts[frame.virtual_channel_id] + 1) & 0xFF
        assert frame.first_header_pointer == (FHP_IDLE if frame.virtual_channel_id == IDLE_VCID else 0)
    assert counts == {0: 234 & 0xFF, 1: 233 & 0xFF, IDLE_VCID: 233 & 0xFF}


def test_ocf_carries_the_clcw_supplied():
    current = [Clcw(3, 0x10)]
    mux = VirtualChannelMux(TmChannelFormat(SCID, 64), ocf_source=lambda: current[0].pack())
    assert Clcw.unpack(TmFrame.unpack(mux.next_frame()).ocf) == Clcw(3, 0x10)
    current[0] = Clcw(3, 0x11, lockout=True, farm_b_counter=2)
    mux.push(0, make_packet(20, 5, 0, b"x"))
    raw = mux.next_frame()
    assert raw[-6:-2] == current[0].pack()
    assert Clcw.unpack(TmFrame.unpack(raw).ocf) == current[0]


def test_priority_realtime_before_playback_before_files():
    fmt = TmChannelFormat(SCID, 64, has_ocf=False)
    mux = VirtualChannelMux(fmt)
    size = fmt.data_field_len
    mux.push(2, make_packet(size, 3, 0, b"f"))
    mux.push(1, make_packet(size, 2, 0, b"p"))
    mux.push(0, make_packet(size, 1, 0, b"r"))
    order = [TmFrame.unpack(mux.next_frame()).virtual_channel_id for _ in range(4)]
    assert order == [0, 1, 2, IDLE_VCID]
    assert [c.priority for c in DEFAULT_CHANNELS] == [Priority.REALTIME, Priority.PLAYBACK, Priority.FILES]


def test_packet_spanning_frames_then_idle_padding():
    fmt = TmChannelFormat(SCID, 64, has_ocf=False)
    size = fmt.data_field_len  # 56
    mux = VirtualChannelMux(fmt)
    packet = make_packet(2 * size + 5, 9, 0, b"long")
    mux.push(0, packet)
    frames = [TmFrame.unpack(mux.next_frame()) for _ in range(3)]
    assert [f.first_header_pointer for f in frames] == [0, FHP_NO_PACKET_START, 5]
    assert b"".join(f.data for f in frames)[: len(packet)] == packet
    assert frames[2].data[5:] == idle_packet(size - 5)
    assert not mux.has_data()


@pytest.mark.parametrize("pad", range(1, 7))
def test_padding_shorter_than_an_idle_packet_spills_into_the_next_frame(pad):
    fmt = TmChannelFormat(SCID, 64, has_ocf=False)
    size = fmt.data_field_len
    mux = VirtualChannelMux(fmt)
    first = make_packet(size - pad, 1, 0, b"one")
    mux.push(0, first)
    frame = TmFrame.unpack(mux.next_frame())
    assert frame.first_header_pointer == 0
    idle = idle_packet(7)
    assert frame.data == first + idle[:pad]
    # The idle remnant alone is no reason to send a frame of VC 0.
    assert not mux.has_data()
    assert mux.queued_octets() == 0
    assert TmFrame.unpack(mux.next_frame()).virtual_channel_id == IDLE_VCID
    second = make_packet(20, 2, 1, b"two")
    mux.push(0, second)
    assert mux.has_data()
    frame = TmFrame.unpack(mux.next_frame())
    assert frame.virtual_channel_id == 0 and frame.virtual_channel_frame_count == 1
    assert frame.first_header_pointer == 7 - pad
    assert frame.data[: 7 - pad] == idle[pad:]
    assert frame.data[7 - pad : 7 - pad + 20] == second


def aligned_mux() -> tuple[VirtualChannelMux, int]:
    fmt = TmChannelFormat(SCID, 64, has_ocf=False)
    return VirtualChannelMux(fmt, (VirtualChannel(2, "files", Priority.FILES, frame_aligned=True),)), \
        fmt.data_field_len


def test_the_files_channel_is_frame_aligned_and_the_others_are_not():
    assert [c.frame_aligned for c in DEFAULT_CHANNELS] == [False, False, True]


def test_an_aligned_channel_pads_the_frame_a_packet_ends_in():
    mux, size = aligned_mux()
    short, full, long = make_packet(20, 1, 0, b"s"), make_packet(size, 1, 1, b"f"), make_packet(size + 9, 1, 2, b"l")
    for packet in (short, full, long, short):
        mux.push(2, packet)
    frames = [TmFrame.unpack(mux.next_frame()) for _ in range(5)]
    assert [f.first_header_pointer for f in frames] == [0, 0, 0, 9, 0]  # 9: the padding starts there
    assert frames[0].data == short + idle_packet(size - 20)
    assert frames[1].data == full
    assert frames[2].data + frames[3].data[:9] == long and frames[3].data[9:] == idle_packet(size - 9)
    assert frames[4].data == short + idle_packet(size - 20)
    assert not mux.has_data() and TmFrame.unpack(mux.next_frame()).virtual_channel_id == IDLE_VCID


@pytest.mark.parametrize("pad", range(1, 7))
def test_an_aligned_channel_spills_short_padding_over_a_whole_frame(pad):
    mux, size = aligned_mux()
    first, second = make_packet(size - pad, 1, 0, b"one"), make_packet(size, 1, 1, b"two")
    mux.push(2, first)
    frame = TmFrame.unpack(mux.next_frame())
    idle = idle_packet(pad + size)
    assert frame.data == first + idle[:pad]
    assert not mux.has_data() and mux.queued_octets() == 0
    mux.push(2, second)
    mux.push(2, first)
    frames = [TmFrame.unpack(mux.next_frame()) for _ in range(3)]
    assert [f.virtual_channel_frame_count for f in frames] == [1, 2, 3]
    assert [f.first_header_pointer for f in frames] == [FHP_NO_PACKET_START, 0, 0]
    assert frames[0].data == idle[pad:] and frames[1].data == second
    assert frames[2].data == first + idle[:pad]


def test_queued_octets():
    mux = VirtualChannelMux(TmChannelFormat(SCID, 64, has_ocf=False))
    mux.push(0, make_packet(30, 1, 0, b"a"))
    mux.push(2, make_packet(100, 1, 0, b"b"))
    assert mux.queued_octets(0) == 30 and mux.queued_octets(2) == 100 and mux.queued_octets() == 130
    mux.next_frame()
    assert mux.queued_octets(0) == 0
    assert mux.counters["packets_vc0"] == 1 and mux.counters["frames_vc0"] == 1


@pytest.mark.parametrize("channels", [
    (VirtualChannel(0, "a", Priority.REALTIME), VirtualChannel(0, "b", Priority.FILES)),
    (VirtualChannel(7, "idle", Priority.FILES),),
    (VirtualChannel(8, "big", Priority.FILES),),
    (VirtualChannel(-1, "neg", Priority.FILES),),
])
def test_constructor_rejects_bad_channels(channels):
    with pytest.raises(TmFrameError):
        VirtualChannelMux(TmChannelFormat(SCID, 64, has_ocf=False), channels)


def test_constructor_needs_an_ocf_source_when_the_format_has_an_ocf():
    with pytest.raises(TmFrameError) as info:
        VirtualChannelMux(TmChannelFormat(SCID, 64, has_ocf=True))
    assert info.value.field == "ocf"


def test_push_rejects():
    mux = VirtualChannelMux(TmChannelFormat(SCID, 64, has_ocf=False))
    good = make_packet(20, 1, 0, b"x")
    with pytest.raises(TmFrameError):
        mux.push(3, good)
    with pytest.raises(TmFrameError):
        mux.push(0, good + b"\x00")
    with pytest.raises(TmFrameError):
        mux.push(0, good[:-1])
    with pytest.raises(PacketError):
        mux.push(0, good[:5])
    with pytest.raises(ZenithError):
        mux.push(0, bytes([0xE0]) + good[1:])  # version 7
    assert not mux.has_data()

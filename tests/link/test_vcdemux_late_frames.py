"""Late, duplicated and restarted frame counts in the TM demultiplexer (review regressions)."""

from __future__ import annotations

from flight.link.clcw import Clcw
from flight.link.pus import build_tm, cut_packets
from flight.link.tmframe import TmChannelFormat
from flight.link.vcdemux import RESYNC_AFTER, VirtualChannelDemux
from flight.link.vcmux import VirtualChannelMux

FMT = TmChannelFormat(42, 200)


def _frames(packets: int, report_value: int = 0, fill: int = 0) -> tuple[list[bytes], list[bytes]]:
    mux = VirtualChannelMux(FMT, ocf_source=lambda: Clcw(0, report_value=report_value).pack())
    sent = [build_tm(32, 3, 25, bytes([fill]) * 60, bytes(6), i) for i in range(packets)]
    for packet in sent:
        mux.push(0, packet)
    frames = []
    while mux.has_data():
        frames.append(mux.next_frame())
    return sent, frames


def _packets_within(frame: bytes) -> list[bytes]:
    """The packets that one frame of FMT holds whole, cut independently of the demux."""
    data = frame[6:-6]  # primary header; OCF and FECF
    fhp = ((frame[4] & 0x07) << 8) | frame[5]
    found, _, _ = cut_packets(data[fhp:])
    return found


def test_duplicated_frames_deliver_nothing_twice_and_late_ones_only_what_they_hold_whole() -> None:
    sent, frames = _frames(12)
    demux = VirtualChannelDemux(FMT)
    got = []
    for raw in [frames[0], frames[2], frames[1], frames[1], frames[2], *frames[3:]]:
        got += demux.feed(raw).packets
    assert len(set(got)) == len(got)
    whole_in_late = _packets_within(frames[1])
    assert whole_in_late and demux.counters["late_packets"] == len(whole_in_late)
    # Lost: the packet frame 1 finished and the one it began, which frame 2 finishes.
    lost = [p for p in sent if p not in got]
    assert len(lost) == 2 and not set(lost) & set(whole_in_late)
    assert [p for p in got if p not in whole_in_late] == [p for p in sent if p not in lost + whole_in_late]
    assert demux.counters["vc_stale_frames"] == 1  # frame 1, late
    assert demux.counters["vc_duplicate_frames"] == 2  # frame 1 and frame 2 again
    assert demux.counters["vc_frames_missing"] == 1  # frame 1 was given up when frame 2 came first


def test_on_the_aligned_files_channel_a_late_frame_loses_nothing() -> None:
    mux = VirtualChannelMux(FMT, ocf_source=lambda: Clcw(0).pack())
    sent = [build_tm(32, 3, 25, bytes([i]) * size, bytes(6), i) for i, size in enumerate([60, 150, 20, 167] * 3)]
    for packet in sent:
        mux.push(2, packet)
    frames = []
    while mux.has_data():
        frames.append(mux.next_frame())
    assert len(frames) == len(sent)  # one packet a frame (167 octets of data fill one)
    demux = VirtualChannelDemux(FMT)
    got = []
    for i in range(0, len(frames), 2):  # every pair swapped
        got += demux.feed(frames[i + 1]).packets + demux.feed(frames[i]).packets
    assert sorted(got) == sorted(sent)
    assert demux.counters["partial_packets_dropped"] == 0


def test_a_late_frame_does_not_hand_its_stale_clcw_to_fop() -> None:
    _, frames = _frames(12)
    demux = VirtualChannelDemux(FMT)
    demux.feed(frames[1])
    demux.feed(frames[2])
    assert demux.feed(frames[0]).clcw is None
    assert demux.feed(frames[3]).clcw is not None


def test_a_long_outage_is_a_gap_not_a_stream_of_stale_frames() -> None:
    mux = VirtualChannelMux(FMT, ocf_source=lambda: Clcw(0, report_value=7).pack())
    frames = [mux.next_frame() for _ in range(300)]
    demux = VirtualChannelDemux(FMT)
    demux.feed(frames[0])
    assert all(demux.feed(raw).clcw is not None for raw in frames[150:278])
    assert demux.counters["mc_gaps"] == 1 and demux.counters["mc_stale_frames"] == 0


def test_a_restarted_sender_is_followed_after_a_few_frames() -> None:
    _, before = _frames(40)
    demux = VirtualChannelDemux(FMT)
    for raw in before:
        demux.feed(raw)
    sent, after = _frames(40, fill=1)  # the flight software restarted: counts begin again at 0
    got = []
    for raw in after:
        got += demux.feed(raw).packets
    assert demux.counters["mc_stale_frames"] <= RESYNC_AFTER
    # Until the resynchronisation its frames look late: what they hold whole still comes through.
    assert len(set(got)) == len(got) and got == [p for p in sent if p in got]
    assert got[-30:] == sent[-30:]


def test_an_outage_that_lands_just_behind_the_expected_count_costs_one_frame() -> None:
    """The flight counts frames through a pass gap: the next count seen is anywhere, sometimes a few
    behind the one expected. Two frames that follow each other show the jump: resynchronise at once."""
    reports = iter(range(10**6))  # a CLCW that moves on: frames 256 apart are not byte-identical
    mux = VirtualChannelMux(FMT, ocf_source=lambda: Clcw(0, report_value=next(reports) // 2 % 256).pack())
    frames = [mux.next_frame() for _ in range(400)]
    demux = VirtualChannelDemux(FMT)
    for raw in frames[:50]:
        demux.feed(raw)
    after_gap = frames[50 + 256 - 10 : 50 + 256 - 10 + 20]  # lands 10 behind the expected count
    clcws = [demux.feed(raw).clcw for raw in after_gap]
    assert sum(c is None for c in clcws) == 1
    assert demux.counters["mc_resyncs"] == 1

"""Codec speed: the whole link stack per packet, as a ratio to spacepackets doing the packet part alone.

* TC: PUS TC packet → TC frame → SDLS ApplySecurity (AES-GCM) → bytes, and back (frame decode, SDLS
  ProcessSecurity, packet split, PUS decode). Baseline: spacepackets packing and unpacking the same
  PUS TC. The same with CLTU coding added (a layer below the frame, outside what the target judges)
  is reported for information.
* TM: PUS TM packets → VC multiplexer → fixed-length TM frames (FECF, OCF) → demultiplexer → PUS
  decode. Baseline: spacepackets packing and unpacking the same PUS TM packets.
"""

from __future__ import annotations

from collections.abc import Callable

from spacepackets.ecss import PusTc, PusTm

from bench.harness import Record, paired_timing
from flight.link.clcw import Clcw
from flight.link.cltu import CltuCodec
from flight.link.keys import KeyRing
from flight.link.pus import build_tc, build_tm, parse_tc, parse_tm
from flight.link.sdls import Sdls, SecurityAssociation
from flight.link.tcframe import FrameType, TcFrame
from flight.link.tmframe import TmChannelFormat
from flight.link.uplink_receiver import split_packets
from flight.link.vcdemux import VirtualChannelDemux
from flight.link.vcmux import VirtualChannelMux

TARGET = "<= 2.0"
APP_DATA = bytes(range(24))  # a command with a few arguments
SOURCE_DATA = bytes(range(48))  # a small housekeeping report
TIME = bytes(6)
TM_BATCH = 500


def _tc_stack(cltu: bool = False) -> tuple[Callable[[], None], Callable[[], None]]:
    keys = KeyRing.generate(["tc-0"])
    sas = [SecurityAssociation(1, "tc-0", (0,))]
    ground, flight = Sdls(sas, keys), Sdls(sas, keys)
    codec = CltuCodec()
    seq = [0]

    def ours() -> None:
        seq[0] = (seq[0] + 1) & 0x3FFF
        packet = build_tc(16, 8, 1, APP_DATA, seq[0])
        raw = ground.protect(TcFrame(42, 0, FrameType.AD, seq[0] & 0xFF, packet))
        if cltu:
            raw = codec.decode(codec.encode(raw))
        verified = flight.process(TcFrame.unpack(raw), raw[:5])
        flight.commit(verified)
        for p in split_packets(verified.frame.data):
            parse_tc(p)

    def baseline() -> None:
        seq[0] = (seq[0] + 1) & 0x3FFF
        PusTc.unpack(PusTc(service=8, message_subtype=1, apid=16, app_data=APP_DATA, seq_count=seq[0]).pack())

    return ours, baseline


def _tm_stack() -> tuple[Callable[[], None], Callable[[], None]]:
    fmt = TmChannelFormat(42, 1115)
    clcw = Clcw(0).pack()
    mux = VirtualChannelMux(fmt, ocf_source=lambda: clcw)
    demux = VirtualChannelDemux(fmt)

    def ours() -> None:
        for i in range(TM_BATCH):
            mux.push(0, build_tm(32, 3, 25, SOURCE_DATA, TIME, i))
        while mux.has_data():
            for p in demux.feed(mux.next_frame()).packets:
                parse_tm(p, len(TIME))

    def baseline() -> None:
        for i in range(TM_BATCH):
            raw = PusTm(service=3, message_subtype=25, timestamp=TIME, source_data=SOURCE_DATA, apid=32,
                        seq_count=i).pack()
            PusTm.unpack(raw, timestamp_len=len(TIME))

    return ours, baseline


def run() -> list[Record]:
    records = []
    ours, baseline = _tc_stack()
    t_ours, t_base = paired_timing(ours, baseline, repeats=9, inner=2000)
    records.append(Record("codec: PUS TC → TC frame + SDLS → bytes → back", t_ours * 1e6, "us/packet",
                          t_base * 1e6, t_ours / t_base, TARGET))
    ours, baseline = _tc_stack(cltu=True)
    t_ours, t_base = paired_timing(ours, baseline, repeats=9, inner=1000)
    records.append(Record("codec: the same, with CLTU coding (BCH + randomizer) too", t_ours * 1e6, "us/packet",
                          t_base * 1e6, t_ours / t_base, ""))
    ours, baseline = _tm_stack()
    t_ours, t_base = paired_timing(ours, baseline, repeats=9, inner=4)
    records.append(Record("codec: PUS TM → VC mux → TM frames → demux → back", t_ours / TM_BATCH * 1e6,
                          "us/packet", t_base / TM_BATCH * 1e6, t_ours / t_base, TARGET))
    return records

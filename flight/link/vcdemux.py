"""TM virtual-channel demultiplexer: frames in, complete space packets out.

Per virtual channel it keeps the packet left unfinished by the previous frame. A gap in the
virtual-channel frame count means octets of that packet are gone: the partial packet is dropped and
counted, and extraction resynchronises at the First Header Pointer of the next frame. A packet that
does not end where the next frame's FHP says a packet begins is corrupt and dropped the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flight.counters import Counters
from flight.link.clcw import Clcw
from flight.link.errors import ClcwError, TmFrameError
from flight.link.pus import cut_packets, is_idle
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, TmChannelFormat, TmFrame

STALE_BAND = 32  # a count this far behind the expected one is a late frame, not a wrap-around gap
RESYNC_AFTER = 8  # this many "late" frames in a row: the sender restarted its count; follow it


def _follow(count: int, expected: int | None, stale_run: int) -> tuple[int | str, int, int]:
    """Classify a frame count against the expected one (mod 256).

    Returns the verdict (the number of frames missing, 0 when in sequence, ``"stale"`` for a late
    frame, ``"resync"`` when the count restarted), the next expected count and the run of consecutive
    late frames.
    """
    if expected is None:
        return 0, (count + 1) & 0xFF, 0
    ahead = (count - expected) & 0xFF
    if ahead < 256 - STALE_BAND:
        return ahead, (count + 1) & 0xFF, 0
    if stale_run + 1 < RESYNC_AFTER:
        return "stale", expected, stale_run + 1
    return "resync", (count + 1) & 0xFF, 0


@dataclass(slots=True)
class _VcState:
    expected_count: int | None = None
    stale_run: int = 0
    partial: bytes = b""
    synced: bool = False


@dataclass(slots=True)
class DemuxResult:
    frame: TmFrame
    packets: list[bytes] = field(default_factory=list)
    clcw: Clcw | None = None


class VirtualChannelDemux:
    def __init__(self, fmt: TmChannelFormat) -> None:
        self.fmt = fmt
        self._vcs: dict[int, _VcState] = {}
        self._expected_mc: int | None = None
        self._mc_stale_run = 0
        self.last_clcw: Clcw | None = None
        self.counters = Counters("tm_demux")

    def feed(self, raw: bytes) -> DemuxResult:
        """Decode one frame; bad frames raise TmFrameError after being counted."""
        try:
            frame = TmFrame.unpack(raw, has_fecf=self.fmt.has_fecf, frame_length=self.fmt.frame_length)
            if frame.spacecraft_id != self.fmt.spacecraft_id:
                raise TmFrameError("spacecraft_id", f"{frame.spacecraft_id}, expected {self.fmt.spacecraft_id}")
            if frame.sync_flag:
                raise TmFrameError("sync_flag", "VCA_SDU frames are not used on this channel")
        except TmFrameError as exc:
            self.counters.inc(f"rejected_{exc.field}")
            raise
        self.counters.inc("frames")
        fresh = self._check_master_count(frame.master_channel_frame_count)
        result = DemuxResult(frame)
        if frame.ocf is not None and fresh:
            try:
                result.clcw = self.last_clcw = Clcw.unpack(frame.ocf)
            except ClcwError:
                self.counters.inc("ocf_not_clcw")
        if frame.first_header_pointer == FHP_IDLE:
            self.counters.inc("idle_frames")
            vc = self._vc(frame)
            _, vc.expected_count, vc.stale_run = _follow(frame.virtual_channel_frame_count, vc.expected_count,
                                                         vc.stale_run)
            return result
        result.packets = self._extract(frame)
        return result

    def _check_master_count(self, count: int) -> bool:
        """Count master-channel gaps; False for a late (reordered or duplicated) frame.

        A late frame carries a stale CLCW: handing it to FOP-1 would acknowledge the past, so its
        OCF is ignored.
        """
        verdict, self._expected_mc, self._mc_stale_run = _follow(count, self._expected_mc, self._mc_stale_run)
        if verdict == "stale":
            self.counters.inc("mc_stale_frames")
            return False
        if verdict == "resync":
            self.counters.inc("mc_resyncs")
        elif verdict:
            self.counters.inc("mc_gaps")
            self.counters.inc("mc_frames_missing", verdict)
        return True

    def _vc(self, frame: TmFrame) -> _VcState:
        return self._vcs.setdefault(frame.virtual_channel_id, _VcState())

    def _extract(self, frame: TmFrame) -> list[bytes]:
        vc = self._vc(frame)
        verdict, vc.expected_count, vc.stale_run = _follow(frame.virtual_channel_frame_count, vc.expected_count,
                                                           vc.stale_run)
        if verdict == "stale":
            # Its octets were given up for lost when the newer frame came: they cannot be spliced back.
            self.counters.inc("vc_stale_frames")
            return []
        if verdict == "resync":
            self.counters.inc("vc_resyncs")
            self._drop_partial(vc)
        elif verdict:
            self.counters.inc("vc_gaps")
            self.counters.inc("vc_frames_missing", verdict)
            self._drop_partial(vc)
        fhp = frame.first_header_pointer
        data = frame.data
        packets: list[bytes] = []
        if not vc.synced:
            if fhp == FHP_NO_PACKET_START:
                self.counters.inc("frames_skipped_unsynced")
                return packets
            vc.synced = True
            vc.partial = b""
            return self._parse(vc, data[fhp:], packets)
        if fhp == FHP_NO_PACKET_START:
            return self._parse(vc, vc.partial + data, packets)
        self._parse(vc, vc.partial + data[:fhp], packets)
        if vc.partial:
            # The previous packet should have ended exactly where this frame's FHP points.
            self.counters.inc("fhp_mismatch")
            self._drop_partial(vc)
        vc.synced = True
        return self._parse(vc, data[fhp:], packets)

    def _parse(self, vc: _VcState, buf: bytes, packets: list[bytes]) -> list[bytes]:
        """Cut complete packets from ``buf`` into ``packets``; keep the unfinished tail."""
        found, end, corrupt = cut_packets(buf)
        for packet in found:
            if is_idle(packet):
                self.counters.inc("idle_packets")
            else:
                packets.append(packet)
                self.counters.inc("packets")
        if corrupt:
            # Not a version-0 packet header: the stream is corrupt from here to the next FHP.
            self.counters.inc("bad_packet_headers")
            vc.partial = b""
            vc.synced = False
        else:
            vc.partial = buf[end:]
        return packets

    def _drop_partial(self, vc: _VcState) -> None:
        if len(vc.partial) >= 2 and is_idle(vc.partial):
            self.counters.inc("partial_idle_dropped")
        elif vc.partial:
            self.counters.inc("partial_packets_dropped")
        vc.partial = b""
        vc.synced = False

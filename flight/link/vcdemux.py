"""TM virtual-channel demultiplexer: frames in, complete space packets out.

Per virtual channel it keeps the packet left unfinished by the previous frame. A gap in the
virtual-channel frame count means octets of that packet are gone: the partial packet is dropped and
counted, and extraction resynchronises at the First Header Pointer of the next frame. A packet that
does not end where the next frame's FHP says a packet begins is corrupt and dropped the same way. A
duplicated frame is discarded whole. A late frame cannot continue the stream, which has moved on,
but the packets it holds whole (from its FHP on) are delivered, late: on the frame-aligned files
channel that is the one PDU it carries, which CFDP would otherwise ask for again. A late frame's
CLCW is never used: see :class:`FrameCounter`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from flight.counters import Counters
from flight.link.clcw import Clcw
from flight.link.errors import ClcwError, TmFrameError
from flight.link.pus import cut_packets, is_idle
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, TmChannelFormat, TmFrame

STALE_BAND = 32  # a count this far behind the expected one is a late frame, not a wrap-around gap
RESYNC_AFTER = 8  # this many "late" frames in a row: the sender's count jumped; follow it


@dataclass(slots=True)
class FrameCounter:
    """Follows a master- or virtual-channel frame count (mod 256) and classifies each frame.

    :meth:`follow` returns the number of frames missing before this one (0 in sequence),
    ``"duplicate"`` for a frame taken already, ``"stale"`` for a late one (a count just behind the
    expected one, not seen before), or
    ``"resync"`` when the sender's count evidently jumped: two frames in a row, neither seen before,
    that follow each other (a late frame is not followed by its successor), or many "late" frames in
    a row.
    """

    expected: int | None = None
    stale_run: int = 0
    last_stale: int | None = None
    # The frames taken lately, as (count, fingerprint): a duplicate is the same count *and* content;
    # a restarted sender reuses counts with other content.
    recent: deque[tuple[int, int]] = field(default_factory=lambda: deque(maxlen=STALE_BAND))

    def follow(self, count: int, fingerprint: int) -> int | str:
        if self.expected is None:
            self._take(count, fingerprint)
            return 0
        ahead = (count - self.expected) & 0xFF
        if ahead < 256 - STALE_BAND:
            self._take(count, fingerprint)
            return ahead
        if (count, fingerprint) in self.recent:
            return "duplicate"  # whatever comes around it proves nothing
        consecutive = self.last_stale is not None and count == (self.last_stale + 1) & 0xFF
        if consecutive or self.stale_run + 1 >= RESYNC_AFTER:
            self._take(count, fingerprint)
            return "resync"
        self.stale_run += 1
        self.last_stale = count
        self.recent.append((count, fingerprint))  # so that its copy is a duplicate, not late again
        return "stale"

    def _take(self, count: int, fingerprint: int) -> None:
        self.expected = (count + 1) & 0xFF
        self.stale_run = 0
        self.last_stale = None
        self.recent.append((count, fingerprint))


@dataclass(slots=True)
class _VcState:
    count: FrameCounter = field(default_factory=FrameCounter)
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
        self._master = FrameCounter()
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
        fingerprint = hash(raw)
        # A late frame carries a stale CLCW: handing it to FOP-1 would acknowledge the past.
        fresh = self._tally("mc", self._master.follow(frame.master_channel_frame_count, fingerprint))
        result = DemuxResult(frame)
        if frame.ocf is not None and fresh:
            try:
                result.clcw = self.last_clcw = Clcw.unpack(frame.ocf)
            except ClcwError:
                self.counters.inc("ocf_not_clcw")
        vc = self._vcs.setdefault(frame.virtual_channel_id, _VcState())
        verdict = vc.count.follow(frame.virtual_channel_frame_count, fingerprint)
        if frame.first_header_pointer == FHP_IDLE:
            self.counters.inc("idle_frames")
        elif self._tally("vc", verdict):
            if verdict:  # a gap or a resynchronisation: the packet left unfinished cannot be completed
                self._drop_partial(vc)
            result.packets = self._extract(vc, frame)
        elif verdict == "stale":
            result.packets = self._salvage(frame)
        return result

    def _tally(self, channel: str, verdict: int | str) -> bool:
        """Count a frame counter's verdict; False for a late or duplicated frame, out of the stream."""
        if verdict in ("stale", "duplicate"):
            self.counters.inc(f"{channel}_{verdict}_frames")
            return False
        if verdict == "resync":
            self.counters.inc(f"{channel}_resyncs")
        elif verdict:
            self.counters.inc(f"{channel}_gaps")
            self.counters.inc(f"{channel}_frames_missing", verdict)
        return True

    def _extract(self, vc: _VcState, frame: TmFrame) -> list[bytes]:
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

    def _salvage(self, frame: TmFrame) -> list[bytes]:
        """The packets a late frame holds whole; the stream's own state is left as it is."""
        if frame.first_header_pointer == FHP_NO_PACKET_START:
            return []
        found, _, _ = cut_packets(frame.data[frame.first_header_pointer:])
        packets = [p for p in found if not is_idle(p)]
        self.counters.inc("late_packets", len(packets))
        return packets

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

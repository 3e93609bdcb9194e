"""The flight end of the uplink: CLTU → TC frame → SDLS → FARM-1 → space packets.

:meth:`UplinkReceiver.receive` never raises: every rejection is counted under the layer and field
that refused it (``tc.rejected_sdls_bad_mac``…), which is what housekeeping reports. Accepted frames
wait in FARM-1's buffer until the upper layer takes them with :meth:`UplinkReceiver.take_packets`, so
that a full upper layer turns into FARM Wait (flow control) rather than loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight.counters import Counters
from flight.link.cltu import CltuCodec, CltuConfig
from flight.link.config import LinkConfig
from flight.link.errors import LinkError, PacketError, TcFrameError
from flight.link.farm import Farm, FarmConfig, FarmOutcome
from flight.link.pus import MAX_PACKET_LEN, PRIMARY_HEADER_LEN, cut_packets
from flight.link.sdls import Sdls, Verified
from flight.link.tcframe import FrameType, SequenceFlags, TcFrame


@dataclass(frozen=True, slots=True)
class Delivered:
    """One space packet taken from an accepted frame."""

    vcid: int
    map_id: int
    frame_type: FrameType
    frame_sequence_number: int
    packet: bytes


def split_packets(data: bytes) -> list[bytes]:
    """The complete space packets blocked into one frame data field (or reassembled segments)."""
    packets, end, corrupt = cut_packets(data)
    if corrupt:
        raise PacketError("version", f"the packet at offset {end} is not a version-0 space packet")
    rest = len(data) - end
    if rest and rest < PRIMARY_HEADER_LEN:
        raise PacketError("header", f"{rest} octets at offset {end} cannot hold a packet header")
    if rest:
        raise PacketError("data_length", f"the packet at offset {end} runs past the end of the data")
    return packets


class UplinkReceiver:
    def __init__(self, config: LinkConfig, sdls: Sdls | None) -> None:
        self.config = config
        self.sdls = sdls
        self.farms = {c.vcid: Farm(FarmConfig(c.vcid, c.farm_window, c.farm_buffer, c.accept_set_vr))
                      for c in config.tc.channels}
        self._segmented = {c.vcid: c.segmented for c in config.tc.channels}
        self.cltu = CltuCodec(CltuConfig(config.tc.randomize, config.tc.correct_errors)) if config.tc.cltu else None
        self._segments: dict[tuple[int, int], bytearray] = {}
        self.counters = Counters("tc")
        self._farm_list = list(self.farms.values())
        self._clcw_turn = -1

    def receive(self, raw: bytes) -> FarmOutcome | None:
        """Run one received CLTU (or bare frame) through the stack; None if a layer rejected it."""
        self.counters.inc("received")
        try:
            frame, verified = self._decode(raw)
        except LinkError as exc:
            self.counters.inc("rejected")
            self.counters.inc(f"rejected_{exc.layer}_{exc.field}")
            return None
        outcome = self.farms[frame.virtual_channel_id].receive(frame)
        if outcome.accepted and verified is not None and self.sdls is not None:
            # Only now does the frame's anti-replay value count as used: see sdls.py on COP-1.
            self.sdls.commit(verified)
        return outcome

    def _decode(self, raw: bytes) -> tuple[TcFrame, Verified | None]:
        data = self.cltu.decode(raw) if self.cltu else raw
        if len(data) < 5:
            raise TcFrameError("frame_length", f"{len(data)} octets is shorter than the primary header")
        vcid = data[2] >> 2
        frame = TcFrame.unpack(data, segmented=self._segmented.get(vcid, False))
        if frame.spacecraft_id != self.config.spacecraft_id:
            raise TcFrameError("spacecraft_id", f"{frame.spacecraft_id} is not this spacecraft")
        if vcid not in self.farms:
            raise TcFrameError("virtual_channel_id", f"virtual channel {vcid} is not configured")
        if self.sdls is None or frame.frame_type is FrameType.BC:
            return frame, None
        header = data[: 6 if frame.segment is not None else 5]
        verified = self.sdls.process(frame, header)  # raises SdlsError, which names the reason
        return verified.frame, verified

    def take_packets(self) -> list[Delivered]:
        """Everything accepted so far, as packets, in order; frees FARM-1's buffer."""
        out: list[Delivered] = []
        for vcid, farm in self.farms.items():
            while (frame := farm.take()) is not None:
                try:
                    out.extend(self._unpack(vcid, frame))
                except LinkError as exc:
                    self.counters.inc(f"rejected_{exc.layer}_{exc.field}")
        return out

    def _unpack(self, vcid: int, frame: TcFrame) -> list[Delivered]:
        segment = frame.segment
        map_id = segment.map_id if segment else 0
        data = frame.data
        if segment is not None and segment.sequence_flags is not SequenceFlags.UNSEGMENTED:
            key = (vcid, map_id)
            flags = segment.sequence_flags
            if flags is SequenceFlags.FIRST:
                if key in self._segments:
                    self.counters.inc("segments_abandoned")
                self._segments[key] = bytearray(data)
                return []
            if key not in self._segments:
                raise TcFrameError("segment", f"{flags.name.lower()} segment on MAP {map_id} without a first")
            self._segments[key] += data
            if len(self._segments[key]) > MAX_PACKET_LEN:
                del self._segments[key]
                raise PacketError("segment", f"segments on MAP {map_id} grow past the largest space packet")
            if flags is SequenceFlags.CONTINUATION:
                return []
            data = bytes(self._segments.pop(key))
        packets = split_packets(data)
        self.counters.inc("packets", len(packets))
        return [Delivered(vcid, map_id, frame.frame_type, frame.frame_sequence_number, p) for p in packets]

    def clcw_bytes(self) -> bytes:
        """The CLCW for the next TM frame's OCF; with several channels they take turns."""
        self._clcw_turn = (self._clcw_turn + 1) % len(self._farm_list)
        return self._farm_list[self._clcw_turn].clcw().pack()

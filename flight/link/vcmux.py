"""TM virtual-channel multiplexer: packets in, fixed-length frames out, by priority.

Each virtual channel is a continuous octet stream of space packets that the frames slice up; a packet
may span frames, and the First Header Pointer tells the receiver where the first packet starting in
a frame begins. At every transmit opportunity the highest-priority channel with data sends a frame;
a channel with less than a frame's worth is padded with an idle packet. With nothing to send, an
OID (idle) frame keeps the downlink, and the CLCW in its OCF, flowing.

A frame-aligned channel starts every packet at the start of a frame and pads the rest of the frame
a packet ends in. The files channel is one: its PDUs are sized to fill a frame, and packed end to
end after one short PDU every PDU would straddle two frames, so that one lost frame cost two PDUs
and their retransmission; aligned, a lost frame costs exactly the PDU it held.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from flight.counters import Counters
from flight.link.errors import TmFrameError
from flight.link.pus import MIN_PACKET_LEN, PacketHeader, idle_packet
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, IDLE_VCID, TmChannelFormat, TmFrame


class Priority(enum.IntEnum):
    """Downlink priorities, highest first: live data beats playback beats files."""

    REALTIME = 0
    PLAYBACK = 1
    FILES = 2


@dataclass(frozen=True, slots=True)
class VirtualChannel:
    vcid: int
    name: str
    priority: Priority
    frame_aligned: bool = False  # every packet starts a frame (see the module docstring)


DEFAULT_CHANNELS = (
    VirtualChannel(0, "realtime", Priority.REALTIME),
    VirtualChannel(1, "playback", Priority.PLAYBACK),
    VirtualChannel(2, "files", Priority.FILES, frame_aligned=True),
)


class _VcStream:
    """The queued packets of one virtual channel and the frame count it has reached."""

    def __init__(self, channel: VirtualChannel) -> None:
        self.channel = channel
        self.packets: deque[bytes] = deque()
        self.offset = 0  # octets of packets[0] already sent
        self.queued = 0  # octets not yet sent
        self.frame_count = 0
        self.remnant_is_idle = False  # packets[0] is the spilled tail of a padding idle packet

    def has_data(self) -> bool:
        """Something to send other than the tail of padding (that waits for the next packet)."""
        return len(self.packets) > (1 if self.remnant_is_idle else 0)

    def push(self, packet: bytes) -> None:
        self.packets.append(packet)
        self.queued += len(packet)

    def take(self, n: int) -> tuple[bytes, int]:
        """Slice the next ``n`` octets, padding with idle packets; return them and the FHP."""
        out = bytearray()
        fhp = FHP_NO_PACKET_START
        padded = False
        while len(out) < n:
            # On an aligned channel a packet starts only at the start of a frame.
            held_back = self.channel.frame_aligned and self.offset == 0 and bool(out)
            if not self.packets or (held_back and not padded):
                self._pad(n - len(out), n)
                padded = True
            packet = self.packets[0]
            if self.offset == 0 and fhp == FHP_NO_PACKET_START:
                fhp = len(out)
            piece = packet[self.offset : self.offset + n - len(out)]
            out += piece
            self.offset += len(piece)
            self.queued -= len(piece)
            if self.offset == len(packet):
                self.packets.popleft()
                self.offset = 0
                self.remnant_is_idle = False
        return bytes(out), fhp

    def _pad(self, gap: int, frame: int) -> None:
        """Put an idle packet first that fills ``gap`` octets of the frame being built.

        An idle packet is at least 7 octets; a shorter gap takes the head of one and the rest spills
        into this channel's next frame. On an aligned channel the spill fills that whole frame, so
        that the next packet still starts one."""
        length = gap
        if gap < MIN_PACKET_LEN:
            length = gap + frame if self.channel.frame_aligned else MIN_PACKET_LEN
        self.packets.appendleft(idle_packet(length))
        self.queued += length
        self.remnant_is_idle = gap < MIN_PACKET_LEN


class VirtualChannelMux:
    """Builds the downlink frame sequence of one master channel."""

    def __init__(self, fmt: TmChannelFormat, channels: tuple[VirtualChannel, ...] = DEFAULT_CHANNELS,
                 ocf_source: Callable[[], bytes] | None = None, idle_pattern: int = 0x55) -> None:
        vcids = [c.vcid for c in channels]
        if len(set(vcids)) != len(vcids) or IDLE_VCID in vcids or not all(0 <= v <= 7 for v in vcids):
            raise TmFrameError("virtual_channel_id", f"channels {vcids} must be distinct, in 0..6")
        if fmt.has_ocf and ocf_source is None:
            raise TmFrameError("ocf", "the channel format carries an OCF but nothing supplies it")
        self.fmt = fmt
        self._ocf_source = ocf_source
        self._streams = {c.vcid: _VcStream(c) for c in sorted(channels, key=lambda c: c.priority)}
        self._idle_frame_count = 0
        self._idle_data = bytes([idle_pattern]) * fmt.data_field_len
        self.master_frame_count = 0
        self.counters = Counters("tm_mux")

    def push(self, vcid: int, packet: bytes) -> None:
        """Queue one complete space packet on a virtual channel."""
        if vcid not in self._streams:
            raise TmFrameError("virtual_channel_id", f"no virtual channel {vcid}")
        header = PacketHeader.unpack(packet)
        if header.total_length != len(packet):
            raise TmFrameError("packet", f"packet of {len(packet)} octets declares {header.total_length}")
        self._streams[vcid].push(packet)
        self.counters.inc(f"packets_vc{vcid}")

    def queued_octets(self, vcid: int | None = None) -> int:
        streams = self._streams.values() if vcid is None else [self._streams[vcid]]
        return sum(s.queued for s in streams if s.has_data())

    def has_data(self) -> bool:
        return any(s.has_data() for s in self._streams.values())

    def next_frame(self) -> bytes:
        """The frame for the next transmit opportunity (a data frame, or an OID frame)."""
        stream = next((s for s in self._streams.values() if s.has_data()), None)
        if stream is None:
            vcid, vc_count, fhp, data = IDLE_VCID, self._idle_frame_count, FHP_IDLE, self._idle_data
            self._idle_frame_count = (self._idle_frame_count + 1) & 0xFF
            self.counters.inc("idle_frames")
        else:
            data, fhp = stream.take(self.fmt.data_field_len)
            vcid, vc_count = stream.channel.vcid, stream.frame_count
            stream.frame_count = (stream.frame_count + 1) & 0xFF
            self.counters.inc(f"frames_vc{vcid}")
        frame = TmFrame(
            spacecraft_id=self.fmt.spacecraft_id,
            virtual_channel_id=vcid,
            master_channel_frame_count=self.master_frame_count,
            virtual_channel_frame_count=vc_count,
            first_header_pointer=fhp,
            data=data,
            ocf=self._ocf_source() if self.fmt.has_ocf and self._ocf_source else None,
            secondary_header=bytes(self.fmt.secondary_header_len) if self.fmt.secondary_header_len else None,
        )
        self.master_frame_count = (self.master_frame_count + 1) & 0xFF
        self.counters.inc("frames")
        return frame.pack(self.fmt.has_fecf)

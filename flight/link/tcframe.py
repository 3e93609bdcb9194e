"""TC Transfer Frames (CCSDS 232.0-B-4).

Layout: a 5-octet primary header, an optional 1-octet segment header (only on virtual channels
configured to use MAP IDs: nothing in the frame says so, it is a managed parameter), the data field,
and the 2-octet FECF. The frame length field holds the total octet count minus one, so a frame is at
most 1024 octets.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from flight.link.crc import crc16
from flight.link.errors import TcFrameError

PRIMARY_HEADER_LEN = 5
FECF_LEN = 2
MAX_FRAME_LEN = 1024
MAX_SPACECRAFT_ID = 0x3FF
MAX_VCID = 0x3F
MAX_MAP_ID = 0x3F

_HEADER = struct.Struct(">HHB")

UNLOCK = b"\x00"
SET_VR_PREFIX = b"\x82\x00"


class FrameType(enum.Enum):
    """The service a frame belongs to, from its bypass and control-command flags."""

    AD = "AD"  # sequence-controlled data, checked by FARM-1
    BD = "BD"  # expedited data, bypasses FARM-1 checks
    BC = "BC"  # COP-1 control command (Unlock, Set V(R))


class SequenceFlags(enum.IntEnum):
    """Segment header sequence flags (same coding as the space packet's)."""

    CONTINUATION = 0b00
    FIRST = 0b01
    LAST = 0b10
    UNSEGMENTED = 0b11


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    sequence_flags: SequenceFlags = SequenceFlags.UNSEGMENTED
    map_id: int = 0

    def pack(self) -> int:
        return (int(self.sequence_flags) << 6) | self.map_id


@dataclass(frozen=True, slots=True)
class Unlock:
    """BC control command that clears FARM-1 Lockout, Wait and Retransmit."""


@dataclass(frozen=True, slots=True)
class SetVr:
    """BC control command that sets the FARM-1 receiver frame sequence number V(R)."""

    value: int


ControlCommand = Unlock | SetVr


def encode_control(command: ControlCommand) -> bytes:
    if isinstance(command, Unlock):
        return UNLOCK
    if not 0 <= command.value <= 0xFF:
        raise TcFrameError("control", f"Set V(R) value {command.value} out of 0..255")
    return SET_VR_PREFIX + bytes([command.value])


def decode_control(data: bytes) -> ControlCommand:
    """Decode a BC frame's data field; anything but Unlock or Set V(R) is an invalid directive."""
    if data == UNLOCK:
        return Unlock()
    if len(data) == 3 and data[:2] == SET_VR_PREFIX:
        return SetVr(data[2])
    raise TcFrameError("control", f"invalid control command {data.hex() or 'empty'}")


@dataclass(slots=True)
class TcFrame:
    """One TC transfer frame; ``data`` is the data field after the segment header.

    With SDLS, ``data`` holds security header, protected data and MAC: this class does not look
    inside it.
    """

    spacecraft_id: int
    virtual_channel_id: int
    frame_type: FrameType = FrameType.AD
    frame_sequence_number: int = 0
    data: bytes = b""
    segment: SegmentHeader | None = None
    fecf_ok: bool = True

    @property
    def bypass(self) -> bool:
        return self.frame_type is not FrameType.AD

    @property
    def control_command(self) -> bool:
        return self.frame_type is FrameType.BC

    @property
    def control(self) -> ControlCommand:
        """The decoded control command of a BC frame (raises TcFrameError if invalid)."""
        if self.frame_type is not FrameType.BC:
            raise TcFrameError("control_command", "not a BC frame")
        return decode_control(self.data)

    @classmethod
    def bc(cls, spacecraft_id: int, virtual_channel_id: int, command: ControlCommand) -> TcFrame:
        return cls(spacecraft_id, virtual_channel_id, FrameType.BC, 0, encode_control(command))

    def length(self) -> int:
        """Total octets of the packed frame, header and FECF included."""
        return PRIMARY_HEADER_LEN + (self.segment is not None) + len(self.data) + FECF_LEN

    def header(self, total_length: int | None = None) -> bytes:
        """Primary header plus segment header, as SDLS needs them for its AAD.

        ``total_length`` lets SDLS build the header of the frame it is about to produce, whose data
        field is longer than this one's.
        """
        total = self.length() if total_length is None else total_length
        self._check(total)
        first = (int(self.bypass) << 13) | (int(self.control_command) << 12) | self.spacecraft_id
        second = (self.virtual_channel_id << 10) | (total - 1)
        head = _HEADER.pack(first, second, self.frame_sequence_number)
        if self.segment is not None:
            head += bytes([self.segment.pack()])
        return head

    def pack(self) -> bytes:
        body = self.header() + self.data
        return body + crc16(body).to_bytes(2, "big")

    def _check(self, total: int) -> None:
        if not 0 <= self.spacecraft_id <= MAX_SPACECRAFT_ID:
            raise TcFrameError("spacecraft_id", f"{self.spacecraft_id} out of 0..1023")
        if not 0 <= self.virtual_channel_id <= MAX_VCID:
            raise TcFrameError("virtual_channel_id", f"{self.virtual_channel_id} out of 0..63")
        if not 0 <= self.frame_sequence_number <= 0xFF:
            raise TcFrameError("frame_sequence_number", f"{self.frame_sequence_number} out of 0..255")
        if total > MAX_FRAME_LEN:
            raise TcFrameError("frame_length", f"{total} octets exceeds the {MAX_FRAME_LEN}-octet maximum")
        if self.segment is not None:
            if self.frame_type is FrameType.BC:
                raise TcFrameError("segment", "BC frames carry no segment header")
            if not 0 <= self.segment.map_id <= MAX_MAP_ID:
                raise TcFrameError("segment.map_id", f"{self.segment.map_id} out of 0..63")

    @classmethod
    def unpack(cls, raw: bytes, *, segmented: bool = False, strict: bool = True) -> TcFrame:
        """Decode one frame of exactly ``len(raw)`` octets.

        ``segmented`` says whether this virtual channel uses segment headers (BC frames never do).
        With ``strict`` a bad FECF raises; without it the frame is returned with ``fecf_ok`` False,
        which is what an inspector wants.
        """
        n = len(raw)
        if n < PRIMARY_HEADER_LEN + FECF_LEN:
            raise TcFrameError("frame_length", f"{n} octets is shorter than header and FECF")
        first, second, seq = _HEADER.unpack_from(raw)
        if first >> 14:
            raise TcFrameError("version", f"transfer frame version {first >> 14}, expected 0")
        bypass = (first >> 13) & 1
        ctrl = (first >> 12) & 1
        if (first >> 10) & 0b11:
            raise TcFrameError("spare", "reserved spare bits are not zero")
        if ctrl and not bypass:
            raise TcFrameError("control_command", "control command flag set on a Type-A frame")
        declared = (second & 0x3FF) + 1
        if declared != n:
            raise TcFrameError("frame_length", f"header says {declared} octets, received {n}")
        fecf_ok = crc16(raw) == 0
        if strict and not fecf_ok:
            raise TcFrameError("fecf", "frame error control check failed")
        frame_type = FrameType.BC if ctrl else (FrameType.BD if bypass else FrameType.AD)
        start = PRIMARY_HEADER_LEN
        segment = None
        if segmented and frame_type is not FrameType.BC:
            if n < PRIMARY_HEADER_LEN + 1 + FECF_LEN:
                raise TcFrameError("segment", "frame too short for its segment header")
            octet = raw[start]
            segment = SegmentHeader(SequenceFlags(octet >> 6), octet & 0x3F)
            start += 1
        return cls(
            spacecraft_id=first & 0x3FF,
            virtual_channel_id=second >> 10,
            frame_type=frame_type,
            frame_sequence_number=seq,
            data=bytes(raw[start : n - FECF_LEN]),
            segment=segment,
            fecf_ok=fecf_ok,
        )


def declared_length(raw: bytes) -> int:
    """The total length a frame's header declares, for trimming CLTU fill octets."""
    if len(raw) < PRIMARY_HEADER_LEN:
        raise TcFrameError("frame_length", f"{len(raw)} octets is shorter than the primary header")
    return (int.from_bytes(raw[2:4], "big") & 0x3FF) + 1

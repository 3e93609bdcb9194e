"""TM Transfer Frames (CCSDS 132.0-B-3).

Fixed-length frames: a 6-octet primary header, an optional secondary header, the data field, an
optional 4-octet Operational Control Field (the CLCW here) and an optional 2-octet FECF. Length and
FECF presence are managed parameters of the physical channel (:class:`TmChannelFormat`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from flight.link.clcw import CLCW_LEN
from flight.link.crc import crc16
from flight.link.errors import TmFrameError

PRIMARY_HEADER_LEN = 6
FECF_LEN = 2
OCF_LEN = CLCW_LEN
MAX_FRAME_LEN = 2048
MAX_SECONDARY_HEADER_DATA = 63
FHP_NO_PACKET_START = 0x7FF  # the frame only continues a packet begun earlier
FHP_IDLE = 0x7FE  # only idle data: an OID frame
IDLE_VCID = 7  # mission convention for OID frames

_HEADER = struct.Struct(">HBBH")


@dataclass(frozen=True, slots=True)
class TmChannelFormat:
    """Managed parameters of one TM physical channel."""

    spacecraft_id: int
    frame_length: int = 1115  # 5 x 223: fits an RS(255,223) codeblock with interleave depth 5
    has_ocf: bool = True
    has_fecf: bool = True
    secondary_header_len: int = 0  # data octets after the secondary header's ID octet; 0 = none

    def __post_init__(self) -> None:
        if not 0 <= self.spacecraft_id <= 0x3FF:
            raise TmFrameError("spacecraft_id", f"{self.spacecraft_id} out of 0..1023")
        if not 0 <= self.secondary_header_len <= MAX_SECONDARY_HEADER_DATA:
            raise TmFrameError("secondary_header", f"{self.secondary_header_len} octets out of 0..63")
        if self.data_field_len < 8 or self.frame_length > MAX_FRAME_LEN:
            raise TmFrameError("frame_length", f"{self.frame_length} octets leaves no room or exceeds 2048")

    @property
    def data_field_len(self) -> int:
        overhead = PRIMARY_HEADER_LEN + OCF_LEN * self.has_ocf + FECF_LEN * self.has_fecf
        if self.secondary_header_len:
            overhead += 1 + self.secondary_header_len
        return self.frame_length - overhead


@dataclass(slots=True)
class TmFrame:
    spacecraft_id: int
    virtual_channel_id: int
    master_channel_frame_count: int
    virtual_channel_frame_count: int
    first_header_pointer: int
    data: bytes
    ocf: bytes | None = None
    secondary_header: bytes | None = None
    sync_flag: bool = False
    packet_order_flag: bool = False
    segment_length_id: int = 0b11
    fecf_ok: bool = True

    def pack(self, has_fecf: bool = True) -> bytes:
        if not 0 <= self.spacecraft_id <= 0x3FF:
            raise TmFrameError("spacecraft_id", f"{self.spacecraft_id} out of 0..1023")
        if not 0 <= self.virtual_channel_id <= 7:
            raise TmFrameError("virtual_channel_id", f"{self.virtual_channel_id} out of 0..7")
        if not 0 <= self.first_header_pointer <= 0x7FF:
            raise TmFrameError("first_header_pointer", f"{self.first_header_pointer} out of 0..0x7FF")
        first = (self.spacecraft_id << 4) | (self.virtual_channel_id << 1) | (self.ocf is not None)
        status = (
            (self.secondary_header is not None) << 15
            | int(self.sync_flag) << 14
            | int(self.packet_order_flag) << 13
            | (self.segment_length_id & 0b11) << 11
            | self.first_header_pointer
        )
        parts = [
            _HEADER.pack(
                first, self.master_channel_frame_count & 0xFF, self.virtual_channel_frame_count & 0xFF, status
            )
        ]
        if self.secondary_header is not None:
            if not 1 <= len(self.secondary_header) <= MAX_SECONDARY_HEADER_DATA:
                raise TmFrameError("secondary_header", f"{len(self.secondary_header)} data octets out of 1..63")
            # The length field counts the whole secondary header (ID octet included) minus one.
            parts.append(bytes([len(self.secondary_header)]) + self.secondary_header)
        parts.append(self.data)
        if self.ocf is not None:
            if len(self.ocf) != OCF_LEN:
                raise TmFrameError("ocf", f"{len(self.ocf)} octets, the OCF is {OCF_LEN}")
            parts.append(self.ocf)
        body = b"".join(parts)
        if has_fecf:
            body += crc16(body).to_bytes(2, "big")
        if len(body) > MAX_FRAME_LEN:
            raise TmFrameError("frame_length", f"{len(body)} octets exceeds {MAX_FRAME_LEN}")
        return body

    @classmethod
    def unpack(cls, raw: bytes, *, has_fecf: bool = True, frame_length: int | None = None,
               strict: bool = True) -> TmFrame:
        """Decode one frame; ``frame_length`` (the channel's fixed length) is checked when given."""
        n = len(raw)
        if frame_length is not None and n != frame_length:
            raise TmFrameError("frame_length", f"received {n} octets, the channel's frames are {frame_length}")
        if n < PRIMARY_HEADER_LEN + FECF_LEN * has_fecf:
            raise TmFrameError("frame_length", f"{n} octets is shorter than the primary header")
        if n > MAX_FRAME_LEN:
            raise TmFrameError("frame_length", f"{n} octets exceeds {MAX_FRAME_LEN}")
        first, mc_count, vc_count, status = _HEADER.unpack_from(raw)
        if first >> 14:
            raise TmFrameError("version", f"transfer frame version {first >> 14}, expected 0")
        fecf_ok = not has_fecf or crc16(raw) == 0
        if strict and not fecf_ok:
            raise TmFrameError("fecf", "frame error control check failed")
        end = n - FECF_LEN * has_fecf
        ocf = None
        if first & 1:
            end -= OCF_LEN
            if end < PRIMARY_HEADER_LEN:
                raise TmFrameError("ocf", "frame too short for its operational control field")
            ocf = bytes(raw[end : end + OCF_LEN])
        start = PRIMARY_HEADER_LEN
        secondary = None
        if status >> 15:
            if end <= start:
                raise TmFrameError("secondary_header", "frame too short for its secondary header")
            id_octet = raw[start]
            if id_octet >> 6:
                raise TmFrameError("secondary_header", f"version {id_octet >> 6}, expected 0")
            if not id_octet & 0x3F:
                raise TmFrameError("secondary_header", "a secondary header holds at least one data octet")
            stop = start + (id_octet & 0x3F) + 1
            if stop > end:
                raise TmFrameError("secondary_header", "secondary header runs past the data field")
            secondary = bytes(raw[start + 1 : stop])
            start = stop
        sync = bool(status >> 14 & 1)
        fhp = status & 0x7FF
        data = bytes(raw[start:end])
        if not sync and fhp not in (FHP_NO_PACKET_START, FHP_IDLE) and fhp >= len(data):
            raise TmFrameError("first_header_pointer", f"{fhp} points past the {len(data)}-octet data field")
        return cls(
            spacecraft_id=(first >> 4) & 0x3FF,
            virtual_channel_id=(first >> 1) & 0b111,
            master_channel_frame_count=mc_count,
            virtual_channel_frame_count=vc_count,
            first_header_pointer=fhp,
            data=data,
            ocf=ocf,
            secondary_header=secondary,
            sync_flag=sync,
            packet_order_flag=bool(status >> 13 & 1),
            segment_length_id=(status >> 11) & 0b11,
            fecf_ok=fecf_ok,
        )

"""Space packets and PUS-C through ``spacepackets``, with Zenith's typed errors at the edge.

spacepackets raises a variety of exceptions (ValueError, its own BytesTooShortError, struct errors)
when fed garbage; the decoders here turn every one of them into a :class:`PacketError`, so that the
rest of Zenith needs one ``except``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from spacepackets.ecss import PusTc, PusTm

from flight.link.errors import PacketError

PRIMARY_HEADER_LEN = 6
MIN_PACKET_LEN = 7
MAX_PACKET_LEN = 65542
IDLE_APID = 0x7FF
SEQUENCE_COUNT_MODULO = 1 << 14
PUS_VERSION = 2
ACK_ALL = 0b1111  # acceptance, start, progress, completion
_HEADER = struct.Struct(">HHH")


@dataclass(frozen=True, slots=True)
class PacketHeader:
    """The 6-octet space packet primary header (CCSDS 133.0-B-2)."""

    packet_type: int  # 0 telemetry, 1 telecommand
    secondary_header_flag: bool
    apid: int
    sequence_flags: int
    sequence_count: int
    data_length: int  # octets in the packet data field (the field holds this minus one)

    @property
    def total_length(self) -> int:
        return PRIMARY_HEADER_LEN + self.data_length

    @property
    def is_idle(self) -> bool:
        return self.apid == IDLE_APID

    @classmethod
    def unpack(cls, raw: bytes) -> PacketHeader:
        if len(raw) < PRIMARY_HEADER_LEN:
            raise PacketError("header", f"{len(raw)} octets is shorter than the primary header")
        ident, seq, length = _HEADER.unpack_from(raw)
        if ident >> 13:
            raise PacketError("version", f"packet version {ident >> 13}, expected 0")
        return cls(
            packet_type=(ident >> 12) & 1,
            secondary_header_flag=bool(ident >> 11 & 1),
            apid=ident & 0x7FF,
            sequence_flags=seq >> 14,
            sequence_count=seq & 0x3FFF,
            data_length=length + 1,
        )


def _check_pus(raw: bytes, packet_type: int, what: str) -> None:
    """The checks spacepackets leaves to us, on the raw header (no objects: this is the hot path)."""
    if len(raw) < PRIMARY_HEADER_LEN:
        raise PacketError("header", f"{len(raw)} octets is shorter than the primary header")
    ident, _, length = _HEADER.unpack_from(raw)
    if ident >> 13:
        raise PacketError("version", f"packet version {ident >> 13}, expected 0")
    if length + PRIMARY_HEADER_LEN + 1 != len(raw):
        raise PacketError("data_length", f"header says {length + PRIMARY_HEADER_LEN + 1} octets, received {len(raw)}")
    if (ident >> 12) & 1 != packet_type:
        raise PacketError("packet_type", f"{'telemetry' if packet_type else 'telecommand'} where {what} was expected")
    if not (ident >> 11) & 1:
        raise PacketError("secondary_header_flag", f"PUS {what}s carry a secondary header")


def cut_packets(data: bytes) -> tuple[list[bytes], int, bool]:
    """Cut the complete space packets off the front of a byte stream, idle packets included.

    Returns them in order, the offset where the unfinished rest begins, and whether that rest begins
    with a header that is not a version-0 packet's (the stream is corrupt there, not merely cut short).
    """
    packets = []
    pos, size = 0, len(data)
    while size - pos >= PRIMARY_HEADER_LEN:
        if data[pos] >> 5:
            return packets, pos, True
        end = pos + PRIMARY_HEADER_LEN + 1 + ((data[pos + 4] << 8) | data[pos + 5])
        if end > size:
            break
        packets.append(data[pos:end] if pos or end != size else data)
        pos = end
    return packets, pos, False


def packet_apid(packet: bytes) -> int | None:
    """The APID of a space packet, read from its first two octets; None if it is too short to have one."""
    return ((packet[0] & 0x07) << 8) | packet[1] if len(packet) >= 2 else None


def is_idle(packet: bytes) -> bool:
    return packet_apid(packet) == IDLE_APID


def idle_packet(length: int, pattern: int = 0x55) -> bytes:
    """An idle packet (APID 0x7FF) of exactly ``length`` octets, used to fill TM frames."""
    if not MIN_PACKET_LEN <= length <= MAX_PACKET_LEN:
        raise PacketError("data_length", f"idle packet of {length} octets out of 7..65542")
    return _HEADER.pack(IDLE_APID, 0b11 << 14, length - PRIMARY_HEADER_LEN - 1) + bytes(
        [pattern]
    ) * (length - PRIMARY_HEADER_LEN)


class SequenceCounter:
    """Per-APID packet sequence counts, modulo 16384, so that the ground can find gaps."""

    def __init__(self, start: dict[int, int] | None = None) -> None:
        self._next: dict[int, int] = dict(start or {})

    def next(self, apid: int) -> int:
        count = self._next.get(apid, 0)
        self._next[apid] = (count + 1) % SEQUENCE_COUNT_MODULO
        return count

    def state(self) -> dict[int, int]:
        return dict(self._next)


def build_tc(apid: int, service: int, subtype: int, app_data: bytes = b"", seq_count: int = 0,
             source_id: int = 0, ack_flags: int = ACK_ALL) -> bytes:
    tc = PusTc(service=service, message_subtype=subtype, apid=apid, app_data=app_data, seq_count=seq_count,
               source_id=source_id, ack_flags=ack_flags)
    return bytes(tc.pack())


def build_tm(apid: int, service: int, subtype: int, source_data: bytes, timestamp: bytes,
             seq_count: int = 0, message_counter: int = 0, destination_id: int = 0) -> bytes:
    tm = PusTm(service=service, message_subtype=subtype, timestamp=timestamp, source_data=source_data,
               apid=apid, seq_count=seq_count, message_counter=message_counter, destination_id=destination_id)
    return bytes(tm.pack())


def parse_tc(raw: bytes) -> PusTc:
    """Decode a PUS-C telecommand (CRC checked); any failure is a PacketError."""
    _check_pus(raw, 1, "telecommand")
    try:
        return PusTc.unpack(raw)
    except Exception as exc:  # spacepackets signals garbage with many exception types
        raise PacketError("pus", f"not a valid PUS-C telecommand: {exc}") from None


def parse_tm(raw: bytes, timestamp_len: int) -> PusTm:
    """Decode a PUS-C telemetry packet whose time field is ``timestamp_len`` octets."""
    _check_pus(raw, 0, "telemetry packet")
    try:
        return PusTm.unpack(raw, timestamp_len=timestamp_len)
    except Exception as exc:  # see parse_tc
        raise PacketError("pus", f"not a valid PUS-C telemetry packet: {exc}") from None


def request_id(tc_raw: bytes) -> bytes:
    """PUS-C request ID: the first 4 octets of the telecommand's primary header."""
    return bytes(tc_raw[:4])

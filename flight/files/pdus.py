"""CFDP PDUs on the link: one PDU per space packet on the CFDP APID, no PUS header (CFDP carries its
own), and the decoder that turns whatever arrives into a PDU or a typed, countable refusal.

spacepackets raises a variety of exceptions on garbage (ValueError, its BytesTooShortError,
InvalidCrcError, IndexError from a short LV...); :func:`decode_pdu` turns each into a PduRejected
whose ``reason`` says which check it failed.
"""

from __future__ import annotations

import struct

from spacepackets.cfdp import GenericPduPacket
from spacepackets.cfdp.pdu import MetadataPdu, PduFactory
from spacepackets.exceptions import BytesTooShortError

from flight.files.errors import PduRejected
from flight.link.errors import PacketError
from flight.link.pus import PRIMARY_HEADER_LEN, SEQUENCE_COUNT_MODULO, PacketHeader

_HEADER = struct.Struct(">HHH")
MIN_PDU = 8  # the shortest PDU header (1-octet IDs and sequence number)


def wrap_pdu(apid: int, seq_count: int, pdu: bytes, telecommand: bool) -> bytes:
    """A space packet (no secondary header) carrying one PDU."""
    ident = (int(telecommand) << 12) | (apid & 0x7FF)
    return _HEADER.pack(ident, (0b11 << 14) | (seq_count % SEQUENCE_COUNT_MODULO), len(pdu) - 1) + pdu


def unwrap_pdu(packet: bytes) -> bytes:
    """The PDU a space packet carries; PduRejected if the packet is not one of ours."""
    try:
        header = PacketHeader.unpack(packet)
    except PacketError as exc:
        raise PduRejected("packet", f"not a space packet: {exc}") from None
    if header.total_length != len(packet):
        raise PduRejected("packet", f"packet of {len(packet)} octets declares {header.total_length}")
    if header.secondary_header_flag:
        raise PduRejected("packet", "CFDP packets carry no secondary header")
    return bytes(packet[PRIMARY_HEADER_LEN:])


def decode_pdu(raw: bytes) -> GenericPduPacket:
    """The PDU in ``raw``, checked as far as spacepackets checks (header, lengths, the PDU CRC)."""
    if len(raw) < MIN_PDU:
        raise PduRejected("short", f"{len(raw)} octets is shorter than any PDU header")
    if raw[0] >> 5 != 0b001:
        raise PduRejected("version", f"CFDP version {raw[0] >> 5}, expected 1 (CCSDS 727.0-B-5)")
    try:
        pdu = PduFactory.from_raw(raw)
    except BytesTooShortError:
        raise PduRejected("short", "the PDU is shorter than its fields say") from None
    except Exception as exc:  # whatever spacepackets raises on garbage: one typed refusal
        raise PduRejected("malformed", f"{type(exc).__name__}: {exc}") from None
    if pdu is None:
        raise PduRejected("malformed", "not a known PDU type")
    if isinstance(pdu, MetadataPdu):
        try:  # spacepackets decodes names and options lazily: garbage there would surface later
            _ = (pdu.source_file_name, pdu.dest_file_name, pdu.options_as_tlv())
        except Exception as exc:
            raise PduRejected("metadata", f"{type(exc).__name__}: {exc}") from None
    declared = pdu.pdu_header.packet_len if hasattr(pdu, "pdu_header") else len(raw)
    if declared != len(raw):
        raise PduRejected("length", f"the PDU header declares {declared} octets, the packet holds {len(raw)}")
    return pdu

"""CRC-16/CCITT-FALSE, the FECF of TC and TM frames and the PUS packet error control.

Polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR; check value 0x29B1 over
"123456789". Other "CCITT" variants (KERMIT, X-25, XMODEM) are wrong here.
"""

from __future__ import annotations

import crcmod.predefined

crc16 = crcmod.predefined.mkPredefinedCrcFun("crc-ccitt-false")
"""crc16(data: bytes) -> int, computed by crcmod's C extension."""

CHECK_VALUE = 0x29B1


def append_crc(data: bytes) -> bytes:
    """Return ``data`` followed by its big-endian CRC-16."""
    return data + crc16(data).to_bytes(2, "big")


def crc_ok(data_with_crc: bytes) -> bool:
    """A block that ends in its own CRC yields a CRC of zero over all of it."""
    return crc16(data_with_crc) == 0

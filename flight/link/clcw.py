"""The Communications Link Control Word (CCSDS 232.0-B-4 4.2), FARM-1's report to FOP-1.

It travels in the Operational Control Field of every TM frame. Its report value is V(R), the
sequence number FARM-1 expects next: every AD frame before it has been accepted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from flight.link.errors import ClcwError

CLCW_LEN = 4
COP_1 = 0b01
_WORD = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Clcw:
    virtual_channel_id: int
    report_value: int = 0
    lockout: bool = False
    wait: bool = False
    retransmit: bool = False
    farm_b_counter: int = 0
    no_rf_available: bool = False
    no_bitlock: bool = False
    status_field: int = 0
    cop_in_effect: int = COP_1

    def pack(self) -> bytes:
        if not 0 <= self.virtual_channel_id <= 0x3F:
            raise ClcwError("virtual_channel_id", f"{self.virtual_channel_id} out of 0..63")
        if not 0 <= self.report_value <= 0xFF:
            raise ClcwError("report_value", f"{self.report_value} out of 0..255")
        word = (
            (self.status_field & 0b111) << 26
            | (self.cop_in_effect & 0b11) << 24
            | self.virtual_channel_id << 18
            | int(self.no_rf_available) << 15
            | int(self.no_bitlock) << 14
            | int(self.lockout) << 13
            | int(self.wait) << 12
            | int(self.retransmit) << 11
            | (self.farm_b_counter & 0b11) << 9
            | self.report_value
        )
        return _WORD.pack(word)

    @classmethod
    def unpack(cls, raw: bytes) -> Clcw:
        if len(raw) != CLCW_LEN:
            raise ClcwError("length", f"{len(raw)} octets, a CLCW is {CLCW_LEN}")
        (word,) = _WORD.unpack(raw)
        if word >> 31:
            raise ClcwError("control_word_type", "type 1: not a CLCW (a Type-2 report such as the SDLS FSR)")
        if (word >> 29) & 0b11:
            raise ClcwError("version", f"CLCW version {(word >> 29) & 0b11}, expected 0")
        return cls(
            virtual_channel_id=(word >> 18) & 0x3F,
            report_value=word & 0xFF,
            lockout=bool(word >> 13 & 1),
            wait=bool(word >> 12 & 1),
            retransmit=bool(word >> 11 & 1),
            farm_b_counter=(word >> 9) & 0b11,
            no_rf_available=bool(word >> 15 & 1),
            no_bitlock=bool(word >> 14 & 1),
            status_field=(word >> 26) & 0b111,
            cop_in_effect=(word >> 24) & 0b11,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "virtual_channel_id": self.virtual_channel_id,
            "cop_in_effect": self.cop_in_effect,
            "no_rf_available": self.no_rf_available,
            "no_bitlock": self.no_bitlock,
            "lockout": self.lockout,
            "wait": self.wait,
            "retransmit": self.retransmit,
            "farm_b_counter": self.farm_b_counter,
            "report_value": self.report_value,
        }

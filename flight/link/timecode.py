"""CCSDS Unsegmented time Code (CUC, CCSDS 301.0-B-4 3.2), Zenith's one TM time format.

The dictionary fixes it (``mission.tm_time``): an agency-defined epoch of 1970-01-01T00:00:00 UTC
counted in POSIX seconds (leap seconds are not counted, exactly like the supervisor's clock),
4 octets of coarse time and 2 of fine time (units of 2^-16 s). The P-field is implicit, not sent,
as PUS-C allows; its value would be 0x2E.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flight.link.errors import TimeCodeError


@dataclass(frozen=True, slots=True)
class CucFormat:
    coarse_octets: int = 4
    fine_octets: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.coarse_octets <= 4 or not 0 <= self.fine_octets <= 3:
            raise TimeCodeError("format", f"CUC {self.coarse_octets}+{self.fine_octets} octets is not allowed")
        if self.length > 6:
            # Times are floats here: 53 bits of mantissa hold at most 6 octets of CUC exactly.
            raise TimeCodeError("format", f"CUC {self.coarse_octets}+{self.fine_octets} octets exceeds 6 octets")

    @property
    def length(self) -> int:
        return self.coarse_octets + self.fine_octets

    @property
    def p_field(self) -> int:
        """The implicit P-field: agency epoch (code 010), octet counts less one and as given."""
        return 0b0_010_00_00 | (self.coarse_octets - 1) << 2 | self.fine_octets

    def encode(self, seconds: float) -> bytes:
        """Seconds since the epoch to the T-field; the fine part is truncated, never rounded up."""
        if not math.isfinite(seconds):
            raise TimeCodeError("coarse", f"{seconds} is not a time")
        if seconds < 0:
            raise TimeCodeError("coarse", f"{seconds} s is before the epoch")
        coarse = int(seconds)
        if coarse >= 1 << (8 * self.coarse_octets):
            raise TimeCodeError("coarse", f"{seconds} s overflows {self.coarse_octets} coarse octets")
        fine = int((seconds - coarse) * (1 << (8 * self.fine_octets)))
        return coarse.to_bytes(self.coarse_octets, "big") + fine.to_bytes(self.fine_octets, "big")

    def decode(self, raw: bytes) -> float:
        if len(raw) != self.length:
            raise TimeCodeError("length", f"{len(raw)} octets, this CUC is {self.length}")
        coarse = int.from_bytes(raw[: self.coarse_octets], "big")
        fine = int.from_bytes(raw[self.coarse_octets :], "big")
        return coarse + fine / (1 << (8 * self.fine_octets))

    def resolution(self) -> float:
        return 1.0 / (1 << (8 * self.fine_octets))

"""Which bits of an element an upset may hit: the names the bench, the supervisor and the workers share.

Torch-free, so that the supervisor can check a bench request's bit class without importing torch;
:mod:`flight.seu.bitflip` maps each class to bit positions per dtype.
"""

from __future__ import annotations

import enum


class BitClass(enum.Enum):
    ANY = "any"  # uniform over every bit of the element
    SIGN = "sign"
    EXPONENT = "exponent"
    MANTISSA = "mantissa"


BIT_CLASSES = tuple(c.value for c in BitClass)

"""Communications Link Transmission Units (CCSDS 231.0-B-4): BCH(63,56) codeblocks and the TC randomizer.

A CLTU is the start sequence EB 90, codeblocks of 7 information octets and 1 parity octet, and the tail
sequence C5 C5 C5 C5 C5 C5 C5 79. The parity is the remainder of the block by g(x) = x^7+x^6+x^2+1,
complemented, followed by a 0 filler bit. The code corrects one bit error per codeblock (and detects
two); the tail sequence is built to fail decoding, which is how the receiver finds the end. The
optional randomizer, h(x) = x^8+x^6+x^4+x^3+x^2+x+1 from all ones, is XORed over the frame before
encoding so that the bit stream keeps enough transitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import crcmod

from flight.counters import Counters
from flight.link.errors import CltuError, TcFrameError
from flight.link.tcframe import FECF_LEN, MAX_FRAME_LEN, PRIMARY_HEADER_LEN, declared_length

START_SEQUENCE = b"\xeb\x90"
TAIL_SEQUENCE = b"\xc5\xc5\xc5\xc5\xc5\xc5\xc5\x79"
INFO_LEN = 7
BLOCK_LEN = 8
FILL = 0x55
MIN_FRAME_LEN = PRIMARY_HEADER_LEN + FECF_LEN
_GENERATOR_LOW = 0b1000101  # g(x) below x^7: x^6 + x^2 + 1


# The 7 parity bits are the remainder of m(x)·x^7 by g(x). Computed as an 8-bit CRC with the generator
# x·g(x) = x^8 + x^7 + x^3 + x (no reflection, initial value 0), they come out shifted left by one,
# exactly where the codeblock wants them, with the filler bit 0: crcmod does it in C.
_bch_remainder = crcmod.mkCrcFun(0x100 | _GENERATOR_LOW << 1, initCrc=0, rev=False, xorOut=0)


def parity_octet(info: bytes) -> int:
    """The eighth octet of a codeblock: complemented BCH parity bits, then the 0 filler bit."""
    return ~_bch_remainder(info) & 0xFE


def _syndrome_positions() -> dict[int, int]:
    """Syndrome of each single-bit error (bit i of the 64-bit block, filler excluded)."""
    positions = {}
    zero = bytes(INFO_LEN)
    reference = parity_octet(zero)
    for bit in range(63):
        block = bytearray(zero + bytes([reference]))
        block[bit // 8] ^= 0x80 >> (bit % 8)
        syndrome = parity_octet(bytes(block[:INFO_LEN])) ^ block[INFO_LEN]
        positions[syndrome & 0xFE] = bit
    return positions


_SINGLE_ERRORS = _syndrome_positions()


def _randomizer_sequence(length: int) -> bytes:
    state = [1] * 8
    bits = []
    for _ in range(length * 8):
        bits.append(state[0])
        feedback = state[0] ^ state[1] ^ state[2] ^ state[3] ^ state[4] ^ state[6]
        state = state[1:] + [feedback]
    return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


_RANDOM = _randomizer_sequence(MAX_FRAME_LEN + INFO_LEN)


def randomize(data: bytes) -> bytes:
    """XOR with the TC pseudo-random sequence (its own inverse)."""
    n = len(data)
    if n > len(_RANDOM):
        raise CltuError("length", f"{n} octets exceeds the largest TC frame")
    return (int.from_bytes(data, "big") ^ int.from_bytes(_RANDOM[:n], "big")).to_bytes(n, "big")


@dataclass(frozen=True, slots=True)
class CltuConfig:
    randomize: bool = True
    correct_errors: bool = True  # single-error correction; off = triple-error-detection-style reject


class CltuCodec:
    def __init__(self, config: CltuConfig = CltuConfig()) -> None:
        self.config = config
        self.counters = Counters("cltu")

    def encode(self, frame: bytes) -> bytes:
        data = randomize(frame) if self.config.randomize else frame
        data += bytes([FILL]) * (-len(data) % INFO_LEN)
        out = bytearray(START_SEQUENCE)
        for start in range(0, len(data), INFO_LEN):
            info = data[start : start + INFO_LEN]
            out += info
            out.append(~_bch_remainder(info) & 0xFE)
        out += TAIL_SEQUENCE
        return bytes(out)

    def decode(self, cltu: bytes) -> bytes:
        """Recover the TC frame from one CLTU (fill octets trimmed by the frame's length field)."""
        try:
            return self._decode(cltu)
        except CltuError as exc:
            self.counters.inc(f"rejected_{exc.field}")
            raise

    def _decode(self, cltu: bytes) -> bytes:
        start = cltu.find(START_SEQUENCE)
        if start < 0:
            raise CltuError("start_sequence", "no EB 90 start sequence")
        if any(b not in (0x55, 0xAA) for b in cltu[:start]):
            raise CltuError("start_sequence", "octets before the start sequence are not an acquisition sequence")
        pos = start + len(START_SEQUENCE)
        info = bytearray()
        while True:
            # Decoding stops at the first codeblock that does not decode: normally the tail
            # sequence, which is built to fail, but a hit tail or a ruined block ends it as well.
            block = cltu[pos : pos + BLOCK_LEN]
            if len(block) < BLOCK_LEN:
                raise CltuError("tail_sequence", "CLTU ends without a tail sequence")
            decoded = self._check_block(bytes(block))
            if decoded is None:
                break
            self.counters.inc("codeblocks")
            info += decoded
            pos += BLOCK_LEN
        if not info:
            raise CltuError("codeblocks", "CLTU has no codeblocks")
        data = randomize(bytes(info)) if self.config.randomize else bytes(info)
        try:
            length = declared_length(data)
        except TcFrameError:
            raise CltuError("frame_length", "too short to hold a TC frame header") from None
        if length < MIN_FRAME_LEN or length > len(data) or len(data) - length >= INFO_LEN:
            raise CltuError("frame_length", f"frame declares {length} octets, codeblocks carry {len(data)}")
        self.counters.inc("decoded")
        return data[:length]

    def _check_block(self, block: bytes) -> bytes | None:
        """The information octets of a codeblock, corrected if allowed; None if it does not decode."""
        syndrome = (parity_octet(block[:INFO_LEN]) ^ block[INFO_LEN]) & 0xFE
        if syndrome == 0:
            return block[:INFO_LEN]
        bit = _SINGLE_ERRORS.get(syndrome)
        if bit is None or not self.config.correct_errors:
            return None
        fixed = bytearray(block)
        fixed[bit // 8] ^= 0x80 >> (bit % 8)
        self.counters.inc("corrected_bits")
        return bytes(fixed[:INFO_LEN])

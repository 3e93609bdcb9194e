"""Independent reference implementations and shared hypothesis strategies for the link tests.

The references (CRC, bit packing, packet stream cutting) do not use Zenith's codecs: they are written
from the bit tables in /work/shared/ccsds-notes.md so that a test compares Zenith against a second
implementation.
"""

from __future__ import annotations

from hypothesis import strategies as st

from flight.link.errors import ZenithError


def crc16_ref(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bit by bit: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    reg = 0xFFFF
    for byte in data:
        reg ^= byte << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021) & 0xFFFF if reg & 0x8000 else (reg << 1) & 0xFFFF
    return reg


def with_fecf(body: bytes) -> bytes:
    return body + crc16_ref(body).to_bytes(2, "big")


def bits(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def from_bits(text: str) -> bytes:
    """Octets from a string of 0/1 (spaces and underscores ignored), most significant bit first."""
    text = text.replace(" ", "").replace("_", "")
    assert len(text) % 8 == 0, len(text)
    return int(text, 2).to_bytes(len(text) // 8, "big")


def only_zenith_errors(call, *args, **kwargs):
    """Run a decoder on garbage: it may succeed or raise a ZenithError, nothing else."""
    try:
        return call(*args, **kwargs)
    except ZenithError:
        return None


GARBAGE = st.binary(max_size=2100)
SMALL_GARBAGE = st.binary(max_size=64)


# --- space packet streams for the mux/demux tests ---------------------------------------------------

def make_packet(size: int, apid: int, seq: int, content: bytes) -> bytes:
    """A version-0 TM space packet of exactly ``size`` octets (size >= 7); ``content`` is repeated."""
    assert size >= 7 and 0 <= apid < 0x7FF
    header = apid.to_bytes(2, "big") + ((0b11 << 14) | (seq & 0x3FFF)).to_bytes(2, "big")
    header += (size - 7).to_bytes(2, "big")
    body = (content or b"\xa5") * (size // max(1, len(content)) + 1)
    return header + body[: size - 6]


def packets_in_stream(stream: bytes) -> list[tuple[int, int, bytes]]:
    """Cut a VC's octet stream (which begins with a packet header) into (start, end, packet)."""
    out = []
    pos = 0
    while len(stream) - pos >= 6:
        end = pos + int.from_bytes(stream[pos + 4 : pos + 6], "big") + 7
        if end > len(stream):
            break
        out.append((pos, end, stream[pos:end]))
        pos = end
    return out


def is_idle(packet: bytes) -> bool:
    return int.from_bytes(packet[:2], "big") & 0x7FF == 0x7FF


@st.composite
def mux_scenarios(draw, vcids=(0, 1, 2), max_frame_len: int = 260):
    """A TM channel format and a list of operations: ("push", vcid, size, seed) or ("frame",)."""
    frame_length = draw(st.integers(24, max_frame_len))
    has_ocf = draw(st.booleans())
    has_fecf = draw(st.booleans())
    secondary = draw(st.sampled_from([0, 0, 1, 5]))
    data_len = frame_length - 6 - 4 * has_ocf - 2 * has_fecf - (1 + secondary if secondary else 0)
    if data_len < 8:
        frame_length += 8 - data_len
        data_len = 8
    sizes = st.one_of(
        st.integers(7, 40),
        st.integers(7, 3 * data_len + 10),
        st.integers(1, 6).map(lambda k: max(7, data_len - k)),  # forces 1..6 octets of idle padding
        st.sampled_from([data_len, data_len + 1, 2 * data_len]),
    )
    push = st.tuples(st.just("push"), st.sampled_from(vcids), sizes, st.integers(0, 2**16))
    ops = draw(st.lists(st.one_of(push, push, st.just(("frame",))), min_size=3, max_size=60))
    return (frame_length, has_ocf, has_fecf, secondary), ops

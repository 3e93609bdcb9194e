"""Space Data Link Security (CCSDS 355.0-B-2) for TC frames: AES-GCM authentication and encryption.

A protected frame's data field is ``SPI | IV | SN | data | MAC``; which parts are present and how long
they are is not in the frame but in the Security Association that the SPI names, configured the way
NASA CryptoLib configures its SAs (transmitted IV length, sequence-number length, MAC length,
authentication bit mask). BC frames (Unlock, Set V(R)) stay in clear, as 232.0-B-4 requires, so that
the ground can always recover COP-1.

Anti-replay and COP-1: FOP-1 retransmits bit-identical frames, so a frame keeps its IV and sequence
number. Were the window advanced by every authentic frame, dropping frame n and delivering n+1 would
make the retransmitted n look like a replay, and the link would stall. Here a frame is verified by
:meth:`Sdls.process` but its anti-replay value is only *committed* once FARM-1 accepts the frame; the
check itself is the standard's strict one (a value above the highest committed, within the window).
Two more things keep that sound under COP-1:

* Type-A and Type-B frames count in two sequences of their own, the most significant bit of the IV
  (and of the sequence number) telling them apart: a BD frame accepted ahead of retransmitted AD
  frames must not make them look old, and a long run of one kind must not leave the other behind.
  Every IV stays unique under the key; the bypass flag is authenticated, so a frame cannot be moved
  from one sequence to the other;
* the ground resends the frames an alert purged bit-identically (same N(S), same IV), never under a
  new IV, so no authentic, uncommitted copy of a command is ever left behind to be replayed.

A sender that keeps its counters on stable storage (:attr:`Sdls.on_reserve`) reserves them in blocks
smaller than a quarter of the anti-replay window, so that after a restart it is still inside it.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from flight.counters import Counters
from flight.link.crc import crc16
from flight.link.errors import ConfigError, SdlsError
from flight.link.keys import KeyRing
from flight.link.tcframe import FrameType, TcFrame

SPI_LEN = 2
FULL_MAC_LEN = 16


class ServiceType(enum.Enum):
    AUTHENTICATION = "authentication"
    AUTHENTICATED_ENCRYPTION = "authenticated_encryption"


@dataclass(frozen=True, slots=True)
class SecurityAssociation:
    """Managed parameters of one SA (names follow CryptoLib's where they have one)."""

    spi: int
    key_id: str
    virtual_channel_ids: tuple[int, ...] = (0,)
    service: ServiceType = ServiceType.AUTHENTICATED_ENCRYPTION
    iv_len: int = 12  # GCM nonce
    transmitted_iv_len: int = 12  # shivf_len: low-order IV octets sent; the rest is reconstructed
    sn_len: int = 0  # arsn_len: 0 means the IV itself is the anti-replay sequence number
    transmitted_sn_len: int = 0  # shsnf_len
    mac_len: int = 16  # stmacf_len: truncated GCM tag, 4..16
    abm: bytes = b""  # authentication bit mask over the AAD; octets past its end are all ones
    replay_window: int = 4096  # how far above the highest committed value a fresh one may be

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.spi <= 0xFFFF:
            problems.append(f"spi {self.spi} out of 0..65535")
        if self.iv_len != 12:
            problems.append("AES-GCM here uses a 96-bit IV (iv_len 12)")
        if not 0 <= self.transmitted_iv_len <= self.iv_len:
            problems.append("transmitted_iv_len must be within 0..iv_len")
        if not 0 <= self.sn_len <= 8 or not 0 <= self.transmitted_sn_len <= self.sn_len:
            problems.append("sn_len must be 0..8 and transmitted_sn_len within 0..sn_len")
        if self.sn_len == 0 and self.transmitted_iv_len == 0:
            problems.append("with no sequence number the IV must be (partly) transmitted")
        if self.sn_len and self.transmitted_sn_len == 0:
            problems.append("a sequence number must be (partly) transmitted")
        if self.sn_len and self.transmitted_iv_len < self.iv_len:
            # Anti-replay then runs on the sequence number, leaving nothing to rebuild the IV from.
            problems.append("an SA with a sequence number must transmit its whole IV")
        if not 4 <= self.mac_len <= FULL_MAC_LEN:
            problems.append(f"mac_len {self.mac_len} out of 4..16")
        if not 4 <= self.replay_window <= 1 << 20:
            problems.append("replay_window out of 4..1048576")
        if problems:
            raise ConfigError(f"security association {self.spi}: " + "; ".join(problems))

    @property
    def header_len(self) -> int:
        return SPI_LEN + self.transmitted_iv_len + self.transmitted_sn_len

    @property
    def overhead(self) -> int:
        return self.header_len + self.mac_len


IV_BLOCK = 256  # counter values a sender reserves on stable storage at a time (at most window / 4)


@dataclass(slots=True)
class _Sequence:
    """One sequence of an SA: the sender's next counters and reservation, the receiver's highest."""

    next_iv: int = 1
    next_sn: int = 1
    iv_limit: int = 0  # with a reservation store: the first counter value not yet reserved
    sn_limit: int = 0
    highest: int = -1  # the highest anti-replay value committed (full value, sequence bit included)


@dataclass(slots=True)
class _SaState:
    sa: SecurityAssociation
    key: bytes
    aead: AESGCM
    mask: bytes | None
    # Indexed by the frame's bypass flag: Type-A frames count in [0], Type-B in [1].
    sequences: tuple[_Sequence, _Sequence] = field(default_factory=lambda: (_Sequence(), _Sequence()))
    # Derived from the SA once, because this is the hot path.
    overhead: int = 0
    block: int = IV_BLOCK
    spi_octets: bytes = b""
    iv_tags: tuple[int, int] = (0, 0)  # the sequence bit of the IV, for Type-A and Type-B frames
    sn_tags: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        sa = self.sa
        self.overhead = sa.overhead
        self.block = max(1, min(IV_BLOCK, sa.replay_window // 4))
        self.spi_octets = sa.spi.to_bytes(SPI_LEN, "big")
        self.iv_tags = (0, 1 << (8 * sa.iv_len - 1))
        self.sn_tags = (0, 1 << (8 * sa.sn_len - 1)) if sa.sn_len else (0, 0)

    def fresh(self, value: int, expedited: bool) -> bool:
        highest = self.sequences[expedited].highest
        return value > highest and (highest < 0 or value - highest <= self.sa.replay_window)


@dataclass(frozen=True, slots=True)
class Verified:
    """A frame whose MAC checked out, with its plaintext data field; commit it once FARM accepts."""

    frame: TcFrame
    spi: int
    replay_value: int
    expedited: bool = False


class Sdls:
    """ApplySecurity (ground) and ProcessSecurity (flight) over a table of SAs."""

    def __init__(self, associations: list[SecurityAssociation], keys: KeyRing) -> None:
        self._by_spi: dict[int, _SaState] = {}
        self._by_vcid: dict[int, _SaState] = {}
        key_users: dict[str, int] = {}
        for sa in associations:
            if sa.spi in self._by_spi:
                raise ConfigError(f"SPI {sa.spi} is defined twice")
            if sa.key_id in key_users:
                # Each SA counts its own IVs from 1: sharing a key would reuse AES-GCM nonces.
                raise ConfigError(f"SPI {sa.spi} and SPI {key_users[sa.key_id]} share key {sa.key_id!r}")
            key_users[sa.key_id] = sa.spi
            key = keys.get(sa.key_id)
            state = _SaState(sa, key, AESGCM(key), self._full_mask(sa))
            self._by_spi[sa.spi] = state
            for vcid in sa.virtual_channel_ids:
                if vcid in self._by_vcid:
                    raise ConfigError(f"virtual channel {vcid} has two security associations")
                self._by_vcid[vcid] = state
        self.counters = Counters("sdls")
        # Set by the sender's persistence: called with (spi, expedited, iv_limit, sn_limit) before a new
        # block of counter values is used; it must write them to stable storage before it returns.
        self.on_reserve: Callable[[int, bool, int, int], None] | None = None

    @staticmethod
    def _full_mask(sa: SecurityAssociation) -> bytes | None:
        # Primary header, segment header and security header: at most 5 + 1 + 2 + 12 + 8 octets.
        mask = sa.abm + b"\xff" * max(0, 64 - len(sa.abm))
        return None if mask == b"\xff" * len(mask) else mask

    def protects(self, vcid: int) -> bool:
        return vcid in self._by_vcid

    def overhead(self, vcid: int) -> int:
        """Octets ApplySecurity adds to a data frame on this channel."""
        st = self._by_vcid.get(vcid)
        return st.overhead if st else 0

    # --- ApplySecurity -------------------------------------------------------------------------

    def apply(self, frame: TcFrame) -> TcFrame:
        """Protect an AD or BD frame (BC frames and unprotected VCs pass through unchanged)."""
        if frame.frame_type is FrameType.BC or frame.virtual_channel_id not in self._by_vcid:
            return frame
        _, data = self._seal_frame(frame)
        return TcFrame(frame.spacecraft_id, frame.virtual_channel_id, frame.frame_type,
                       frame.frame_sequence_number, data, frame.segment)

    def protect(self, frame: TcFrame) -> bytes:
        """ApplySecurity and pack in one pass: the octets to transmit (FECF over the protected frame)."""
        if frame.frame_type is FrameType.BC or frame.virtual_channel_id not in self._by_vcid:
            return frame.pack()
        header, data = self._seal_frame(frame)
        body = header + data
        return body + crc16(body).to_bytes(2, "big")

    def _seal_frame(self, frame: TcFrame) -> tuple[bytes, bytes]:
        """The protected frame's header (its length grown by the overhead) and data field."""
        st = self._by_vcid[frame.virtual_channel_id]
        sa = st.sa
        expedited = frame.frame_type is FrameType.BD
        seq = st.sequences[expedited]
        if seq.next_iv >= st.iv_tags[1] or (sa.sn_len and seq.next_sn >= st.sn_tags[1]):
            # Reaching the sequence bit would reuse a nonce or a sequence number: rekey first.
            raise SdlsError("exhausted", f"SA {sa.spi} has used all its IVs or sequence numbers: rekey it")
        if self.on_reserve is not None and (seq.next_iv >= seq.iv_limit or seq.next_sn >= seq.sn_limit):
            # Stable storage learns of a block of counter values before the first of them is used, so a
            # restarted sender starts past everything it may have sent (and within the window).
            self.on_reserve(sa.spi, expedited, seq.next_iv + st.block, seq.next_sn + st.block)
            seq.iv_limit, seq.sn_limit = seq.next_iv + st.block, seq.next_sn + st.block
        iv = (seq.next_iv | st.iv_tags[expedited]).to_bytes(sa.iv_len, "big")
        seq.next_iv += 1
        sec_header = st.spi_octets + iv[sa.iv_len - sa.transmitted_iv_len :]
        if sa.sn_len:
            sn = (seq.next_sn | st.sn_tags[expedited]).to_bytes(sa.sn_len, "big")
            seq.next_sn += 1
            sec_header += sn[sa.sn_len - sa.transmitted_sn_len :]
        header = frame.header(frame.length() + st.overhead)
        body = _seal(st, iv, frame.data, _masked(header + sec_header, st.mask))
        self.counters.inc("applied")
        return header, sec_header + body

    # --- ProcessSecurity -----------------------------------------------------------------------

    def process(self, frame: TcFrame, header: bytes | None = None) -> Verified:
        """Check a received frame; raise SdlsError naming the reason (and count it) if it fails.

        ``header`` is the frame's received primary (and segment) header when the caller has it at
        hand, which saves re-encoding it for the AAD.
        """
        try:
            return self._process(frame, header)
        except SdlsError as exc:
            self.counters.inc(f"rejected_{exc.field}")
            raise

    def commit(self, verified: Verified) -> None:
        """Record the frame's anti-replay value: call once the frame has been accepted upward."""
        if verified.spi < 0:
            return
        seq = self._by_spi[verified.spi].sequences[verified.expedited]
        seq.highest = max(seq.highest, verified.replay_value)

    def _process(self, frame: TcFrame, header: bytes | None) -> Verified:
        if frame.frame_type is FrameType.BC:
            self.counters.inc("clear_bc")
            return Verified(frame, -1, 0)
        if frame.virtual_channel_id not in self._by_vcid:
            # A data frame on a channel without a security association is unauthenticated.
            raise SdlsError("unprotected", f"virtual channel {frame.virtual_channel_id} has no security association")
        data = frame.data
        if len(data) < SPI_LEN:
            raise SdlsError("truncated", f"{len(data)} octets cannot hold the SPI")
        spi = int.from_bytes(data[:SPI_LEN], "big")
        st = self._by_spi.get(spi)
        if st is None:
            raise SdlsError("unknown_spi", f"no security association {spi}")
        sa = st.sa
        if frame.virtual_channel_id not in sa.virtual_channel_ids:
            raise SdlsError("wrong_sa", f"SPI {spi} is not valid on virtual channel {frame.virtual_channel_id}")
        if len(data) < st.overhead:
            raise SdlsError("truncated", f"{len(data)} octets, SA {spi} needs at least {st.overhead}")
        expedited = frame.frame_type is FrameType.BD
        highest = st.sequences[expedited].highest
        pos = SPI_LEN + sa.transmitted_iv_len
        iv = data[SPI_LEN:pos]
        if sa.transmitted_iv_len < sa.iv_len:  # (an SA with a sequence number sends its whole IV)
            iv = _rebuild(int.from_bytes(iv, "big"), sa.transmitted_iv_len, sa.iv_len, highest,
                          st.iv_tags[expedited]).to_bytes(sa.iv_len, "big")
        if sa.sn_len:
            replay_value = _rebuild(int.from_bytes(data[pos : pos + sa.transmitted_sn_len], "big"),
                                    sa.transmitted_sn_len, sa.sn_len, highest, st.sn_tags[expedited])
            pos += sa.transmitted_sn_len
        else:
            replay_value = int.from_bytes(iv, "big")
        aad = _masked((header or frame.header()) + data[:pos], st.mask)
        try:
            plain = _open(st, iv, data[pos:], aad)
        except InvalidTag:
            raise SdlsError("bad_mac", f"MAC check failed for SPI {spi}") from None
        if not st.fresh(replay_value, expedited):
            raise SdlsError("replay", f"anti-replay value {replay_value} of SPI {spi} is not fresh")
        self.counters.inc("verified")
        clear = TcFrame(frame.spacecraft_id, frame.virtual_channel_id, frame.frame_type,
                        frame.frame_sequence_number, plain, frame.segment)
        return Verified(clear, spi, replay_value, expedited)

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """What must survive a restart: the sender's counters (an IV must never be used twice) and
        the receiver's highest committed values (a replay must never be accepted), per sequence."""
        return {str(spi): {"key_check": key_check(st.key),
                           **{name: {"next_iv": q.next_iv, "next_sn": q.next_sn, "highest": q.highest}
                              for name, q in zip(("ad", "bd"), st.sequences, strict=True)}}
                for spi, st in self._by_spi.items()}

    def load_state(self, saved: dict[str, dict[str, Any]]) -> None:
        """Restore what :meth:`state_dict` saved; an SA whose key has changed since starts afresh."""
        for spi, values in saved.items():
            st = self._by_spi.get(int(spi))
            if st is None or values.get("key_check") != key_check(st.key):
                continue
            for name, seq in zip(("ad", "bd"), st.sequences, strict=True):
                part = values[name]
                seq.next_iv, seq.next_sn = int(part["next_iv"]), int(part["next_sn"])
                seq.iv_limit, seq.sn_limit = seq.next_iv, seq.next_sn
                seq.highest = int(part["highest"])

    def fingerprint(self, spi: int) -> str:
        """The key check of an SA's key, which saved state is checked against."""
        return key_check(self._by_spi[spi].key)

    @property
    def associations(self) -> list[SecurityAssociation]:
        return [st.sa for st in self._by_spi.values()]


def key_check(key: bytes) -> str:
    """A short, one-way fingerprint of a key: which key a saved state belongs to, nothing more."""
    return hashlib.sha256(b"zenith-sdls-key-check" + key).hexdigest()[:16]


def _masked(aad: bytes, mask: bytes | None) -> bytes:
    """AAD with the authentication bit mask applied; None is the default all-ones mask."""
    if mask is None:
        return aad
    n = len(aad)
    return (int.from_bytes(aad, "big") & int.from_bytes(mask[:n], "big")).to_bytes(n, "big")


def _rebuild(low: int, sent_len: int, full_len: int, highest: int, sequence_bit: int) -> int:
    """The full value of a partly transmitted IV or sequence number, from its sequence's history."""
    if highest < 0:  # nothing committed yet: the sequence has not passed its first transmitted span
        return sequence_bit | low
    return _reconstruct(low, sent_len, full_len, highest)


def _reconstruct(low: int, sent_len: int, full_len: int, reference: int) -> int:
    """Rebuild a value of which only the low ``sent_len`` octets were transmitted.

    The receiver picks the candidate nearest its last committed value, which is right as long as the
    sender never runs more than half the transmitted range ahead.
    """
    if sent_len >= full_len or reference < 0:
        return low
    span = 1 << (8 * sent_len)
    candidate = (reference & ~(span - 1)) | low
    if candidate < reference - span // 2:
        candidate += span
    elif candidate > reference + span // 2 and candidate >= span:
        candidate -= span
    return candidate


def _seal(st: _SaState, iv: bytes, data: bytes, aad: bytes) -> bytes:
    """The tail of a protected data field: the data (encrypted or clear) and the MAC."""
    sa = st.sa
    if sa.service is ServiceType.AUTHENTICATION:
        # GMAC: the data rides in clear and is authenticated as part of the AAD.
        return data + st.aead.encrypt(iv, b"", aad + data)[: sa.mac_len]
    sealed = st.aead.encrypt(iv, data, aad)
    return sealed[: len(data) + sa.mac_len]


def _open(st: _SaState, iv: bytes, body: bytes, aad: bytes) -> bytes:
    """Verify (and decrypt) the tail of a protected data field; raises InvalidTag."""
    sa = st.sa
    split = len(body) - sa.mac_len
    data, mac = body[:split], body[split:]
    if sa.service is ServiceType.AUTHENTICATION:
        _gcm_decrypt(st, iv, b"", mac, aad + data)
        return data
    return _gcm_decrypt(st, iv, data, mac, aad)


def _gcm_decrypt(st: _SaState, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes:
    if len(tag) == FULL_MAC_LEN:
        return st.aead.decrypt(iv, ciphertext + tag, aad)
    # AESGCM only takes full tags; the lower-level API checks a truncated one.
    decryptor = Cipher(algorithms.AES(st.key), modes.GCM(iv, tag, min_tag_length=len(tag))).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(ciphertext) + decryptor.finalize()

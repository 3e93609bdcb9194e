"""Every PDU decoder path fed garbage: a counted rejection, never an exception.

Random octets, and valid PDUs of every type (with and without the PDU CRC) cut, extended and
flipped, fed to entities in every role: idle, sending a class 2 file, receiving one.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacepackets.cfdp import ChecksumType, ConditionCode, CrcFlag, Direction, PduConfig, TransmissionMode
from spacepackets.cfdp.pdu import (
    AckPdu,
    DirectiveType,
    EofPdu,
    FileDataPdu,
    FinishedPdu,
    KeepAlivePdu,
    MetadataParams,
    MetadataPdu,
    NakPdu,
    PromptPdu,
    TransactionStatus,
)
from spacepackets.cfdp.pdu.file_data import FileDataParams
from spacepackets.cfdp.pdu.finished import DeliveryCode, FileStatus, FinishedParams
from spacepackets.cfdp.pdu.prompt import ResponseRequired

from flight.counters import Counters
from flight.files.entity import CfdpEntity, entity_id
from flight.files.errors import PduRejected
from flight.files.filestore import RestrictedStore
from flight.files.pdus import decode_pdu, unwrap_pdu, wrap_pdu
from flight.files.settings import UPLINK_AREA, FilesSettings


def conf(direction: Direction, crc: bool, seq: int = 0) -> PduConfig:
    return PduConfig(source_entity_id=entity_id(2), dest_entity_id=entity_id(1),
                     transaction_seq_num=entity_id(seq), trans_mode=TransmissionMode.ACKNOWLEDGED,
                     crc_flag=CrcFlag.WITH_CRC if crc else CrcFlag.NO_CRC, direction=direction)


def samples(crc: bool) -> list[bytes]:
    """One valid PDU of every type, toward the payload as receiver or as sender."""
    down, up = conf(Direction.TOWARDS_RECEIVER, crc), conf(Direction.TOWARDS_SENDER, crc)
    finished = FinishedParams(condition_code=ConditionCode.NO_ERROR, delivery_code=DeliveryCode.DATA_COMPLETE,
                              file_status=FileStatus.FILE_RETAINED)
    pdus = [
        MetadataPdu(down, MetadataParams(True, ChecksumType.CRC_32, 100, "a.bin", "b/c.bin")),
        FileDataPdu(down, FileDataParams(b"x" * 40, 0)),
        EofPdu(down, b"\x00\x01\x02\x03", 100),
        PromptPdu(down, ResponseRequired.NAK),
        AckPdu(down, DirectiveType.FINISHED_PDU, ConditionCode.NO_ERROR, TransactionStatus.ACTIVE),
        FinishedPdu(up, finished),
        NakPdu(up, 0, 100, [(0, 40), (50, 60)]),
        AckPdu(up, DirectiveType.EOF_PDU, ConditionCode.NO_ERROR, TransactionStatus.ACTIVE),
        KeepAlivePdu(up, 50),
    ]
    return [bytes(p.pack()) for p in pdus]


def entity(tmp: Path, crc: bool) -> CfdpEntity:
    counters = Counters("files")
    return CfdpEntity(FilesSettings(pdu_crc=crc), 1, 2, 1000, RestrictedStore(tmp, "", counters),
                      RestrictedStore(tmp, UPLINK_AREA, counters), counters)


def busy(tmp: Path, crc: bool) -> CfdpEntity:
    """An entity in the middle of sending a class 2 file (transaction 1:0) and of receiving one (2:0)."""
    e = entity(tmp, crc)
    (tmp / "f.bin").write_bytes(bytes(5000))
    e.put("f.bin", "f.bin", True)
    e.poll()
    e.receive(samples(crc)[0])
    e.take(1000)
    return e


def mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if choice < 0.4 and data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        elif choice < 0.6 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice < 0.8:
            del data[rng.randrange(len(data) + 1):]
        else:
            data += rng.randbytes(rng.randint(1, 20))
    return bytes(data)


@pytest.mark.parametrize("crc", [True, False])
def test_the_samples_decode(crc: bool) -> None:
    for raw in samples(crc):
        assert decode_pdu(raw).pack() == raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_random_octets_are_refused_by_the_decoder_with_a_reason(raw: bytes) -> None:
    try:
        decode_pdu(raw)
    except PduRejected as exc:
        assert exc.reason
    with pytest.raises(PduRejected):
        unwrap_pdu(raw[:5])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), crc=st.booleans(), which=st.integers(0, 8), count=st.integers(1, 6))
def test_mutated_pdus_of_every_type_never_raise_and_are_counted(tmp_path_factory, seed: int, crc: bool,
                                                               which: int, count: int) -> None:
    rng = random.Random(seed)
    e = busy(tmp_path_factory.mktemp("e"), crc)
    before_in, before_rejected = e.counters["pdus_in"], e.counters["pdus_rejected"]
    accepted = 0
    for _ in range(count):
        accepted += e.receive(mutate(samples(crc)[which], rng))
        e.poll()
        e.take(1000)
    assert e.counters["pdus_in"] - before_in == count
    assert e.counters["pdus_rejected"] - before_rejected == count - accepted


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=1, max_size=120), min_size=1, max_size=10))
def test_random_octets_into_a_busy_entity(tmp_path_factory, garbage: list[bytes]) -> None:
    e = busy(tmp_path_factory.mktemp("r"), True)
    for raw in garbage:
        assert e.receive(raw) is False  # the PDU CRC alone makes a random PDU improbable
    assert e.counters["pdus_rejected"] >= len(garbage)


def test_packets_wrap_and_unwrap() -> None:
    packet = wrap_pdu(18, 5, b"abc", telecommand=True)
    assert unwrap_pdu(packet) == b"abc" and packet[0] >> 4 == 1
    with pytest.raises(PduRejected):
        unwrap_pdu(packet + b"x")

"""Two entities back to back, without the link: class 1 and 2 both ways, loss, proxy put (``get``),
refused names, restarts, NAKs paced to the link."""

from __future__ import annotations

import copy
import itertools
import os
import random
import time
import zlib
from pathlib import Path

import pytest
from cfdppy.filestore import NativeFilestore
from spacepackets.cfdp import Direction
from spacepackets.cfdp.pdu import EofPdu, FileDataPdu, NakPdu

from flight.counters import Counters
from flight.files.entity import OUTBOX_LOW, CfdpEntity
from flight.files.errors import FileTransferError, PathRefused
from flight.files.filestore import RestrictedStore
from flight.files.pdus import decode_pdu
from flight.files.settings import UPLINK_AREA, FilesSettings
from flight.files.transfer import FAILED, FINISHED

FAST = FilesSettings(ack_timer=0.05, ack_limit=20, nak_timer=0.05, nak_limit=20, check_timer=0.05, inactivity=5.0)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def pair(tmp_path: Path, settings: FilesSettings = FAST) -> tuple[CfdpEntity, CfdpEntity]:
    """The payload's entity (restricted store) and the ground's (reads anywhere, writes in its root)."""
    fc, gc = Counters("files"), Counters("files")
    flight = CfdpEntity(settings, 1, 2, 1000, RestrictedStore(tmp_path / "flight", "", fc),
                        RestrictedStore(tmp_path / "flight", UPLINK_AREA, fc), fc)
    ground = CfdpEntity(settings, 2, 1, 400, NativeFilestore(), RestrictedStore(tmp_path / "ground", "", gc), gc)
    return flight, ground


def run(a: CfdpEntity, b: CfdpEntity, done, loss: float = 0.0, seed: int = 1, rounds: int = 20000,
        drop=lambda raw: False) -> None:
    rng = random.Random(seed)
    for _ in range(rounds):
        if done():
            return
        a.poll()
        b.poll()
        for src, dst in ((a, b), (b, a)):
            for raw in src.take(64):
                if rng.random() >= loss and not drop(raw):
                    dst.receive(raw)
    raise AssertionError("the transfer did not end")


def blob(path: Path, size: int, seed: int = 7) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("acknowledged", [False, True])
def test_downlink_both_classes(tmp_path: Path, acknowledged: bool) -> None:
    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "flight" / "ckpt" / "a.bin", 50_000)
    sent = flight.put("ckpt/a.bin", "a.bin", acknowledged)
    received = []
    run(flight, ground, lambda: sent.done and any(t.done for _, t in ground.notes) and not ground.live)
    received = [t for kind, t in ground.notes if kind == "finished"]
    assert sent.state == FINISHED and received
    assert (tmp_path / "ground" / "a.bin").read_bytes() == data
    assert received[0].verified and received[0].checksum == f"{zlib.crc32(data):08x}"
    assert sent.verified == acknowledged


def test_class2_recovers_from_loss_and_reports_retransmissions(tmp_path: Path) -> None:
    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "flight" / "big.bin", 300_000)
    sent = flight.put("big.bin", "big.bin", True)
    run(flight, ground, lambda: sent.done and not ground.live, loss=0.1, seed=4)
    assert sent.state == FINISHED and sent.verified
    assert sent.retransmitted > 0 and sent.naks > 0
    assert (tmp_path / "ground" / "big.bin").read_bytes() == data


def test_uplink_lands_in_the_uplink_area_only(tmp_path: Path) -> None:
    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "local" / "config.toml", 3000)
    sent = ground.put(str(tmp_path / "local" / "config.toml"), "cfg/config.toml", True)
    run(flight, ground, lambda: sent.done and not flight.live)
    assert sent.state == FINISHED and sent.verified
    assert (tmp_path / "flight" / UPLINK_AREA / "cfg" / "config.toml").read_bytes() == data


@pytest.mark.parametrize(("name", "reason"), [("/etc/passwd", "absolute"), ("../escape", "traversal"),
                                              ("a/../../x", "traversal"), ("link/x", "symlink")])
def test_bad_uplink_names_are_refused_and_counted(tmp_path: Path, name: str, reason: str) -> None:
    flight, ground = pair(tmp_path)
    (tmp_path / "flight" / UPLINK_AREA).mkdir(parents=True, exist_ok=True)
    os.symlink(tmp_path, tmp_path / "flight" / UPLINK_AREA / "link")
    blob(tmp_path / "local" / "x", 100)
    sent = ground.put(str(tmp_path / "local" / "x"), name, True)
    run(flight, ground, lambda: sent.done and not flight.live)
    assert sent.state == FAILED and sent.condition == "FILESTORE_REJECTION"
    assert flight.counters[f"refused_{reason}"] >= 1 and flight.counters["paths_refused"] >= 1
    assert not (tmp_path / "escape").exists() and not (tmp_path / "x").exists()


def test_get_is_a_proxy_put_answered_by_the_payload(tmp_path: Path) -> None:
    from spacepackets.cfdp import TransmissionMode
    from spacepackets.cfdp.lv import CfdpLv
    from spacepackets.cfdp.tlv import ProxyPutRequest, ProxyPutRequestParams, ProxyTransmissionMode

    from flight.files.entity import entity_id

    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "flight" / "logs" / "run.log", 20_000)
    request = ProxyPutRequest(ProxyPutRequestParams(entity_id(2), CfdpLv.from_str("logs/run.log"),
                                                    CfdpLv.from_str("dl/run.log")))
    asked = ground.put(None, None, False, [request, ProxyTransmissionMode(TransmissionMode.ACKNOWLEDGED)])
    run(flight, ground, lambda: any(k == "finished" and t.role == "receive" for k, t in ground.notes)
        and not flight.live)
    got = next(t for k, t in ground.notes if k == "finished" and t.role == "receive")
    assert got.origin == asked.key and got.acknowledged and got.verified
    assert (tmp_path / "ground" / "dl" / "run.log").read_bytes() == data


def test_refused_puts_are_typed(tmp_path: Path) -> None:
    flight, _ground = pair(tmp_path)
    with pytest.raises(FileTransferError) as missing:
        flight.put("nothing.bin", "x", True)
    assert missing.value.reason == "no_file"
    with pytest.raises(PathRefused):
        flight.put("../outside", "x", True)


def test_a_peer_that_went_silent_fails_by_inactivity(tmp_path: Path) -> None:
    clock = Clock()
    fc = Counters("files")
    settings = FilesSettings(inactivity=10.0)
    flight = CfdpEntity(settings, 1, 2, 1000, RestrictedStore(tmp_path / "f", "", fc),
                        RestrictedStore(tmp_path / "f", UPLINK_AREA, fc), fc, clock=clock)
    blob(tmp_path / "f" / "a.bin", 5000)
    sent = flight.put("a.bin", "a.bin", True)
    for _ in range(20):
        flight.poll()
        flight.take(100)  # into the void: the ground restarted and forgot the transaction
    assert not sent.done
    clock.t = 11.0
    flight.poll()
    assert sent.state == FAILED and sent.condition == "INACTIVITY_DETECTED"
    assert ("failed", sent) in flight.notes


def test_two_class2_receptions_at_once_keep_their_own_gaps(tmp_path: Path) -> None:
    """cfdp-py 0.7.0 shares one lost-segment tracker between receivers (flight/files/cfdp_fixes.py)."""
    flight, ground = pair(tmp_path)
    first = blob(tmp_path / "flight" / "a.bin", 120_000, seed=1)
    second = blob(tmp_path / "flight" / "b.bin", 80_000, seed=2)
    sent = [flight.put("a.bin", "a.bin", True), flight.put("b.bin", "b.bin", True)]
    run(flight, ground, lambda: all(t.done for t in sent) and not ground.live, loss=0.1, seed=8)
    assert all(t.state == FINISHED and t.verified for t in sent)
    assert (tmp_path / "ground" / "a.bin").read_bytes() == first
    assert (tmp_path / "ground" / "b.bin").read_bytes() == second


def test_a_class2_reception_survives_a_receiver_restart(tmp_path: Path) -> None:
    """The new receiver starts from File Data, NAKs the metadata and everything (flight/files/cfdp_fixes.py)."""
    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "flight" / "c.bin", 200_000, seed=3)
    sent = flight.put("c.bin", "c.bin", True)
    run(flight, ground, lambda: any(x.transfer.progress > 50_000 for x in ground.live.values()))
    _, ground = pair(tmp_path)  # the receiver restarts, knowing nothing of the transaction
    run(flight, ground, lambda: sent.done and not ground.live, loss=0.05, seed=2)
    assert sent.state == FINISHED and sent.verified
    assert (tmp_path / "ground" / "c.bin").read_bytes() == data


def _sent_until_eof(flight: CfdpEntity, size: int) -> tuple[list[bytes], FileDataPdu]:
    """Poll the sending entity until it has sent the whole file and its EOF (into the void)."""
    data_pdus: list[bytes] = []
    for _ in range(10_000):
        flight.poll()
        for raw in flight.take(64):
            pdu = decode_pdu(raw)
            if isinstance(pdu, FileDataPdu):
                data_pdus.append(raw)
            elif isinstance(pdu, EofPdu):
                return data_pdus, decode_pdu(data_pdus[0])
    raise AssertionError("no EOF")


def _nak(like: FileDataPdu, ranges: list[tuple[int, int]], end: int) -> bytes:
    conf = copy.copy(like.pdu_header.pdu_conf)
    conf.direction = Direction.TOWARDS_SENDER
    return bytes(NakPdu(conf, 0, end, ranges).pack())


def test_naks_asking_for_megabytes_are_served_a_few_pdus_at_a_time(tmp_path: Path) -> None:
    """After a long loss of signal the receiver's NAK asks for most of the file, again at every NAK timer
    expiry, and the uplink brings all those NAKs at once: each must cost the sender little."""
    flight, _ = pair(tmp_path)
    size = 400_000
    blob(tmp_path / "flight" / "big.bin", size)
    sent = flight.put("big.bin", "big.bin", True)
    first_time, like = _sent_until_eof(flight, size)
    for _ in range(30):
        assert flight.receive(_nak(like, [(0, size)], size))
        assert len(flight.outbox) <= OUTBOX_LOW
    again = []
    for _ in range(10_000):
        flight.poll()
        out = flight.take(4)
        again += [raw for raw in out if isinstance(decode_pdu(raw), FileDataPdu)]
        if not out and not flight.outbox:
            break
    # Every segment again; twice only the few already handed out when the next NAKs came (cfdp-py alone
    # would have built all of them thirty times over, in thirty calls as long as the file).
    assert set(again) == set(first_time)
    assert len(first_time) <= len(again) <= len(first_time) + OUTBOX_LOW
    assert sent.retransmitted == len(again) and sent.naks == 30


def test_a_nak_for_data_never_sent_is_refused_and_counted(tmp_path: Path) -> None:
    flight, _ = pair(tmp_path)
    blob(tmp_path / "flight" / "a.bin", 20_000)
    flight.put("a.bin", "a.bin", True)
    _, like = _sent_until_eof(flight, 20_000)
    assert not flight.receive(_nak(like, [(30_000, 31_000)], 31_000))
    assert not flight.receive(_nak(like, [(5_000, 4_000)], 20_000))
    assert flight.counters["rejected_handler"] == 2 and not flight.outbox


def test_class2_recovers_from_a_loss_of_signal_in_mid_file(tmp_path: Path) -> None:
    flight, ground = pair(tmp_path)
    data = blob(tmp_path / "flight" / "los.bin", 600_000)
    sent = flight.put("los.bin", "los.bin", True)
    seen = itertools.count()

    def los(raw: bytes) -> bool:  # the flight's PDUs 100 to 400 fall into the loss of signal
        return decode_pdu(raw).pdu_header.direction == Direction.TOWARDS_RECEIVER and 100 <= next(seen) < 400

    run(flight, ground, lambda: sent.done and not ground.live, drop=los)
    assert sent.state == FINISHED and sent.verified
    assert (tmp_path / "ground" / "los.bin").read_bytes() == data
    assert 300 <= sent.retransmitted < 450  # what was lost, and not much more


def test_while_the_uplink_is_out_only_the_newest_nak_sequence_waits(tmp_path: Path) -> None:
    """NAK sequences pile up while the receiver's PDUs cannot go (an uplink loss of signal): each new one
    lists every gap known now, so it replaces the ones still waiting, and the pass that follows spends
    its uplink on one."""
    settings = FilesSettings(nak_timer=0.01, nak_limit=1000, ack_timer=0.05, ack_limit=20, inactivity=30.0)
    flight, ground = pair(tmp_path, settings)
    data = blob(tmp_path / "flight" / "d.bin", 200_000)
    sent = flight.put("d.bin", "d.bin", True)
    rng = random.Random(5)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:  # the downlink works (10 % lost); the ground's PDUs wait, in its outbox
        flight.poll()
        for raw in flight.take(64):
            if rng.random() >= 0.1:
                ground.receive(raw)
        ground.poll()
        if ground.counters["naks_superseded"] >= 20:
            break
    naks = [decode_pdu(raw) for raw in ground.outbox if isinstance(decode_pdu(raw), NakPdu)]
    assert ground.counters["naks_superseded"] >= 20
    assert naks and naks[0].start_of_scope == 0 and naks[-1].end_of_scope == 200_000  # one whole sequence
    assert len({(n.start_of_scope, n.end_of_scope) for n in naks}) == len(naks)
    run(flight, ground, lambda: sent.done and not ground.live)
    assert sent.state == FINISHED and (tmp_path / "ground" / "d.bin").read_bytes() == data

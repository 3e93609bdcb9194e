"""The onboard file service inside a whole supervisor: PDUs up through the uplink stack and the
journal, down through the files virtual channel; events, housekeeping channels, restarts, garbage."""

from __future__ import annotations

import random
from pathlib import Path

from cfdppy.filestore import NativeFilestore
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spacepackets.cfdp import TransmissionMode
from spacepackets.cfdp.lv import CfdpLv
from spacepackets.cfdp.tlv import ProxyPutRequest, ProxyPutRequestParams, ProxyTransmissionMode

from flight.counters import Counters
from flight.files.entity import CfdpEntity, entity_id
from flight.files.filestore import RestrictedStore
from flight.files.pdus import unwrap_pdu, wrap_pdu
from flight.files.settings import FilesSettings
from flight.link.pus import packet_apid
from tests.flight.supervisor._harness import DICTIONARY, Harness, events, parse

CFDP = DICTIONARY.mission.apids["cfdp"]


def quick(entity: CfdpEntity) -> None:
    """Timers of a bench that loops in microseconds (cfdp-py's timers run on real time)."""
    config = entity._remote.get_cfg(entity_id(entity.remote))
    config.nak_timer_interval_seconds = config.positive_ack_timer_interval_seconds = 0.02


class Bench:
    """A supervisor (through the test harness) and a ground entity, with a lossy downlink."""

    def __init__(self, tmp_path: Path, loss: float = 0.0) -> None:
        self.h = Harness(tmp_path / "flight.db")
        self.tmp = tmp_path
        self.ground = CfdpEntity(FilesSettings(), 2, 1, 400, NativeFilestore(),
                                 RestrictedStore(tmp_path / "ground", "", Counters("files")), Counters("files"))
        self.rng = random.Random(9)
        self.loss = loss
        self.tms: list = []
        self.seq = 0
        for entity in (self.ground, self.h.supervisor.files.entity):
            quick(entity)

    def step(self) -> None:
        self.h.advance(0.01)
        for _ in range(64):
            if not self.h.supervisor.mux.has_data():
                break
            frame = self.h.supervisor.next_frame()
            if self.rng.random() < self.loss:
                continue
            result = self.h.demux.feed(frame)
            for packet in result.packets:
                if packet_apid(packet) == CFDP:
                    self.ground.receive(unwrap_pdu(packet))
                else:
                    self.tms.append(parse(packet, result.frame.virtual_channel_id))
        self.ground.poll()
        for pdu in self.ground.take(8):
            self.uplink(pdu)

    def uplink(self, pdu: bytes) -> None:
        self.h.uplink(wrap_pdu(CFDP, self.seq, pdu, telecommand=True))
        self.seq += 1

    def run(self, done, steps: int = 3000) -> None:
        for _ in range(steps):
            if done():
                return
            self.step()
        ground = [(x.handler.step, x.transfer.state, x.transfer.condition) for x in self.ground.live.values()]
        payload = self.h.supervisor.files
        raise AssertionError(f"not done: ground {ground} {self.ground.counters.snapshot()}, payload "
                             f"{[(x.handler.step, x.transfer.key) for x in payload.entity.live.values()]} "
                             f"{payload.counters.snapshot()}")

    def events(self, name: str) -> list[dict]:
        return [arguments for _, arguments in events(self.tms, name)]


def test_uplink_lands_in_the_uplink_area_with_events(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    data = random.Random(1).randbytes(20_000)
    (tmp_path / "dataset.bin").write_bytes(data)
    sent = bench.ground.put(str(tmp_path / "dataset.bin"), "data/dataset.bin", True)
    bench.run(lambda: sent.done and bench.events("FILE_TRANSFER_FINISHED"))
    assert sent.verified
    assert (tmp_path / "files" / "uplink" / "data" / "dataset.bin").read_bytes() == data
    finished = bench.events("FILE_TRANSFER_FINISHED")[0]
    assert finished["verified"] and finished["size"] == len(data) and finished["checksum_type"] == "crc32"
    assert bench.events("FILE_TRANSFER_STARTED")[0]["direction"] == "uplink"


def test_get_downlinks_through_loss_and_every_files_channel_is_fed(tmp_path: Path) -> None:
    bench = Bench(tmp_path, loss=0.1)
    data = random.Random(2).randbytes(200_000)
    (tmp_path / "files" / "samples").mkdir(parents=True)
    (tmp_path / "files" / "samples" / "out.bin").write_bytes(data)
    request = ProxyPutRequest(ProxyPutRequestParams(entity_id(2), CfdpLv.from_str("samples/out.bin"),
                                                    CfdpLv.from_str("out.bin")))
    bench.ground.put(None, None, False, [request, ProxyTransmissionMode(TransmissionMode.ACKNOWLEDGED)])
    bench.run(lambda: any(k == "finished" and t.role == "receive" for k, t in bench.ground.notes)
              and not bench.h.supervisor.files.entity.live)
    assert (tmp_path / "ground" / "out.bin").read_bytes() == data
    # What the other channels count: a refused name, and garbage.
    (tmp_path / "x").write_bytes(b"x")
    refused = bench.ground.put(str(tmp_path / "x"), "../../x", True)
    bench.run(lambda: refused.done)
    bench.uplink(b"\x20garbage")
    bench.step()
    sample = bench.h.supervisor.sample()
    for channel in DICTIONARY.telemetry:
        if channel.name.startswith("files.") and channel.name not in ("files.active", "files.naks_out"):
            assert sample.get(channel.name, 0) > 0, channel.name
    assert "files.active" in sample
    assert bench.ground.counters["naks_out"] > 0  # (the payload's naks_out counts its uplinks' NAKs)


def test_a_restart_fails_the_transfer_it_interrupted_with_an_event(tmp_path: Path) -> None:
    bench = Bench(tmp_path)
    (tmp_path / "big.bin").write_bytes(bytes(300_000))
    sent = bench.ground.put(str(tmp_path / "big.bin"), "big.bin", True)
    bench.run(lambda: (tmp_path / "files" / "uplink" / "big.bin").exists())
    bench.h.restart()
    quick(bench.h.supervisor.files.entity)
    bench.step()
    failed = bench.events("FILE_TRANSFER_FAILED")
    assert failed and failed[0]["reason"] == "supervisor restart" and failed[0]["transaction"] == sent.key
    assert not (tmp_path / "files" / "uplink" / "big.bin").exists()
    assert bench.h.counter("files.failed") == 1
    for _ in range(30):  # the ground goes on sending: stale now, never a new transfer nobody finishes
        bench.step()
    assert not bench.h.supervisor.files.entity.live
    assert bench.h.counter("files.pdus_rejected") > 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=8))
def test_garbage_on_the_cfdp_apid_is_counted_never_raised(tmp_path_factory, garbage: list[bytes]) -> None:
    bench = Bench(tmp_path_factory.mktemp("g"))
    for raw in garbage:
        bench.uplink(raw)
    bench.step()
    counters = bench.h.supervisor.counters()
    assert counters["files.pdus_in"] == len(garbage)
    assert counters.get("files.pdus_rejected", 0) == len(garbage)
    assert counters.get("cmd.rejected", 0) == 0  # never mistaken for commands
    bench.h.close()

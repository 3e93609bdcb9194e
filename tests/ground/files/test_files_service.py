"""The station's file service without sockets: requests, the PDUs it queues, what it keeps across a
restart, and a whole ``get`` against a payload entity."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.counters import Counters
from flight.dictionary import load_dictionary
from flight.dictionary.packing import pack_event
from flight.files.entity import CfdpEntity
from flight.files.filestore import RestrictedStore
from flight.files.pdus import unwrap_pdu, wrap_pdu
from flight.files.settings import UPLINK_AREA, FilesSettings
from flight.link.pus import build_tm, packet_apid
from flight.mission_config import load_mission
from ground.archive import Archive
from ground.control import StationError
from ground.files.service import UPLINK_ROOM, GroundFiles

DICTIONARY = load_dictionary()
CFDP = DICTIONARY.mission.apids["cfdp"]


class Sender:
    """What the service needs of the station's COP-1 sender: a queue it may fill."""

    max_packet_length = 1000

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    @property
    def pending(self) -> int:
        return len(self.sent)  # the queue is what the test has not taken off yet

    def send(self, packet: bytes, tag: Any = None) -> None:
        self.sent.append(packet)


class Link:
    def __init__(self) -> None:
        self.sender = Sender()


def station_files(tmp_path: Path) -> tuple[GroundFiles, Link, Archive, list[str]]:
    mission_path = tmp_path / "zenith.toml"
    mission_path.write_text('[ground]\narchive = "ground.db"\n[files]\nground_root = "gfiles"\n')
    mission = load_mission(mission_path)
    archive = Archive(tmp_path / "ground.db", DICTIONARY)
    link = Link()
    said: list[str] = []
    return GroundFiles(mission, DICTIONARY, link, archive, said.append), link, archive, said  # type: ignore[arg-type]


def test_requests_are_checked(tmp_path: Path) -> None:
    files, *_ = station_files(tmp_path)
    with pytest.raises(StationError) as relative:
        files.request({"op": "files_put", "local": "relative.bin", "remote": "x"})
    assert relative.value.field == "local"
    with pytest.raises(StationError) as bad_class:
        files.request({"op": "files_get", "local": "/tmp/x", "remote": "x", "cfdp_class": 3})
    assert bad_class.value.field == "cfdp_class"
    with pytest.raises(StationError) as missing:
        files.request({"op": "files_put", "local": str(tmp_path / "nothing"), "remote": "x"})
    assert missing.value.field == "no_file"
    with pytest.raises(StationError):
        files.request({"op": "files_status", "id": "9:9"})


def test_a_restart_fails_what_was_active(tmp_path: Path) -> None:
    files, link, archive, _ = station_files(tmp_path)
    (tmp_path / "a.bin").write_bytes(bytes(50_000))
    request = files.request({"op": "files_put", "local": str(tmp_path / "a.bin"), "remote": "a.bin"})["request"]
    files.step()
    assert link.sender.sent and all(packet_apid(p) == CFDP for p in link.sender.sent)
    archive.close()
    again, _, _, said = station_files(tmp_path)
    status = again.request({"op": "files_status", "id": request["id"]})["request"]
    assert status["state"] == "failed" and status["condition"] == "station restart"
    assert any("lost" in line for line in said)


def payload_entity(tmp_path: Path, listing: bool = False) -> tuple[CfdpEntity, Counters]:
    """The payload's CFDP entity, on its filestore under ``tmp_path/payload``."""
    from flight.files.listing import write_listing

    counters = Counters("files")
    reader = RestrictedStore(tmp_path / "payload", "", counters)
    lister = (lambda directory: write_listing(reader, directory)) if listing else None
    entity = CfdpEntity(FilesSettings(), 1, 2, 1000, reader, RestrictedStore(tmp_path / "payload", UPLINK_AREA,
                                                                             counters), counters, lister=lister)
    return entity, counters


def exchange(files: GroundFiles, link: Link, payload: CfdpEntity, turns: int) -> None:
    """Turns of the station and the payload talking, every PDU delivered."""
    for _ in range(turns):
        files.step()
        assert len(link.sender.sent) <= UPLINK_ROOM  # commands must never queue behind a file
        for packet in link.sender.sent:
            payload.receive(unwrap_pdu(packet))
        link.sender.sent.clear()
        payload.poll()
        files.take([(wrap_pdu(CFDP, 0, pdu, telecommand=False), 2) for pdu in payload.take(64)])


def test_get_moves_the_verified_file_to_the_operators_path(tmp_path: Path) -> None:
    files, link, _, said = station_files(tmp_path)
    payload, _ = payload_entity(tmp_path)
    data = random.Random(3).randbytes(100_000)
    (tmp_path / "payload" / "logs").mkdir(parents=True)
    (tmp_path / "payload" / "logs" / "run.log").write_bytes(data)
    target = tmp_path / "here" / "run.log"
    request = files.request({"op": "files_get", "remote": "logs/run.log", "local": str(target)})["request"]
    seq = 0
    for _ in range(2000):
        status = files.request({"op": "files_status", "id": request["id"]})["request"]
        if status["state"] != "active":
            break
        files.step()
        for packet in link.sender.sent:
            payload.receive(unwrap_pdu(packet))
        link.sender.sent.clear()
        payload.poll()
        down = [(wrap_pdu(CFDP, (seq := seq + 1), pdu, telecommand=False), 2) for pdu in payload.take(64)]
        assert files.take(down + [(b"\x08\x10\xc0\x00\x00\x00\x00", 0)]) == [(b"\x08\x10\xc0\x00\x00\x00\x00", 0)]
    assert status["state"] == "finished" and status["verified"], status
    assert target.read_bytes() == data
    assert not any((tmp_path / "gfiles" / "downloads").iterdir())  # moved, not copied
    listing = files.request({"op": "files_list"})["requests"]
    assert [r["id"] for r in listing] == [request["id"]]
    assert any("verified" in line for line in said)


def test_get_of_a_missing_file_fails_with_the_payloads_answer(tmp_path: Path) -> None:
    files, link, _, _ = station_files(tmp_path)
    payload, counters = payload_entity(tmp_path)
    request = files.request({"op": "files_get", "remote": "nothing.bin", "local": str(tmp_path / "x")})["request"]
    exchange(files, link, payload, 50)
    status = files.request({"op": "files_status", "id": request["id"]})["request"]
    assert status["state"] == "failed" and status["condition"] == "refused by the payload"
    assert counters["proxy_refused"] == 1


def test_a_remote_listing_comes_back_as_entries(tmp_path: Path) -> None:
    files, link, _, _ = station_files(tmp_path)
    payload, _ = payload_entity(tmp_path, listing=True)
    (tmp_path / "payload" / "samples").mkdir(parents=True)
    (tmp_path / "payload" / "samples" / "s1.txt").write_bytes(b"abc")
    asked = files.request({"op": "files_list_remote", "remote": "samples"})["request"]
    missing = files.request({"op": "files_list_remote", "remote": "nowhere"})["request"]
    exchange(files, link, payload, 100)
    listed = files.request({"op": "files_status", "id": asked["id"]})["request"]
    assert listed["state"] == "finished" and [e["name"] for e in listed["listing"]] == ["samples/s1.txt"]
    assert files.request({"op": "files_status", "id": missing["id"]})["request"]["state"] == "failed"
    assert not any((tmp_path / "gfiles" / "downloads").iterdir())


def test_a_get_whose_transfer_failed_before_any_pdu_came_down_ends_on_the_payloads_event(tmp_path: Path) -> None:
    """The payload took the request and started sending, then failed (here: restarted) before its
    Metadata PDU reached the ground: only its event, naming the request as origin, can end the request."""
    files, link, archive, _ = station_files(tmp_path)
    payload, _ = payload_entity(tmp_path)
    (tmp_path / "payload").mkdir(parents=True, exist_ok=True)
    (tmp_path / "payload" / "big.bin").write_bytes(bytes(200_000))
    request = files.request({"op": "files_get", "remote": "big.bin", "local": str(tmp_path / "big.bin")})["request"]
    for _ in range(20):  # the request goes up; everything the payload sends back is lost
        files.step()
        for packet in link.sender.sent:
            payload.receive(unwrap_pdu(packet))
        link.sender.sent.clear()
        payload.poll()
        payload.take(64)
    sending = [live.transfer for live in payload.live.values()]
    assert len(sending) == 1 and sending[0].origin == request["id"]
    event = DICTIONARY.event("FILE_TRANSFER_FAILED")
    arguments = {"transaction": sending[0].key, "file": "big.bin", "reason": "supervisor restart",
                 "origin": sending[0].origin}
    raw = build_tm(DICTIONARY.mission.apids["core"], 5, int(event.severity), pack_event(event, arguments),
                   DICTIONARY.mission.tm_time.encode(time.time()), 1)
    archive.ingest([(raw, 0)], time.time())
    files._next_event_check = 0.0  # the station looks at once
    files.step()
    status = files.request({"op": "files_status", "id": request["id"]})["request"]
    assert status["state"] == "failed" and status["condition"] == "payload: supervisor restart"
    assert status["transaction"] == sending[0].key and files.counters["cancelled_by_payload"] == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=150), min_size=1, max_size=10))
def test_garbage_on_the_cfdp_apid_is_counted_by_the_station(tmp_path_factory, garbage: list[bytes]) -> None:
    files, _, archive, _ = station_files(tmp_path_factory.mktemp("s"))
    packets = [(wrap_pdu(CFDP, i, raw, telecommand=False) if raw else bytes([0x00, CFDP]), 2)
               for i, raw in enumerate(garbage)]
    assert files.take(packets) == []
    files.step()
    assert files.counters["pdus_in"] == len(garbage) and files.counters["pdus_rejected"] == len(garbage)
    archive.close()

"""The ground's CFDP entity inside the station: operators' ``get`` and ``put`` requests, the PDUs to and
from the payload, and what became of each request.

PDUs go up as space packets on the CFDP APID through the station's COP-1 sender (reliable, so class 1
is enough for the proxy put that asks the payload for a file) and come down on the files virtual
channel, where the station hands them here instead of to the archive. A ``get`` is a CFDP proxy put
request (727.0-B-5 6.2.6): the payload answers by sending the file as the source of a new
transaction that names the request as its origin. Received files land in ``[files] ground_root``
and, checksum verified, are moved to the operator's path.

cfdp-py's handlers live in memory only: a station restart loses the live transactions. Each request
is kept in the archive, so a restarted station reports the ones it lost as failed ("station restart")
instead of leaving an operator waiting; the payload's side ends by its own limits.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cfdppy.filestore import NativeFilestore
from spacepackets.cfdp import TransmissionMode
from spacepackets.cfdp.lv import CfdpLv
from spacepackets.cfdp.tlv import (
    DirectoryListingRequest,
    DirectoryParams,
    ProxyPutRequest,
    ProxyPutRequestParams,
    ProxyTransmissionMode,
)

from flight.counters import Counters
from flight.dictionary import Dictionary
from flight.files.entity import CfdpEntity, entity_id
from flight.files.errors import FileTransferError
from flight.files.filestore import RestrictedStore
from flight.files.listing import parse_listing
from flight.files.pdus import wrap_pdu
from flight.files.settings import files_settings
from flight.files.transfer import ACTIVE, FAILED, FINISHED, Transfer
from flight.link.pus import PRIMARY_HEADER_LEN, SequenceCounter, packet_apid
from flight.mission_config import MissionFile
from ground.archive import Archive
from ground.control import Reply, StationError
from ground.link import GroundLink

REQUESTS_KEY = "files.requests"
SEQUENCE_KEY = "files.sequence"
UPLINK_ROOM = 4  # CFDP packets waiting in the COP-1 queue at most: commands must not queue behind a file
REQUESTS_KEPT = 200
DOWNLOADS = "downloads"
MAX_LISTING = 4 << 20  # octets of a listing read at most
LISTING_KEPT = 2000  # entries of a listing kept with its request
EVENT_CHECK = 1.0  # seconds between looks at the payload's FILE_TRANSFER_FAILED events


class GroundFiles:
    def __init__(self, mission: MissionFile, dictionary: Dictionary, link: GroundLink, archive: Archive,
                 say: Callable[[str], None]) -> None:
        self.settings = settings = files_settings(mission)
        self.link = link
        self.archive = archive
        self.say = say
        self.apid = dictionary.mission.apids["cfdp"]
        self.counters = Counters("files")
        self.root = mission.resolve(settings.ground_root)
        self.store = RestrictedStore(self.root, "", self.counters)
        max_pdu = link.sender.max_packet_length - PRIMARY_HEADER_LEN
        # The operator names local files to send: those are read where they are. What the payload
        # sends is written only under the ground root, whatever its Metadata PDU says.
        self.entity = CfdpEntity(settings, settings.ground_entity, settings.flight_entity, max_pdu,
                                 NativeFilestore(), self.store, self.counters,
                                 sequence=archive.get_state(SEQUENCE_KEY, 0),
                                 save_sequence=lambda n: archive.set_state(SEQUENCE_KEY, n))
        self._packets = SequenceCounter()
        # The payload's events about transfers it failed (a restart) end ours at once, not by inactivity.
        self._event_seen = archive.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]
        self._next_event_check = 0.0
        self.requests: dict[str, dict[str, Any]] = archive.get_state(REQUESTS_KEY, {})
        self._resume()

    def _resume(self) -> None:
        """After a station restart. A class-2 ``get`` whose file the payload was already sending can
        resume: the payload's handler is alive, and a new receiving handler asks it again for the
        metadata and every octet (cfdp-py starts a transaction from a File Data or EOF PDU), so such a
        request waits up to the inactivity limit for its transaction. What this end was sending, or
        asking for, went with the last session's handlers: failed, to be asked again."""
        lost = 0
        for request in self.requests.values():
            if request["state"] != ACTIVE:
                continue
            if request["kind"] == "get" and request["transaction"] and request["cfdp_class"] == 2:
                request["resume_by"] = time.time() + self.settings.inactivity
                self.counters.inc("resuming")
                self.say(f"files: waiting for transaction {request['transaction']} ({request['remote']}) to resume")
            else:
                self._end(request, FAILED, "station restart")
                lost += 1
        if lost:
            self.say(f"files: {lost} transfer(s) lost with the last station session")
        self._save()

    def _expire(self) -> None:
        now = time.time()
        live = {x.transfer.key for x in self.entity.live.values()}
        for request in self.requests.values():
            deadline = request.get("resume_by")
            if request["state"] == ACTIVE and deadline and now > deadline and request["transaction"] not in live:
                self._end(request, FAILED, "station restart: the payload's transfer did not resume")
                self._save()

    # --- the station's loop ---------------------------------------------------------------------

    def take(self, received: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
        """The CFDP packets among ``received`` go to the entity; the rest is returned for the archive."""
        rest = []
        for packet, vcid in received:
            if packet_apid(packet) != self.apid:
                rest.append((packet, vcid))
                continue
            self.entity.receive_packet(packet)
        return rest

    def step(self) -> None:
        if time.monotonic() >= self._next_event_check:
            self._next_event_check = time.monotonic() + EVENT_CHECK
            if self.entity.live or any(r["state"] == ACTIVE for r in self.requests.values()):
                self._payload_failures()
            self._expire()
        self.entity.poll()
        sender = self.link.sender
        while self.entity.outbox and sender.pending < UPLINK_ROOM:
            for pdu in self.entity.take(1):
                sender.send(wrap_pdu(self.apid, self._packets.next(self.apid), pdu, telecommand=True), "cfdp")
        notes, self.entity.notes = self.entity.notes, []
        for kind, transfer in notes:
            self._note(kind, transfer)
        if notes:
            self._save()

    def _payload_failures(self) -> None:
        for event in self.archive.events(self._event_seen):
            self._event_seen = event.id
            if event.name != "FILE_TRANSFER_FAILED":
                continue
            key, reason = str(event.arguments.get("transaction", "")), f"payload: {event.arguments.get('reason', '')}"
            if self.entity.cancel(key, reason) is not None:
                self.counters.inc("cancelled_by_payload")
                continue
            # Nothing of that transfer reached us (it failed before its Metadata came down): the
            # request that asked for it ends here, or it would wait for a transfer that never comes.
            request = self.requests.get(str(event.arguments.get("origin", "")))
            if request is not None and request["state"] == ACTIVE and request["kind"] in ("get", "list") \
                    and request["transaction"] in ("", key):
                request["transaction"] = key
                self._end(request, FAILED, reason)
                self.counters.inc("cancelled_by_payload")
                self._save()

    # --- operators' requests --------------------------------------------------------------------

    def request(self, request: dict[str, Any]) -> Reply:
        op = request.get("op")
        if op == "files_put":
            local, remote = _text(request, "local"), _text(request, "remote")
            return {"ok": True, "request": self.put(local, remote, _class(request))}
        if op == "files_get":
            local, remote = _text(request, "local"), _text(request, "remote")
            return {"ok": True, "request": self.get(remote, local, _class(request))}
        if op == "files_list_remote":
            directory = request.get("remote", "")
            if not isinstance(directory, str) or len(directory) > 1024:
                raise StationError("remote must be a directory name", "remote")
            return {"ok": True, "request": self.list_remote(directory)}
        if op == "files_status":
            found = self.requests.get(_text(request, "id"))
            if found is None:
                raise StationError(f"no file request {request.get('id')!r}", "id")
            return {"ok": True, "request": self._view(found)}
        if op == "files_list":
            # Without the listings' entries: files_status gives those, one request at a time.
            return {"ok": True, "requests": [{k: v for k, v in self._view(r).items() if k != "listing"}
                                             for r in self.requests.values()]}
        raise StationError(f"unknown op {op!r}", "op")

    def put(self, local: str, remote: str, cfdp_class: int) -> dict[str, Any]:
        if not Path(local).is_absolute():
            raise StationError("the local file must be an absolute path (the station runs elsewhere)", "local")
        try:
            transfer = self.entity.put(local, remote, cfdp_class == 2)
        except FileTransferError as exc:
            raise StationError(str(exc), exc.reason) from None
        request = self._new("put", local, remote, cfdp_class, transfer)
        self.say(f"files: put {local} -> {remote} (class {cfdp_class}, transaction {transfer.key})")
        return self._view(request)

    def get(self, remote: str, local: str, cfdp_class: int) -> dict[str, Any]:
        if not Path(local).is_absolute():
            raise StationError("the local file must be an absolute path (the station runs elsewhere)", "local")
        # The payload writes to us under the ground root; the operator's path is reached by a move
        # once the checksum is verified, so nothing half-received ever sits at that path.
        staging = f"{DOWNLOADS}/{time.time_ns()}-{Path(remote).name or 'file'}"
        mode = TransmissionMode.ACKNOWLEDGED if cfdp_class == 2 else TransmissionMode.UNACKNOWLEDGED
        ask = ProxyPutRequest(ProxyPutRequestParams(entity_id(self.settings.ground_entity),
                                                    CfdpLv.from_str(remote), CfdpLv.from_str(staging)))
        try:
            # The request itself rides class 1: COP-1 already delivers it exactly once.
            transfer = self.entity.put(None, None, False, [ask, ProxyTransmissionMode(mode)])
        except (FileTransferError, ValueError) as exc:
            raise StationError(str(exc), getattr(exc, "reason", "remote")) from None
        request = self._new("get", local, remote, cfdp_class, transfer)
        request["staging"] = staging
        self.say(f"files: get {remote} -> {local} (class {cfdp_class}, request {transfer.key})")
        return self._view(request)

    def list_remote(self, directory: str) -> dict[str, Any]:
        """Ask the payload for a listing of one of its directories (CFDP directory listing request)."""
        staging = f"{DOWNLOADS}/{time.time_ns()}-listing.jsonl"
        ask = DirectoryListingRequest(DirectoryParams.from_strs(directory or ".", staging))
        try:
            transfer = self.entity.put(None, None, False, [ask])
        except FileTransferError as exc:
            raise StationError(str(exc), exc.reason) from None
        request = self._new("list", "", directory or ".", 2, transfer)
        request["staging"] = staging
        self._save()
        return self._view(request)

    # --- bookkeeping ----------------------------------------------------------------------------

    def _new(self, kind: str, local: str, remote: str, cfdp_class: int, transfer: Transfer) -> dict[str, Any]:
        request = {"id": transfer.key, "kind": kind, "local": local, "remote": remote, "cfdp_class": cfdp_class,
                   "transaction": transfer.key if kind == "put" else "", "state": ACTIVE, "condition": "",
                   "size": transfer.size, "progress": 0, "checksum": "", "checksum_type": self.settings.checksum,
                   "verified": False, "retransmitted": 0, "naks": 0, "started": time.time(), "ended": None}
        self.requests[request["id"]] = request
        while len(self.requests) > REQUESTS_KEPT:
            oldest = next((k for k, r in self.requests.items() if r["state"] != ACTIVE), None)
            if oldest is None:
                break
            del self.requests[oldest]
        self._save()
        return request

    def _note(self, kind: str, transfer: Transfer) -> None:
        request = self._request_of(transfer)
        if request is None:
            if kind == "started":
                self.counters.inc("unrequested")  # a transfer no operator asked for: received, kept, logged
                self.say(f"files: transaction {transfer.key} from the payload: {transfer.source} -> {transfer.dest}")
            return
        if request["kind"] in ("get", "list") and transfer.role == "send":
            if kind == "failed":
                self._end(request, FAILED, f"request not delivered: {transfer.condition}")
            return  # the proxy put request went; the file is another transaction
        if kind == "started":
            request["transaction"] = transfer.key
            return
        self._copy(request, transfer)
        if kind == "failed":
            self._end(request, FAILED, transfer.condition)
        elif request["kind"] in ("get", "list") and not transfer.dest:
            # A metadata-only answer to the request: the payload refused it (no such file, a refused name).
            self._end(request, FAILED, "refused by the payload")
        elif request["kind"] == "get":
            self._deliver(request)
        elif request["kind"] == "list":
            self._read_listing(request)
        else:
            self._end(request, FINISHED, transfer.condition)

    def _request_of(self, transfer: Transfer) -> dict[str, Any] | None:
        if transfer.key in self.requests:
            return self.requests[transfer.key]
        if transfer.origin in self.requests:
            return self.requests[transfer.origin]
        return next((r for r in self.requests.values() if r["transaction"] == transfer.key), None)

    def _copy(self, request: dict[str, Any], transfer: Transfer) -> None:
        for name in ("size", "progress", "checksum", "checksum_type", "verified", "retransmitted", "naks"):
            request[name] = getattr(transfer, name)

    def _deliver(self, request: dict[str, Any]) -> None:
        try:
            received = self.store.resolve(request["staging"])
            target = Path(request["local"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(received, target)
        except (OSError, FileTransferError) as exc:
            self._end(request, FAILED, f"received, but not moved to {request['local']}: {exc}")
            return
        self._end(request, FINISHED, "NO_ERROR")
        self.say(f"files: {request['remote']} -> {request['local']}: {request['size']} octets, "
                 f"{request['checksum_type']} {request['checksum']} verified")

    def _read_listing(self, request: dict[str, Any]) -> None:
        try:
            path = self.store.resolve(request["staging"])
            with path.open("rb") as listing:
                text = listing.read(MAX_LISTING).decode(errors="replace")
            path.unlink()
        except (OSError, FileTransferError) as exc:
            self._end(request, FAILED, f"listing received but unreadable: {exc}")
            return
        request["listing"] = parse_listing(text, LISTING_KEPT)
        self._end(request, FINISHED, "NO_ERROR")

    def _end(self, request: dict[str, Any], state: str, condition: str) -> None:
        request.update(state=state, condition=condition, ended=time.time())
        self.counters.inc("requests_finished" if state == FINISHED else "requests_failed")
        if state == FAILED:
            self.say(f"files: {request['kind']} {request['remote']} failed: {condition}")

    def _view(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request with the live progress of its transaction."""
        view = dict(request)
        for live in self.entity.live.values():
            if live.transfer.key == request["transaction"] and request["transaction"]:
                view["progress"], view["size"] = live.transfer.progress, live.transfer.size
                view["retransmitted"], view["naks"] = live.transfer.retransmitted, live.transfer.naks
        return view

    def _save(self) -> None:
        self.archive.set_state(REQUESTS_KEY, self.requests)


def _text(request: dict[str, Any], name: str) -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise StationError(f"{name} must be a file name", name)
    return value


def _class(request: dict[str, Any]) -> int:
    value = request.get("cfdp_class", 2)
    if value not in (1, 2):
        raise StationError("cfdp_class must be 1 or 2", "cfdp_class")
    return int(value)

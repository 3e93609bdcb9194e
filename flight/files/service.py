"""The payload's file service: the onboard CFDP entity inside the supervisor.

Uplinked PDUs arrive as space packets on the CFDP APID through COP-1 and the command journal (so
they are acted on exactly once, like commands); downlinked PDUs go straight to the files virtual
channel, behind real time and playback, without the onboard store: class 2 is CFDP's own
store-and-forward. The filestore is ``[files] root``; what the ground sends lands under its
``uplink/`` area, as data only.

What cfdp-py cannot keep across a restart is its handlers' state. Each live transfer's record is in
the state database, so a restarted supervisor reports every transfer its last life left unfinished
as FILE_TRANSFER_FAILED ("supervisor restart"), drops the partial uplinked file, and the ground's
entity gives up on its side by its inactivity limit (or at once, seeing the event).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from pathlib import Path
from typing import Any

from flight.counters import Counters
from flight.files.entity import CfdpEntity
from flight.files.errors import FileTransferError
from flight.files.filestore import RestrictedStore
from flight.files.listing import is_listing, write_listing
from flight.files.pdus import wrap_pdu
from flight.files.settings import UPLINK_AREA, FilesSettings
from flight.files.transfer import Transfer
from flight.link.pus import PRIMARY_HEADER_LEN, SequenceCounter, packet_apid
from flight.link.vcmux import VirtualChannelMux
from flight.supervisor.services.events import EventReporter
from flight.supervisor.state_db import StateDb

FILES_VC = 2
FILES_ROOM = 4  # frames' worth of PDUs queued on the files VC at most: the rest waits in the entity
TRANSFERS_KEY = "files.transfers"
SEQUENCE_KEY = "files.sequence"


class OnboardFiles:
    def __init__(self, settings: FilesSettings, root: Path, db: StateDb, events: EventReporter, apid: int,
                 mux: VirtualChannelMux, unit: Callable[[], AbstractContextManager[None]]) -> None:
        self.settings = settings
        self.db = db
        self.events = events
        self.apid = apid
        self.mux = mux
        self.unit = unit
        self.counters = Counters("files")
        self._sequence_next: int | None = None
        # One PDU per frame: a lost frame costs one PDU, never two halves.
        max_pdu = mux.fmt.data_field_len - PRIMARY_HEADER_LEN
        self.reader = RestrictedStore(root, "", self.counters)
        self.entity = CfdpEntity(settings, settings.flight_entity, settings.ground_entity, max_pdu, self.reader,
                                 RestrictedStore(root, UPLINK_AREA, self.counters), self.counters,
                                 sequence=db.get(SEQUENCE_KEY, 0), save_sequence=self._sequence_moved,
                                 lister=lambda directory: write_listing(self.reader, directory))
        self._packets = SequenceCounter()
        self._room = FILES_ROOM * mux.fmt.data_field_len  # octets the files VC may hold queued

    def owns(self, packet: bytes) -> bool:
        return packet_apid(packet) == self.apid

    def receive(self, packet: bytes) -> None:
        """One uplinked packet (inside the unit that takes it off the journal)."""
        self.entity.receive_packet(packet)
        self._record()

    def tick(self) -> None:
        """Timers, file data while the files VC has room, and the records and events of what changed."""
        self.entity.poll()
        while self.entity.outbox and self.mux.queued_octets(FILES_VC) < self._room:
            for pdu in self.entity.take(FILES_ROOM):
                self.mux.push(FILES_VC, wrap_pdu(self.apid, self._packets.next(self.apid), pdu, telecommand=False))
        if self.entity.notes or self.entity.renamed or self._sequence_next is not None:
            with self.unit():
                self._record()

    def sample(self) -> dict[str, Any]:
        return {"files.active": len(self.entity.live)}

    def put(self, source: str, dest: str, acknowledged: bool) -> Transfer:
        """Send a file of the filestore to the ground (inside a unit)."""
        transfer = self.entity.put(source, dest, acknowledged)
        self._record()
        return transfer

    # --- inside a unit of work ------------------------------------------------------------------

    def _sequence_moved(self, next_number: int) -> None:
        self._sequence_next = next_number

    def _record(self) -> None:
        """Events for what started and ended; the live transfers and the sequence number, on disk."""
        notes, self.entity.notes = self.entity.notes, []
        for kind, transfer in notes:
            self._event(kind, transfer)
            if kind != "started" and transfer.role == "send" and is_listing(transfer.source):
                self._discard(transfer.source, self.reader)
        if self._sequence_next is not None:
            self.db.put(SEQUENCE_KEY, self._sequence_next)
            self._sequence_next = None
        if notes or self.entity.renamed:  # a partial upload must be findable (and removed) after a restart
            self.entity.renamed = False
            self.db.put(TRANSFERS_KEY, {live.transfer.key: live.transfer.as_dict()
                                        for live in self.entity.live.values()})

    def _event(self, kind: str, transfer: Transfer) -> None:
        name = (transfer.dest if transfer.role == "receive" else transfer.source)[:200]
        if kind == "started":
            self.events.raise_event("FILE_TRANSFER_STARTED", transaction=transfer.key,
                                    direction="uplink" if transfer.role == "receive" else "downlink", file=name,
                                    size=transfer.size or 0, cfdp_class=2 if transfer.acknowledged else 1)
        elif kind == "finished":
            self.events.raise_event("FILE_TRANSFER_FINISHED", transaction=transfer.key, file=name,
                                    size=transfer.size or 0, checksum_type=transfer.checksum_type,
                                    checksum=transfer.checksum, verified=transfer.verified)
        else:
            # The origin (the ground's get request) lets the ground end its request even when this
            # transfer failed before its first PDU reached it.
            self.events.raise_event("FILE_TRANSFER_FAILED", transaction=transfer.key, file=name,
                                    reason=transfer.condition[:200], origin=transfer.origin[:40])

    def recover(self) -> None:
        """At boot (inside a unit): what the last life was transferring failed with it (cfdp-py keeps no
        state on disk); each gets its event, and a partial upload is removed."""
        for saved in self.db.get(TRANSFERS_KEY, {}).values():
            transfer = Transfer.from_dict(saved)
            transfer.state, transfer.condition = "failed", "supervisor restart"
            self.counters.inc("failed")
            self.counters.inc("interrupted")
            if transfer.role == "receive" and transfer.dest:
                self._discard(transfer.dest)
            self.entity.forget(transfer)
            self._event("failed", transfer)
        self.db.put(TRANSFERS_KEY, {})

    def _discard(self, name: str, store: RestrictedStore | None = None) -> None:
        """A partial uplinked file is not a file (removed, so nothing mistakes it for the real one); a
        listing that went down has done its job."""
        with suppress(FileTransferError, OSError):
            path = (store or self.entity.writer).resolve(name)  # type: ignore[attr-defined]
            if path.is_file():
                path.unlink()

"""A CFDP entity on top of cfdp-py: many transactions at once, one door for PDUs in and out.

cfdp-py's SourceHandler and DestHandler carry one transaction each, so the entity keeps one handler
per live transaction, keyed by its transaction ID, and routes every incoming PDU to it (or starts a
receiving one). Both ends of the link use this class; what differs (filestores, the peer, what to do
with a finished transfer) is given to it.

Whatever arrives is refused with a counted reason rather than raised: a PDU that does not decode, is
not addressed to us, belongs to no transaction, or that cfdp-py itself refuses. ``outbox`` holds the
PDUs to send, in order; the caller drains it at the pace of its link, and the entity only produces
new file data, or the data a NAK asks for again, while the outbox is short (cfdp-py leaves flow
control to its user, and would build a NAK's every PDU at once).

cfdp-py keeps its state in memory only (no suspend/resume or persistence). When the receiving end
of a class-2 transfer restarts, the sender's handler lives on, and the new receiver starts again from
its File Data or EOF PDUs, asking for the metadata and every octet (with the fixes of
:mod:`flight.files.cfdp_fixes`); when the sending end restarts, the transfer is lost. The services
above keep each transfer's record and say which; an end left alone gives up at the inactivity limit.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from cfdppy import CfdpState, IndicationConfig, LocalEntityConfig, PutRequest, RemoteEntityConfig
from cfdppy import RemoteEntityConfigTable as RemoteTable
from cfdppy.exceptions import SourceFileDoesNotExist
from cfdppy.filestore import VirtualFilestore
from cfdppy.handler.dest import DestHandler, acknowledge_inactive_eof_pdu
from cfdppy.handler.dest import TransactionStep as DestStep
from cfdppy.handler.source import SourceHandler, TransactionStep
from cfdppy.user import MetadataRecvParams
from spacepackets.cfdp import (
    ConditionCode,
    Direction,
    GenericPduPacket,
    PduType,
    TransactionId,
    TransmissionMode,
)
from spacepackets.cfdp.pdu import (
    AckPdu,
    DeliveryCode,
    DirectiveType,
    EofPdu,
    FileDataPdu,
    FinishedPdu,
    MetadataPdu,
    NakPdu,
    PduConfig,
    TransactionStatus,
)
from spacepackets.cfdp.tlv import MessageToUserTlv, OriginatingTransactionId, ReservedCfdpMessage
from spacepackets.util import UnsignedByteField

from flight.counters import Counters
from flight.files import cfdp_fixes
from flight.files.adapters import CheckTimers, FaultRecorder, SequenceNumbers, TransactionUser
from flight.files.errors import FileTransferError, PathRefused, PduRejected
from flight.files.gaps import Gaps
from flight.files.messages import ListingRequest, ProxyPut, listing_answer, put_refused, read_messages
from flight.files.pdus import decode_pdu, unwrap_pdu
from flight.files.settings import FilesSettings
from flight.files.transfer import ACTIVE, FAILED, FINISHED, Transfer, transaction_key

ID_OCTETS = 2
OUTBOX_LOW = 16  # new file data only while fewer PDUs than this wait to be sent
# The steps in which cfdp-py's sender serves a NAK (in others it would refuse or lose one).
RESEND_STEPS = (TransactionStep.SENDING_FILE_DATA, TransactionStep.WAITING_FOR_EOF_ACK,
                TransactionStep.WAITING_FOR_FINISHED)
RECENT_KEPT = 64  # ended transactions remembered, to answer their late EOF/Finished PDUs
Note = tuple[str, Transfer]  # ("started" | "finished" | "failed", the transfer)


def entity_id(value: int) -> UnsignedByteField:
    return UnsignedByteField(value, ID_OCTETS)


@dataclass
class _Live:
    handler: SourceHandler | DestHandler
    user: TransactionUser
    transfer: Transfer
    last_activity: float
    sent_up_to: int = 0  # the highest file offset sent so far: data below it again is a retransmission
    fault: ConditionCode | None = None
    announced: bool = False  # "started" is reported once the handler took the transaction on
    # Sending, class 2: what the receiver's NAKs asked for and has not gone out again yet.
    resend: Gaps = field(default_factory=Gaps)
    resend_metadata: bool = False
    nak_conf: PduConfig | None = None  # the NAKs' own header, for the ones handed to cfdp-py
    # Receiving, class 2: the NAKs of its last sequence still waiting in the outbox.
    naks_waiting: list[bytes] = field(default_factory=list)


class CfdpEntity:
    def __init__(self, settings: FilesSettings, local: int, remote: int, max_packet_len: int,
                 reader: VirtualFilestore, writer: VirtualFilestore, counters: Counters, sequence: int = 0,
                 save_sequence: Callable[[int], None] = lambda _n: None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 lister: Callable[[str], str] | None = None) -> None:
        self.settings = settings
        self.local, self.remote = local, remote
        self.reader, self.writer = reader, writer
        self.counters = counters
        self.clock, self.wall = clock, wall
        self._config = LocalEntityConfig(entity_id(local), IndicationConfig(file_segment_recvd_indication_required=False),
                                         FaultRecorder(self))
        # Deferred NAKs: one NAK sequence after EOF lists every gap, instead of one uplink PDU per gap
        # (the uplink is the narrow direction, and COP-1 carries each of its PDUs reliably); a newer
        # sequence replaces the older ones still waiting (_supersede).
        self._remote = RemoteTable([RemoteEntityConfig(
            entity_id=entity_id(remote), max_file_segment_len=None, max_packet_len=max_packet_len,
            closure_requested=False, crc_on_transmission=settings.pdu_crc,
            default_transmission_mode=TransmissionMode.ACKNOWLEDGED, crc_type=settings.checksum_type,
            positive_ack_timer_interval_seconds=settings.ack_timer,
            positive_ack_timer_expiration_limit=settings.ack_limit, check_limit=settings.check_limit,
            immediate_nak_mode=False, nak_timer_interval_seconds=settings.nak_timer,
            nak_timer_expiration_limit=settings.nak_limit)])
        self._timers = CheckTimers(settings.check_timer)
        self._sequence = SequenceNumbers(sequence, save_sequence)
        self.live: dict[tuple[int, int], _Live] = {}
        self.recent: OrderedDict[tuple[int, int], Transfer] = OrderedDict()
        self.outbox: deque[bytes] = deque()
        self.notes: list[Note] = []
        self.renamed = False  # a reception learned its file name from late metadata: its record must be saved
        self.proxy_puts: list[ProxyPut] = []
        self.listings: list[ListingRequest] = []
        # Writes a listing of a directory into the reader's filestore and names it; None: not offered.
        self.lister = lister

    # --- requests -------------------------------------------------------------------------------

    def put(self, source: str | None, dest: str | None, acknowledged: bool,
            messages: list[MessageToUserTlv | ReservedCfdpMessage] | None = None, origin: str = "") -> Transfer:
        """Start sending ``source`` (in the reader's filestore) to ``dest`` at the peer; with both None,
        a metadata-only transaction carrying ``messages``. FileTransferError (typed) if refused."""
        if len(self.live) >= self.settings.max_transfers:
            self.counters.inc("puts_refused")
            raise FileTransferError("busy", f"{len(self.live)} transfers are active, the most allowed")
        size = 0
        if source is not None:
            try:
                if not self.reader.file_exists(Path(source)) or self.reader.is_directory(Path(source)):
                    raise FileTransferError("no_file", f"no file {source!r} to send")
                size = self.reader.file_size(Path(source))
            except FileTransferError:
                self.counters.inc("puts_refused")
                raise
            if size > self.settings.max_file_size:
                self.counters.inc("puts_refused")
                raise FileTransferError("too_large", f"{source!r} has {size} octets, more than "
                                                     f"{self.settings.max_file_size}")
        if messages is not None:  # cfdp-py wants the generic form
            messages = [m.to_generic_msg_to_user_tlv() if isinstance(m, ReservedCfdpMessage) else m for m in messages]
        user = TransactionUser(self.reader, self)
        handler = SourceHandler(self._config, user, self._remote, self._timers, self._sequence)
        mode = TransmissionMode.ACKNOWLEDGED if acknowledged else TransmissionMode.UNACKNOWLEDGED
        request = PutRequest(destination_id=entity_id(self.remote), source_file=Path(source) if source else None,
                             dest_file=Path(dest) if dest else None, trans_mode=mode,
                             closure_requested=acknowledged, msgs_to_user=messages)
        try:
            handler.put_request(request)
            handler.state_machine()
        except (SourceFileDoesNotExist, FileNotFoundError):
            self.counters.inc("puts_refused")
            raise FileTransferError("no_file", f"no file {source!r} to send") from None
        tid = handler.transaction_id
        assert tid is not None
        key = (tid.source_id.value, tid.seq_num.value)
        transfer = Transfer(transaction_key(*key), "send", acknowledged, source or "", dest or "", size,
                            checksum_type=self.settings.checksum, origin=origin, started=self.wall())
        live = _Live(handler, user, transfer, self.clock())
        self.live[key] = live
        self._drain(live)
        self._announce(live)
        return transfer

    def cancel(self, key: str, reason: str) -> Transfer | None:
        """Fail a live transaction here at once (cfdp-py forgets it), e.g. one a restart orphaned."""
        for index, live in list(self.live.items()):
            if live.transfer.key == key:
                live.handler.reset()
                self._end(index, live, FAILED, reason)
                return live.transfer
        return None

    def forget(self, transfer: Transfer) -> None:
        """Remember a transaction that ended with a previous life of this entity: its late PDUs are
        answered as stale, and do not start a receiving handler that nobody would finish."""
        source, _, seq = transfer.key.partition(":")
        if source.isdigit() and seq.isdigit():
            self.recent[(int(source), int(seq))] = transfer

    # --- PDUs in --------------------------------------------------------------------------------

    def receive(self, raw: bytes) -> bool:
        """Take one PDU from the peer; False (and counted) when it was refused."""
        self.counters.inc("pdus_in")
        try:
            self._route(decode_pdu(raw))
        except FileTransferError as exc:
            self.reject(exc.reason)
            return False
        except Exception:  # a decoder path nobody foresaw: still a counted refusal, never a dead process
            self.reject("unexpected")
            return False
        return True

    def receive_packet(self, packet: bytes) -> bool:
        """Take one space packet of the CFDP APID: its PDU, or a counted refusal of what is not one."""
        try:
            pdu = unwrap_pdu(packet)
        except FileTransferError as exc:
            self.counters.inc("pdus_in")
            self.reject(exc.reason)
            return False
        return self.receive(pdu)

    def reject(self, reason: str) -> None:
        self.counters.inc("pdus_rejected")
        self.counters.inc(f"rejected_{reason}")

    def _route(self, pdu: GenericPduPacket) -> None:
        to_receiver = pdu.pdu_header.direction == Direction.TOWARDS_RECEIVER
        source, dest = pdu.source_entity_id.value, pdu.dest_entity_id.value
        if (source, dest) != ((self.remote, self.local) if to_receiver else (self.local, self.remote)):
            raise PduRejected("entity", f"a PDU from entity {source} to {dest} is not for this entity")
        directive = None if pdu.pdu_type == PduType.FILE_DATA else pdu.directive_type
        if to_receiver != (directive in (None, DirectiveType.METADATA_PDU, DirectiveType.EOF_PDU,
                                         DirectiveType.PROMPT_PDU)
                           or (directive == DirectiveType.ACK_PDU and self._acks(pdu) == DirectiveType.FINISHED_PDU)):
            raise PduRejected("direction", f"{directive!r} in the wrong direction")
        key = (source, pdu.transaction_seq_num.value)
        live = self.live.get(key)
        if live is None:
            live = self._start_receiving(key, pdu, directive) if to_receiver else None
            if live is None:
                self._inactive(key, pdu, directive)
                return
        elif (live.transfer.role == "receive") != to_receiver:
            raise PduRejected("direction", "a PDU for the other side of a transaction")
        live.last_activity = self.clock()
        if isinstance(pdu, EofPdu):
            live.transfer.checksum = bytes(pdu.file_checksum).hex()
        elif isinstance(pdu, NakPdu):
            live.transfer.naks += 1
            self.counters.inc("naks_in")
            if isinstance(live.handler, SourceHandler) and live.transfer.acknowledged:
                self._note_nak(live, pdu)
                return
        self._bridge(live, pdu)
        try:
            live.handler.state_machine(pdu)
        except Exception as exc:  # cfdp-py refuses it (ignored for this state, a bad NAK, ...): counted
            self._drain(live)
            if not live.announced and live.handler.state == CfdpState.IDLE:
                del self.live[key]  # it never began: nothing to report, nothing to remember
            raise PduRejected("handler", f"cfdp-py: {type(exc).__name__}: {exc}") from None
        if isinstance(live.handler, DestHandler):
            if isinstance(pdu, MetadataPdu):
                cfdp_fixes.after_metadata(live.handler)
            elif isinstance(pdu, EofPdu):
                cfdp_fixes.after_eof(live.handler, pdu)
        self._drain(live)
        self._settle(key, live)

    def _bridge(self, live: _Live, pdu: GenericPduPacket) -> None:
        """Two exchanges cfdp-py 0.7.0 stalls on when a receiver cancels early (a refused file name):
        its sender waiting for the EOF's ACK ignores the Finished PDU, and its receiver waiting for the
        Finished's ACK never acknowledges the EOF. A Finished implies the EOF arrived (4.6.4.2), so the
        sender takes it as the ACK too; the receiver acknowledges a late EOF as the standard asks."""
        handler = live.handler
        if isinstance(pdu, FinishedPdu) and isinstance(handler, SourceHandler) and \
                handler.step == TransactionStep.WAITING_FOR_EOF_ACK:
            handler.state_machine(AckPdu(pdu.pdu_header.pdu_conf, DirectiveType.EOF_PDU, ConditionCode.NO_ERROR,
                                         TransactionStatus.ACTIVE))
            self._drain(live)
        elif isinstance(pdu, EofPdu) and isinstance(handler, DestHandler) and \
                handler.step == DestStep.WAITING_FOR_FINISHED_ACK and \
                pdu.transmission_mode == TransmissionMode.ACKNOWLEDGED:
            self._send(acknowledge_inactive_eof_pdu(pdu, TransactionStatus.TERMINATED))

    @staticmethod
    def _acks(pdu: GenericPduPacket) -> DirectiveType | None:
        return pdu.directive_code_of_acked_pdu if isinstance(pdu, AckPdu) else None

    def _start_receiving(self, key: tuple[int, int], pdu: GenericPduPacket, directive: DirectiveType | None
                         ) -> _Live | None:
        if key in self.recent or directive not in (None, DirectiveType.METADATA_PDU, DirectiveType.EOF_PDU):
            return None
        if len(self.live) >= self.settings.max_transfers:
            raise PduRejected("busy", f"{len(self.live)} transfers are active, the most allowed")
        user = TransactionUser(self.writer, self)
        handler = DestHandler(self._config, user, self._remote, self._timers)
        transfer = Transfer(transaction_key(*key), "receive",
                            pdu.transmission_mode == TransmissionMode.ACKNOWLEDGED,
                            checksum_type=self.settings.checksum, started=self.wall())
        if isinstance(pdu, MetadataPdu):
            transfer.source, transfer.dest = pdu.source_file_name or "", pdu.dest_file_name or ""
            transfer.size = pdu.file_size
        live = _Live(handler, user, transfer, self.clock())
        self.live[key] = live
        return live

    def _inactive(self, key: tuple[int, int], pdu: GenericPduPacket, directive: DirectiveType | None) -> None:
        """A PDU of no live transaction: a late EOF or Finished of an ended one is still acknowledged
        (4.7.2), so that the peer stops repeating it; anything else is refused."""
        known = key in self.recent
        status = TransactionStatus.TERMINATED if known else TransactionStatus.UNRECOGNIZED
        if isinstance(pdu, EofPdu) and pdu.transmission_mode == TransmissionMode.ACKNOWLEDGED:
            self._send(acknowledge_inactive_eof_pdu(pdu, status))
        elif isinstance(pdu, FinishedPdu) and pdu.transmission_mode == TransmissionMode.ACKNOWLEDGED:
            conf = pdu.pdu_header.pdu_conf
            conf.direction = Direction.TOWARDS_RECEIVER
            self._send(AckPdu(conf, DirectiveType.FINISHED_PDU, pdu.condition_code, status))
        raise PduRejected("stale" if known else "unknown_transaction",
                          f"no live transaction {transaction_key(*key)} for {directive!r}")

    # --- time -----------------------------------------------------------------------------------

    def poll(self) -> None:
        """Run every transaction's timers, make file data while the outbox has room, end what ended."""
        now = self.clock()
        for key, live in list(self.live.items()):
            handler = live.handler
            try:
                if isinstance(handler, SourceHandler):
                    self._resend(live)
                    made = -1
                    while (len(self.outbox) < OUTBOX_LOW and made != len(self.outbox)
                           and handler.state != CfdpState.IDLE):
                        made = len(self.outbox)
                        handler.state_machine()
                        self._drain(live)
                        if handler.step not in (TransactionStep.SENDING_FILE_DATA, TransactionStep.SENDING_METADATA):
                            break
                else:
                    handler.state_machine()
            except Exception as exc:  # e.g. the file to send vanished: this transaction fails, not the entity
                self.counters.inc("handler_errors")
                handler.reset()
                self._drain(live)
                self._end(key, live, FAILED, f"error: {type(exc).__name__}")
                continue
            self._drain(live)
            self._settle(key, live)
            if key in self.live and now - live.last_activity > self.settings.inactivity:
                handler.reset()
                self._end(key, live, FAILED, ConditionCode.INACTIVITY_DETECTED.name)
        self._serve_proxy_puts()
        self._serve_listings()

    def _note_nak(self, live: _Live, nak: NakPdu) -> None:
        """A NAK to a class-2 transaction this entity sends: its requests join the ones not yet served,
        and :meth:`_resend` serves them as the outbox empties. cfdp-py would build every PDU a NAK asks
        for at once (a NAK after a long loss of signal asks for megabytes, and repeats), and its caller
        could do nothing else meanwhile. Refused as cfdp-py would refuse it: nothing is noted then."""
        sent = live.handler.progress
        requests = list(nak.segment_requests or [])
        for start, end in requests:
            if (start, end) != (0, 0) and (end < start or start > sent):
                raise PduRejected("handler", f"a NAK asks for octets {start}..{end}, not sent yet or no range")
        for start, end in requests:
            if (start, end) == (0, 0):
                live.resend_metadata = True
            else:  # beyond what was sent, the data goes out as new data anyway
                live.resend.add(start, min(end, sent))
        live.nak_conf = nak.pdu_header.pdu_conf
        self._resend(live)

    def _resend(self, live: _Live) -> None:
        """Hand cfdp-py the next NAKed ranges, as many PDUs' worth as the outbox has room for, when the
        handler is in a step that takes a NAK. One slice a call: cfdp-py is then retransmitting, and
        goes back to its step on its next call."""
        handler = live.handler
        assert isinstance(handler, SourceHandler)
        if not (live.resend or live.resend_metadata) or live.nak_conf is None or len(self.outbox) >= OUTBOX_LOW \
                or handler.step not in RESEND_STEPS:
            return
        segment = max(handler._params.fp.segment_len, 1)  # cfdp-py's own segment size for this transaction
        requests = [(0, 0)] if live.resend_metadata else []
        live.resend_metadata = False
        requests += live.resend.take((OUTBOX_LOW - len(self.outbox)) * segment)
        handler.state_machine(NakPdu(live.nak_conf, 0, handler.progress, requests))
        self._drain(live)

    def take(self, most: int) -> list[bytes]:
        """Up to ``most`` PDUs to send, oldest first."""
        return [self.outbox.popleft() for _ in range(min(most, len(self.outbox)))]

    # --- inside ---------------------------------------------------------------------------------

    def _send(self, pdu: GenericPduPacket) -> bytes | None:
        try:
            raw = bytes(pdu.pack())
        except Exception:  # a PDU built from a peer's nonsense (an unknown condition code echoed back)
            self.counters.inc("unpackable")
            return None
        self.outbox.append(raw)
        self.counters.inc("pdus_out")
        return raw

    def _drain(self, live: _Live) -> None:
        """Move what the handler made into the outbox (cfdp-py insists on it before its next call)."""
        new_sequence = True
        while (holder := live.handler.get_next_packet()) is not None:
            pdu = holder.pdu
            if isinstance(pdu, FileDataPdu):
                live.last_activity = self.clock()
                end = pdu.offset + len(pdu.file_data)
                if end <= live.sent_up_to:
                    live.transfer.retransmitted += 1
                    self.counters.inc("retransmitted")
                live.sent_up_to = max(live.sent_up_to, end)
            elif isinstance(pdu, NakPdu):
                live.transfer.naks += 1
                self.counters.inc("naks_out")
                if new_sequence:
                    self._supersede(live)
                    new_sequence = False
                raw = self._send(pdu)
                if raw is not None:
                    live.naks_waiting.append(raw)
                continue
            elif isinstance(pdu, EofPdu) and live.transfer.role == "send":
                live.transfer.checksum = bytes(pdu.file_checksum).hex()
            self._send(pdu)

    def _supersede(self, live: _Live) -> None:
        """A new NAK sequence replaces the older ones still waiting to go: cfdp-py (deferred NAKs) makes a
        whole sequence in one call, listing every gap it knows of now, so the older ones can only ask
        for data that has since come. Without this, a loss of signal on the uplink would queue a
        sequence every NAK timer, and the next pass would spend its uplink on all of them."""
        for raw in live.naks_waiting:
            with suppress(ValueError):  # gone already: taken for the link
                self.outbox.remove(raw)
                self.counters.inc("naks_superseded")
        live.naks_waiting.clear()

    def _announce(self, live: _Live) -> None:
        if not live.announced:
            live.announced = True
            self.counters.inc("started")
            self.notes.append(("started", live.transfer))

    def _settle(self, key: tuple[int, int], live: _Live) -> None:
        handler, transfer = live.handler, live.transfer
        self._announce(live)
        transfer.progress = handler.progress
        if handler.file_size is not None:
            transfer.size = handler.file_size
        finished = live.user.finished
        if finished is not None and transfer.state == ACTIVE:
            params = finished.finished_params
            ok = params.condition_code == ConditionCode.NO_ERROR and \
                params.delivery_code == DeliveryCode.DATA_COMPLETE
            # The receiver computes the checksum over the whole file and compares it with the EOF's:
            # NO_ERROR from it (here, or in its Finished PDU) means it matched.
            transfer.verified = ok and self.settings.checksum != "null" and \
                (transfer.role == "receive" or transfer.acknowledged)
            if ok and transfer.size is not None:
                transfer.progress = transfer.size
            cond = _condition(live.fault if live.fault is not None and not ok else params.condition_code)
            self._finish(transfer, FINISHED if ok else FAILED, cond)
        if handler.state == CfdpState.IDLE and key in self.live:
            self._end(key, live, FAILED, _condition(live.fault) if live.fault is not None else "abandoned")

    def _finish(self, transfer: Transfer, state: str, condition: str) -> None:
        transfer.state, transfer.condition, transfer.ended = state, condition, self.wall()
        self.counters.inc("finished" if state == FINISHED else "failed")
        self.notes.append(("finished" if state == FINISHED else "failed", transfer))

    def _end(self, key: tuple[int, int], live: _Live, state: str, condition: str) -> None:
        """The handler is idle (or reset): forget it, remember the transfer a while."""
        del self.live[key]
        if live.transfer.state == ACTIVE:
            self._finish(live.transfer, state, condition)
        self.recent[key] = live.transfer
        while len(self.recent) > RECENT_KEPT:
            self.recent.popitem(last=False)

    def on_fault(self, transaction_id: TransactionId, cond: ConditionCode) -> None:
        live = self.live.get((transaction_id.source_id.value, transaction_id.seq_num.value))
        if live is not None:
            live.fault = cond
        if cond == ConditionCode.FILESTORE_REJECTION:
            self.counters.inc("filestore_rejections")

    def on_metadata(self, params: MetadataRecvParams) -> None:
        live = self.live.get((params.transaction_id.source_id.value, params.transaction_id.seq_num.value))
        if live is not None:
            live.transfer.source = params.source_file_name or ""
            live.transfer.dest = params.dest_file_name or ""
            self.renamed = True
            if params.file_size is not None:
                live.transfer.size = params.file_size
        asked = read_messages(list(params.msgs_to_user or []), params.transaction_id)
        self.proxy_puts += asked.proxy_puts
        self.listings += asked.listings
        for _ in range(asked.malformed):
            self.reject("message")
        if asked.origin is not None and live is not None:
            live.transfer.origin = transaction_key(asked.origin.source_id.value, asked.origin.seq_num.value)

    def _serve_proxy_puts(self) -> None:
        """Answer the peer's "send me" requests by sending, as the source, what it asked for."""
        requests, self.proxy_puts = self.proxy_puts, []
        for request in requests:
            origin = transaction_key(request.origin.source_id.value, request.origin.seq_num.value)
            if request.dest_entity != self.remote:
                self.reject("proxy_destination")
                continue
            try:
                self.put(request.source, request.dest, request.acknowledged,
                         [OriginatingTransactionId(request.origin)], origin=origin)
            except FileTransferError as exc:
                self.counters.inc("proxy_refused")
                condition = ConditionCode.FILESTORE_REJECTION if isinstance(exc, PathRefused) or \
                    exc.reason == "no_file" else ConditionCode.CANCEL_REQUEST_RECEIVED
                self._refused(origin, request.acknowledged, request.source, request.dest, exc,
                              put_refused(request.origin, condition))

    def _serve_listings(self) -> None:
        """Answer directory listing requests: the listing goes down as a file, class 2."""
        requests, self.listings = self.listings, []
        for request in requests:
            origin = transaction_key(request.origin.source_id.value, request.origin.seq_num.value)
            try:
                if self.lister is None:
                    raise FileTransferError("unsupported", "this entity does not list directories")
                listing = self.lister(request.directory)
                self.put(listing, request.dest, True, listing_answer(request, True), origin=origin)
            except FileTransferError as exc:
                self.counters.inc("listings_refused")
                self._refused(origin, True, request.directory, request.dest, exc, listing_answer(request, False))

    def _refused(self, origin: str, acknowledged: bool, source: str, dest: str, error: FileTransferError,
                 answer: list[ReservedCfdpMessage]) -> None:
        """A peer's request this entity cannot serve: reported here as a failed transfer, and answered
        with a metadata-only transaction that tells the peer so."""
        refused = Transfer(origin, "send", acknowledged, source, dest, checksum_type=self.settings.checksum,
                           origin=origin, started=self.wall())
        self._finish(refused, FAILED, f"{error.reason}: {error}"[:120])
        try:
            self.put(None, None, False, answer)
        except FileTransferError:
            self.counters.inc("answers_dropped")


def _condition(code: ConditionCode | int) -> str:
    """A condition code's name; a peer may send codes the standard does not define."""
    try:
        return ConditionCode(int(code)).name
    except ValueError:
        return f"condition {int(code)}"

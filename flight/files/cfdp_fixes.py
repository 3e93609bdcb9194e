"""Fixes to cfdp-py 0.7.0 that a multi-transaction entity on a lossy link cannot do without.

``cfdppy.handler.dest._AckedModeParams`` declares ``lost_seg_tracker = field(default=LostSegmentTracker())``:
one tracker object shared by every DestHandler in the process. Two class-2 receptions at once would
NAK each other's gaps, and a transaction that ended with gaps (cancelled, or fed a forged EOF) would
leave them to the next one, which then asks for data that never existed. The replacement is the
same dataclass with a tracker of its own per transaction; cfdp-py looks the class up by name each
time it builds its parameters, so replacing the module attribute is enough (done on import).

A receiver that started a class-2 transaction from a File Data or EOF PDU (its Metadata PDU lost, or
the receiver restarted mid-transfer) asks for the metadata in its NAK after EOF; when the Metadata PDU
comes, cfdp-py moves to "receiving file data" and so never again checks whether the gaps are filled
(it does so only while "waiting for missing data"): the transfer stalls. :func:`after_metadata`
puts it back where it was. And an EOF taken before the metadata leaves its checksum unrecorded, so the
file, complete, then fails its check: :func:`after_eof` records it.
"""

from __future__ import annotations

import dataclasses

from cfdppy.handler import dest, source
from spacepackets.cfdp.pdu import EofPdu
from spacepackets.countdown import Countdown


@dataclasses.dataclass
class AckedModeParams:
    lost_seg_tracker: dest.LostSegmentTracker = dataclasses.field(default_factory=dest.LostSegmentTracker)
    metadata_missing: bool = False
    last_start_offset: int = 0
    last_end_offset: int = 0
    deferred_lost_segment_detection_active: bool = False
    procedure_timer: Countdown | None = None
    nak_activity_counter: int = 0


def after_metadata(handler: dest.DestHandler) -> None:
    """Call after a DestHandler took a Metadata PDU."""
    params = handler._params.acked_params
    if params.deferred_lost_segment_detection_active and handler.step == dest.TransactionStep.RECEIVING_FILE_DATA:
        handler.states.step = dest.TransactionStep.WAITING_FOR_MISSING_DATA


def after_eof(handler: dest.DestHandler, eof: EofPdu) -> None:
    """Call after a DestHandler took an EOF PDU."""
    if not handler._params.fp.crc32:
        handler._params.fp.crc32 = eof.file_checksum


def apply() -> None:
    upstream = {f.name for f in dataclasses.fields(dest._AckedModeParams)}
    if upstream != {f.name for f in dataclasses.fields(AckedModeParams)}:
        # A cfdp-py whose parameters changed: better to fail loudly than to drop a field.
        raise RuntimeError("cfdppy.handler.dest._AckedModeParams changed; review flight/files/cfdp_fixes.py")
    dest._AckedModeParams = AckedModeParams  # type: ignore[misc]
    # The entity paces retransmissions in cfdp-py's own segment size, read from the source handler's
    # file parameters (flight.files.entity): a cfdp-py without that field is refused here, at import.
    if "segment_len" not in {f.name for f in dataclasses.fields(source._SourceFileParams)}:
        raise RuntimeError("cfdppy.handler.source._SourceFileParams has no segment_len; review flight/files/entity.py")


apply()

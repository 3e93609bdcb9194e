"""What cfdp-py asks of its user, for the entity: the transaction sequence numbers, the check
timers, the fault handlers and the indications of one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from cfdppy import CfdpUserBase
from cfdppy.filestore import VirtualFilestore
from cfdppy.mib import CheckTimerProvider, DefaultFaultHandlerBase, EntityType
from cfdppy.user import (
    FileSegmentRecvdParams,
    MetadataRecvParams,
    TransactionFinishedParams,
    TransactionParams,
)
from spacepackets.cfdp import ConditionCode, TransactionId
from spacepackets.countdown import Countdown
from spacepackets.seqcount import ProvidesSeqCount
from spacepackets.util import UnsignedByteField

from flight.counters import Counters


class Indications(Protocol):
    """The part of the entity that hears what its handlers indicate."""

    counters: Counters

    def on_fault(self, transaction_id: TransactionId, cond: ConditionCode) -> None: ...

    def on_metadata(self, params: MetadataRecvParams) -> None: ...


class SequenceNumbers(ProvidesSeqCount):
    """Transaction sequence numbers (16 bits), reported to ``saved`` so that a restart does not reuse
    one the peer may still remember."""

    def __init__(self, start: int, saved: Callable[[int], None]) -> None:
        self._next = start % (1 << 16)
        self._saved = saved

    @property
    def max_bit_width(self) -> int:
        return 16

    @max_bit_width.setter
    def max_bit_width(self, width: int) -> None:
        raise ValueError("the sequence number width is fixed")

    def get_and_increment(self) -> int:
        value = self._next
        self._next = (value + 1) % (1 << 16)
        self._saved(self._next)
        return value


class CheckTimers(CheckTimerProvider):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def provide_check_timer(self, local_entity_id: UnsignedByteField, remote_entity_id: UnsignedByteField,
                            entity_type: EntityType) -> Countdown:
        return Countdown.from_seconds(self.seconds)


class FaultRecorder(DefaultFaultHandlerBase):
    """Faults land in the entity's record of the transaction; cfdp-py then cancels or abandons it."""

    def __init__(self, entity: Indications) -> None:
        super().__init__()
        self.entity = entity

    def notice_of_suspension_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self.entity.on_fault(transaction_id, cond)

    def notice_of_cancellation_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self.entity.on_fault(transaction_id, cond)

    def abandoned_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self.entity.on_fault(transaction_id, cond)

    def ignore_cb(self, transaction_id: TransactionId, cond: ConditionCode, progress: int) -> None:
        self.entity.counters.inc("faults_ignored")


class TransactionUser(CfdpUserBase):
    """The indications of one transaction's handler (cfdp-py logs, and prints, in its defaults)."""

    def __init__(self, vfs: VirtualFilestore, entity: Indications) -> None:
        super().__init__(vfs)
        self.entity = entity
        self.finished: TransactionFinishedParams | None = None

    def transaction_indication(self, transaction_indication_params: TransactionParams) -> None:
        pass

    def eof_sent_indication(self, transaction_id: TransactionId) -> None:
        pass

    def transaction_finished_indication(self, params: TransactionFinishedParams) -> None:
        self.finished = params

    def metadata_recv_indication(self, params: MetadataRecvParams) -> None:
        self.entity.on_metadata(params)

    def file_segment_recv_indication(self, params: FileSegmentRecvdParams) -> None:
        pass

    def report_indication(self, transaction_id: TransactionId, status_report: Any) -> None:  # noqa: ANN401
        pass

    def suspended_indication(self, transaction_id: TransactionId, cond_code: ConditionCode) -> None:
        pass

    def resumed_indication(self, transaction_id: TransactionId, progress: int) -> None:
        pass

    def fault_indication(self, transaction_id: TransactionId, cond_code: ConditionCode, progress: int) -> None:
        self.entity.on_fault(transaction_id, cond_code)

    def abandoned_indication(self, transaction_id: TransactionId, cond_code: ConditionCode, progress: int) -> None:
        self.entity.on_fault(transaction_id, cond_code)

    def eof_recv_indication(self, transaction_id: TransactionId) -> None:
        pass

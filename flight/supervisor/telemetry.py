"""Every TM packet the supervisor makes passes here: time-tagged, sequence-counted, stored, then sent.

Packets are made inside a unit of work (a state-database transaction). Each is recorded in the
onboard store at once, in that transaction, and handed to the real-time virtual channel only after
the commit: telemetry is stored before it is sent, and a unit rolled back by a crash or an error
sends nothing and leaves no gap in the sequence counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flight.link.errors import StorageError
from flight.link.pus import SequenceCounter, build_tm, packet_apid
from flight.link.timecode import CucFormat
from flight.supervisor.clock import Clock
from flight.supervisor.services.storage import OnboardStore
from flight.supervisor.state_db import StateDb

SEQUENCE_KEY = "tm.sequence"


class Telemetry:
    def __init__(self, db: StateDb, clock: Clock, time_format: CucFormat, store: OnboardStore,
                 send: Callable[[bytes], None]) -> None:
        self.db = db
        self.clock = clock
        self.time_format = time_format
        self.store = store
        self._send = send
        self._saved = {int(apid): count for apid, count in db.get(SEQUENCE_KEY, {}).items()}
        self.sequence = SequenceCounter(self._saved)
        self._pending: list[bytes] = []

    def emit(self, apid: int, service: int, subtype: int, data: bytes = b"") -> bytes:
        """Make, record and queue one packet; only inside a unit of work."""
        now = self.clock.now()
        packet = build_tm(apid, service, subtype, data, self.time_format.encode(now), self.sequence.next(apid))
        self.record(packet, now)
        return packet

    def record(self, packet: bytes, now: float | None = None) -> None:
        """Store and queue a packet built elsewhere (PUS 1 reports come whole from spacepackets)."""
        if not self.db.in_transaction:
            raise StorageError("telemetry made outside a unit of work would be sent without being stored")
        apid = packet_apid(packet)
        seq = (packet[2] & 0x3F) << 8 | packet[3]
        self.store.record(self.clock.now() if now is None else now, apid, seq, packet)
        self._pending.append(packet)

    def next_count(self, apid: int) -> int:
        return self.sequence.next(apid)

    def save(self) -> None:
        """Write the sequence counts, inside the unit that used them."""
        state = self.sequence.state()
        if state != self._saved:
            self.db.put(SEQUENCE_KEY, {str(apid): count for apid, count in state.items()})

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A step inside a unit of work that is undone whole if it raises: its database changes, the
        telemetry it made (stored with them) and the sequence counts; the exception goes on."""
        mark = self.mark()
        self.db.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.db.conn.execute(f"ROLLBACK TO {name}")
            self.rollback_to(mark)
            raise
        finally:
            self.db.conn.execute(f"RELEASE {name}")

    def mark(self) -> tuple[dict[int, int], int]:
        """Where this unit's telemetry stands: :meth:`rollback_to` returns here after a savepoint rollback."""
        return self.sequence.state(), len(self._pending)

    def rollback_to(self, mark: tuple[dict[int, int], int]) -> None:
        """Forget the packets made since ``mark`` (their store rows went with the savepoint), and their counts."""
        state, pending = mark
        self.sequence = SequenceCounter(state)
        del self._pending[pending:]
        self.store.load()

    def committed(self) -> None:
        self._saved = self.sequence.state()
        pending, self._pending = self._pending, []
        for packet in pending:
            self._send(packet)

    def rolled_back(self) -> None:
        self.sequence = SequenceCounter(self._saved)
        self._pending = []

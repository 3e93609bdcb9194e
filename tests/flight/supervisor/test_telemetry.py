"""Telemetry: time-tagged, sequence-counted per APID, stored inside the unit, sent only after its commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.link.errors import StorageError
from flight.link.pus import build_tm, parse_tm
from flight.supervisor.clock import ManualClock
from flight.supervisor.services.storage import OnboardStore
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import SEQUENCE_KEY, Telemetry

from ._harness import DICTIONARY, TIME_LEN

FORMAT = DICTIONARY.mission.tm_time


class Ends:
    """A Telemetry with its database, store and the list its packets are sent to."""

    def __init__(self, path: Path) -> None:
        self.db = StateDb(path)
        self.clock = ManualClock()
        self.sent: list[bytes] = []
        self.store = OnboardStore(self.db, lambda: 1_000_000)
        self.telemetry = Telemetry(self.db, self.clock, FORMAT, self.store, self.sent.append)

    def unit(self, *packets: tuple[int, int, int, bytes]) -> None:
        """Emit packets in one committed unit, as the supervisor does."""
        with self.db.transaction():
            for apid, service, subtype, data in packets:
                self.telemetry.emit(apid, service, subtype, data)
            self.telemetry.save()
        self.telemetry.committed()

    def stored(self) -> list[bytes]:
        return [row[0] for row in self.db.conn.execute("SELECT packet FROM store ORDER BY id")]


@pytest.fixture
def ends(tmp_path: Path) -> Iterator[Ends]:
    made = Ends(tmp_path / "state.db")
    yield made
    made.db.close()


def test_a_packet_made_outside_a_unit_of_work_is_refused(ends: Ends) -> None:
    with pytest.raises(StorageError, match="outside a unit of work"):
        ends.telemetry.emit(16, 17, 2)
    assert ends.sent == [] and ends.stored() == []


def test_packets_are_stored_at_once_and_sent_only_after_the_commit(ends: Ends) -> None:
    with ends.db.transaction():
        packet = ends.telemetry.emit(16, 17, 2, b"abc")
        assert ends.stored() == [packet]
        assert ends.sent == []
    assert ends.sent == []  # committed() has not been called: the supervisor calls it after the commit
    ends.telemetry.committed()
    assert ends.sent == [packet]
    tm = parse_tm(packet, TIME_LEN)
    assert (tm.apid, tm.service, tm.message_subtype, bytes(tm.source_data)) == (16, 17, 2, b"abc")
    assert FORMAT.decode(bytes(tm.timestamp)) == pytest.approx(ends.clock.now(), abs=FORMAT.resolution())
    row = ends.db.conn.execute("SELECT time, apid, seq FROM store").fetchone()
    assert row == (ends.clock.now(), 16, 0)


def test_each_apid_counts_its_own_sequence(ends: Ends) -> None:
    ends.unit((16, 17, 2, b""), (17, 17, 2, b""), (16, 17, 2, b""), (16, 5, 1, b"\x00\x01"))
    counts = [(tm.apid, tm.seq_count) for tm in (parse_tm(p, TIME_LEN) for p in ends.sent)]
    assert counts == [(16, 0), (17, 0), (16, 1), (16, 2)]


def test_sequence_counts_are_saved_and_resumed_by_a_new_instance(ends: Ends) -> None:
    ends.unit((16, 17, 2, b""), (16, 17, 2, b""))
    assert ends.db.get(SEQUENCE_KEY) == {"16": 2}
    resumed = Telemetry(ends.db, ends.clock, FORMAT, ends.store, ends.sent.append)
    with ends.db.transaction():
        packet = resumed.emit(16, 17, 2)
    assert parse_tm(packet, TIME_LEN).seq_count == 2


def test_sequence_counts_wrap_at_14_bits(ends: Ends) -> None:
    with ends.db.transaction():
        ends.db.put(SEQUENCE_KEY, {"16": 16383})
    telemetry = Telemetry(ends.db, ends.clock, FORMAT, ends.store, ends.sent.append)
    with ends.db.transaction():
        first, second = telemetry.emit(16, 17, 2), telemetry.emit(16, 17, 2)
    assert [parse_tm(p, TIME_LEN).seq_count for p in (first, second)] == [16383, 0]


def test_a_rolled_back_unit_sends_nothing_and_leaves_no_gap(ends: Ends) -> None:
    ends.unit((16, 17, 2, b""))
    with pytest.raises(RuntimeError), ends.db.transaction():
        ends.telemetry.emit(16, 17, 2)
        ends.telemetry.emit(16, 17, 2)
        raise RuntimeError("crash")
    ends.telemetry.rolled_back()
    assert len(ends.sent) == 1 and len(ends.stored()) == 1
    ends.unit((16, 17, 2, b""))
    assert [parse_tm(p, TIME_LEN).seq_count for p in ends.sent] == [0, 1]
    assert ends.stored() == ends.sent


def test_record_takes_a_packet_built_elsewhere_by_its_own_header(ends: Ends) -> None:
    packet = build_tm(300, 1, 1, b"\x18\x10\xc0\x00", FORMAT.encode(5.0), seq_count=77)
    with ends.db.transaction():
        ends.telemetry.record(packet, 5.0)
    ends.telemetry.committed()
    assert ends.sent == [packet]
    assert ends.db.conn.execute("SELECT time, apid, seq FROM store").fetchone() == (5.0, 300, 77)

"""PUS 15 onboard storage: every TM packet, recorded before it is sent; playback on its own channel.

The store is a bounded table in the state database: when it holds more than ``store.max_packets``
the oldest go first (counted). Playback requests, by time range or by APID and sequence-count range
(the ground's gap filling), become a persisted queue of store rows, fed to the playback virtual
channel only while it has room, so that real-time data always goes first and a large playback
never fills memory. A request reports progress every ``PROGRESS_EVERY`` packets and completes once
its last packet has gone down in a frame (not merely been queued: its completion report travels on the
real-time channel, which would overtake it); a supervisor restarted mid-playback carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flight.counters import Counters
from flight.link.pus import SEQUENCE_COUNT_MODULO
from flight.supervisor.state_db import StateDb

PLAYBACK_VC = 1
PROGRESS_EVERY = 100
FEED_BATCH = 64  # store rows moved to the downlink per unit of work
EVICT_SLACK = 64  # evict in batches: one DELETE per this many inserts past the bound


class OnboardStore:
    def __init__(self, db: StateDb, max_packets: Callable[[], int]) -> None:
        self.db = db
        self.max_packets = max_packets
        self.counters = Counters("store")
        self.load()

    def load(self) -> None:
        """Count the stored packets (at start, and after a failed command's savepoint)."""
        self._count = self.db.conn.execute("SELECT COUNT(*) FROM store").fetchone()[0]

    def record(self, time: float, apid: int, seq: int, packet: bytes) -> None:
        self.db.conn.execute("INSERT INTO store (time, apid, seq, packet) VALUES (?, ?, ?, ?)",
                             (time, apid, seq, packet))
        self._count += 1
        self.counters.inc("recorded")
        bound = self.max_packets()
        if self._count > bound + EVICT_SLACK or (self._count > bound and bound < EVICT_SLACK):
            excess = self._count - bound
            self.db.conn.execute("DELETE FROM store WHERE id IN (SELECT id FROM store ORDER BY id LIMIT ?)",
                                 (excess,))
            self._count -= excess
            self.counters.inc("evicted", excess)

    @property
    def count(self) -> int:
        return self._count

    def status(self) -> dict[str, Any]:
        octets, oldest, newest = self.db.conn.execute(
            "SELECT COALESCE(SUM(LENGTH(packet)), 0), MIN(time), MAX(time) FROM store").fetchone()
        return {"packets": self._count, "octets": octets, "oldest": oldest, "newest": newest,
                "max_packets": self.max_packets(), "evicted": self.counters["evicted"]}

    def ids_in_time(self, start: float, end: float) -> list[int]:
        rows = self.db.conn.execute("SELECT id FROM store WHERE time BETWEEN ? AND ? ORDER BY id", (start, end))
        return [row[0] for row in rows]

    def ids_in_sequence(self, apid: int, first: int, count: int) -> list[int]:
        """The newest stored packet of each wanted count: after a wrap, an older one has the same count.

        The counts are one range, or two where it wraps past 16383: both read through the (apid, seq) index.
        """
        last = first + min(count, SEQUENCE_COUNT_MODULO) - 1
        ranges = [(first, min(last, SEQUENCE_COUNT_MODULO - 1))]
        if last >= SEQUENCE_COUNT_MODULO:
            ranges.append((0, last - SEQUENCE_COUNT_MODULO))
        ids = []
        for low, high in ranges:
            ids += [row[0] for row in self.db.conn.execute(
                "SELECT MAX(id) FROM store WHERE apid = ? AND seq BETWEEN ? AND ? GROUP BY seq", (apid, low, high))]
        return sorted(ids)

    def packet(self, row_id: int) -> bytes | None:
        row = self.db.conn.execute("SELECT packet FROM store WHERE id = ?", (row_id,)).fetchone()
        return row[0] if row else None


@dataclass(frozen=True, slots=True)
class PlaybackProgress:
    ref: bytes  # who asked: the request's verification reference
    before: int  # packets of the request sent before this batch
    sent: int  # ... and after it
    total: int

    @property
    def done(self) -> bool:
        return self.sent >= self.total


class Playback:
    """The queue of store rows still to go down, grouped by the request that asked for them."""

    def __init__(self, db: StateDb, store: OnboardStore) -> None:
        self.db = db
        self.store = store
        self.counters = Counters("store")  # store.played_back belongs to the store's channels
        self.load()

    def load(self) -> None:
        """Forget whether the queue is empty: it changed (or a failed command rolled back)."""
        self._active: bool | None = None

    def active(self) -> bool:
        """Whether anything is queued, on its way down or awaiting completion; asked at every turn of
        the loop, so an empty queue is remembered until a request comes."""
        if self._active is None:
            self._active = self.db.conn.execute(
                "SELECT EXISTS (SELECT 1 FROM playback) OR EXISTS (SELECT 1 FROM playback_requests)").fetchone()[0] == 1
        return self._active

    def enqueue(self, ids: list[int], ref: bytes) -> int:
        """Queue rows for a request (``ref`` identifies it for its reports); the request's row ID."""
        cur = self.db.conn.execute("INSERT INTO playback_requests (ref, total, sent) VALUES (?, ?, 0)",
                                   (ref, len(ids)))
        request = cur.lastrowid
        assert request is not None
        self.db.conn.executemany("INSERT INTO playback (store_id, request) VALUES (?, ?)",
                                 [(row_id, request) for row_id in ids])
        self.load()
        return request

    def pending(self) -> int:
        return self.db.conn.execute("SELECT COUNT(*) FROM playback WHERE taken = 0").fetchone()[0]

    def in_flight(self) -> bool:
        """Whether rows were handed to the downlink and are not yet known to have gone."""
        return self.db.conn.execute("SELECT 1 FROM playback WHERE taken = 1 LIMIT 1").fetchone() is not None

    def requeue(self) -> int:
        """Inside a unit, at start: rows handed to a downlink queue that a kill emptied go again (the
        ground drops what it already has). How many."""
        n = self.db.conn.execute("UPDATE playback SET taken = 0 WHERE taken = 1").rowcount
        if n:
            self.db.conn.execute("UPDATE playback_requests SET sent = total - "
                                 "(SELECT COUNT(*) FROM playback WHERE playback.request = playback_requests.id)")
            self.counters.inc("playback_requeued", n)
        self.load()
        return n

    def take(self, limit: int = FEED_BATCH) -> tuple[list[bytes], list[PlaybackProgress]]:
        """Inside a unit: the next packets to send, and the progress of each request they belong to.

        A row whose packet was evicted meanwhile is skipped and counted: the store is bounded.
        """
        rows = self.db.conn.execute(
            "SELECT playback.id, playback.request, store.packet FROM playback LEFT JOIN store ON store.id = "
            "playback.store_id WHERE playback.taken = 0 ORDER BY playback.id LIMIT ?", (limit,)).fetchall()
        if not rows:
            return [], []
        packets: list[bytes] = []
        sent: dict[int, int] = {}
        for _row_id, request, packet in rows:
            if packet is None:
                self.counters.inc("playback_evicted")
            else:
                packets.append(packet)
            sent[request] = sent.get(request, 0) + 1
        # Kept, marked taken, until the downlink has sent them: a kill before that sends them again.
        self.db.conn.execute("UPDATE playback SET taken = 1 WHERE taken = 0 AND id <= ?", (rows[-1][0],))
        self.counters.inc("played_back", len(packets))
        progress = []
        for request, n in sent.items():
            ref, before, total = self.db.conn.execute(
                "SELECT ref, sent, total FROM playback_requests WHERE id = ?", (request,)).fetchone()
            step = PlaybackProgress(ref, before, before + n, total)
            self.db.conn.execute("UPDATE playback_requests SET sent = ? WHERE id = ?", (step.sent, request))
            progress.append(step)
        return packets, progress

    def finishing(self) -> bool:
        """Whether rows await :meth:`finish`: handed to the downlink, or a request with all its packets so."""
        return self.in_flight() or self.db.conn.execute(
            "SELECT 1 FROM playback_requests WHERE sent >= total LIMIT 1").fetchone() is not None

    def finish(self) -> list[tuple[bytes, int]]:
        """Inside a unit, once the playback channel has sent all it was given: the taken rows are done,
        and the requests now complete (``ref``, packets) are taken off the queue."""
        self.db.conn.execute("DELETE FROM playback WHERE taken = 1")
        rows = self.db.conn.execute("SELECT id, ref, total FROM playback_requests WHERE sent >= total ORDER BY id"
                                    ).fetchall()
        self.db.conn.executemany("DELETE FROM playback_requests WHERE id = ?", [(row[0],) for row in rows])
        self.load()
        return [(ref, total) for _, ref, total in rows]

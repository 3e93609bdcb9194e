"""Which telemetry packets the ground missed, found from each APID's 14-bit sequence count.

The payload counts the packets of each APID modulo 16384 and records everything on board, so a
packet lost during a loss of signal (or to a bad frame) is a hole in the counts that a playback
request (STORE_PLAYBACK_SEQ apid, first, count) can fill.

Realtime packets (VC 0) arrive in order save for the link's reordering and duplication, so they set
the count expected next. Relative to the last realtime count ``last``:

- ``seq = last + d`` with 1 <= d <= MAX_GAP: the d-1 counts between are missing (unless a playback
  already brought them, see below); the expected count moves on.
- ``seq`` at most MAX_LATE behind (``last`` itself included): late, reordered or duplicated; it
  fills its count if that was missing, and moves nothing.
- anything else, and the first packet of an APID: the counter restarted or the outage outlasted
  MAX_GAP packets; no count can tell what was lost, so the tracker resynchronises and records nothing.

Playback packets (VC 1) never move the expected count: they are old by nature. One fills its count
if missing; one ahead of the realtime count (the store played back at AOS before realtime resumed) is
remembered, so that realtime jumping over it does not report it missing.

When the realtime count passes a count still missing from 16384 packets ago, that old hole can no
longer be told from the new packet and is dropped (``expired``). The state lives in the archive's
``gap_next``, ``gap_missing`` and ``gap_ahead`` tables, written once per observed batch, so a
restarted station still knows what to ask for. With it goes the ID of the last archived packet
observed (``state`` key ``gap_tracker.observed_through``): a station killed between storing a batch
and observing it catches up on start, instead of taking those packets for lost and asking forever
for a playback whose packets, duplicates by then, would never be new again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flight.counters import Counters
from flight.link.pus import SEQUENCE_COUNT_MODULO
from ground.archive import Archive

MAX_GAP = 4096  # the largest jump taken for lost packets rather than a resynchronisation
MAX_LATE = 4096  # how far behind a realtime packet may arrive and still be taken for a late one
REALTIME_VC = 0  # the virtual channel of realtime telemetry (playback comes on VC 1)
_OBSERVED_THROUGH = "gap_tracker.observed_through"
_M = SEQUENCE_COUNT_MODULO


@dataclass(frozen=True, slots=True)
class Gap:
    """``count`` consecutive missing sequence counts of ``apid`` from ``first`` (modulo 16384).

    Equality is on (apid, first, count); the rest describes the range's least requested count.
    """

    apid: int
    first: int
    count: int
    found: float = field(default=0.0, compare=False)  # when its oldest count was found missing
    requested: float | None = field(default=None, compare=False)  # None when some count never was
    attempts: int = field(default=0, compare=False)

    @property
    def last(self) -> int:
        return (self.first + self.count - 1) % _M

    def counts(self) -> list[int]:
        return [(self.first + i) % _M for i in range(self.count)]


@dataclass(slots=True)
class _Missing:
    found: float
    requested: float | None = None
    attempts: int = 0


class GapTracker:
    """The missing counts of every APID, kept in ``archive``.

    Counters (``gaps.``): ``found`` and ``filled`` count sequence counts, ``resyncs`` the restarts of
    an APID's count, ``expired`` holes dropped a lap old, ``abandoned`` counts given up with
    :meth:`forget`, ``caught_up`` packets observed on start (see the module docstring).
    """

    def __init__(self, archive: Archive, realtime_vc: int = REALTIME_VC) -> None:
        self.archive = archive
        self.realtime_vc = realtime_vc
        self.counters = Counters("gaps")
        self._next: dict[int, int] = {}
        self._missing: dict[int, dict[int, _Missing]] = {}
        self._ahead: dict[int, set[int]] = {}
        self._resyncs: list[tuple[int, int]] = []
        # What changed since the last write: (apid, seq) keys are rewritten from memory as they are
        # then, so a count found and filled within one batch needs no care.
        self._dirty_next: set[int] = set()
        self._dirty_missing: set[tuple[int, int]] = set()
        self._dirty_ahead: set[tuple[int, int]] = set()
        self._load()
        self._catch_up()

    def _load(self) -> None:
        self._next = dict(self.archive.query("SELECT apid, next FROM gap_next"))
        for apid, seq, found, requested, attempts in self.archive.query(
                "SELECT apid, seq, found, requested, attempts FROM gap_missing"):
            self._missing.setdefault(apid, {})[seq] = _Missing(found, requested, attempts)
        for apid, seq in self.archive.query("SELECT apid, seq FROM gap_ahead"):
            self._ahead.setdefault(apid, set()).add(seq)

    def _catch_up(self) -> None:
        """Observe the packets archived after the last observed batch, as they were received."""
        rows = self.archive.query("SELECT apid, seq, vcid, received FROM packets WHERE id > ? ORDER BY id",
                                  (self.archive.get_state(_OBSERVED_THROUGH, 0),))
        for apid, seq, vcid, received in rows:
            self._observe(apid, seq, vcid == self.realtime_vc, received)
        if rows:
            self.counters.inc("caught_up", len(rows))
        if rows and not self.archive.readonly:  # a reader (a CLI showing gaps) catches up in memory only
            self._save(observed=True)

    # --- observing ------------------------------------------------------------------------------

    def observe(self, apid: int, seq: int, realtime: bool, now: float) -> None:
        """One packet newly stored in the archive; see :meth:`observe_all` for a batch."""
        self.observe_all([(apid, seq, realtime)], now)

    def observe_all(self, packets: Iterable[tuple[int, int, bool]], now: float) -> None:
        """A batch of (apid, seq, realtime) packets, in arrival order, saved in one transaction.

        Feed it the packets the archive stored for the first time: a duplicate brings nothing new.
        """
        for apid, seq, realtime in packets:
            self._observe(apid, seq, realtime, now)
        self._save(observed=True)

    def _observe(self, apid: int, seq: int, realtime: bool, now: float) -> None:
        if realtime:
            self._realtime(apid, seq, now)
        else:
            self._playback(apid, seq)

    def _realtime(self, apid: int, seq: int, now: float) -> None:
        expected = self._next.get(apid)
        if expected is None:
            self._resync(apid, seq)
            return
        ahead = (seq - expected) % _M  # 0: the very count expected
        if ahead < MAX_GAP:
            ahead_set = self._ahead.get(apid, set())
            for skipped in ((expected + i) % _M for i in range(ahead)):
                self._expire(apid, skipped)
                if skipped in ahead_set:
                    self._unmark_ahead(apid, skipped)  # a playback brought it already
                else:
                    self._set_missing(apid, skipped, _Missing(now))
                    self.counters.inc("found")
            self._expire(apid, seq)
            if seq in ahead_set:
                self._unmark_ahead(apid, seq)
            self._set_next(apid, (seq + 1) % _M)
        elif (expected - 1 - seq) % _M < MAX_LATE:
            self._fill(apid, seq)
        else:
            self._resync(apid, seq)

    def _playback(self, apid: int, seq: int) -> None:
        if self._fill(apid, seq):
            return
        expected = self._next.get(apid)
        if expected is not None and (seq - expected) % _M < MAX_GAP:
            self._ahead.setdefault(apid, set()).add(seq)
            self._dirty_ahead.add((apid, seq))

    def take_resyncs(self) -> list[tuple[int, int]]:
        """The (apid, seq) of realtime packets that jumped too far for counts to say what was lost,
        since the last call: the station asks for those outages by time instead."""
        taken, self._resyncs = self._resyncs, []
        return taken

    def _resync(self, apid: int, seq: int) -> None:
        if apid in self._next:  # not the first packet heard: an outage too long for the counts
            self._resyncs.append((apid, seq))
        # Counts remembered ahead of the old position mean nothing relative to the new one.
        for ahead in self._ahead.pop(apid, set()):
            self._dirty_ahead.add((apid, ahead))
        self._set_next(apid, (seq + 1) % _M)
        self.counters.inc("resyncs")

    def _fill(self, apid: int, seq: int) -> bool:
        if self._drop_missing(apid, seq):
            self.counters.inc("filled")
            return True
        return False

    def _expire(self, apid: int, seq: int) -> None:
        """The realtime count is passing ``seq``: a hole there is one lap old."""
        if self._drop_missing(apid, seq):
            self.counters.inc("expired")

    def _drop_missing(self, apid: int, seq: int) -> bool:
        missing = self._missing.get(apid)
        if missing is None or missing.pop(seq, None) is None:
            return False
        self._dirty_missing.add((apid, seq))
        return True

    def _set_missing(self, apid: int, seq: int, entry: _Missing) -> None:
        self._missing.setdefault(apid, {})[seq] = entry
        self._dirty_missing.add((apid, seq))

    def _unmark_ahead(self, apid: int, seq: int) -> None:
        self._ahead[apid].discard(seq)
        self._dirty_ahead.add((apid, seq))

    def _set_next(self, apid: int, value: int) -> None:
        self._next[apid] = value
        self._dirty_next.add(apid)

    # --- gaps -----------------------------------------------------------------------------------

    def ranges(self) -> list[Gap]:
        """Missing counts coalesced into runs (across the wrap too), oldest first."""
        gaps = [gap for apid, missing in self._missing.items() for gap in self._runs(apid, missing)]
        # Oldest: found first; among those found together, furthest behind the realtime count.
        return sorted(gaps, key=lambda g: (g.found, g.apid, (g.first - self._next.get(g.apid, 0)) % _M))

    def _runs(self, apid: int, missing: dict[int, _Missing]) -> list[Gap]:
        starts = [seq for seq in missing if (seq - 1) % _M not in missing]
        if not starts and missing:  # every count missing: a circle has no start, cut it anywhere
            starts = [min(missing)]
        gaps = []
        for first in starts:
            count = 1
            while count < _M and (first + count) % _M in missing:
                count += 1
            entries = [missing[(first + i) % _M] for i in range(count)]
            requested = [e.requested for e in entries if e.requested is not None]
            gaps.append(Gap(apid, first, count, found=min(e.found for e in entries),
                            requested=min(requested) if len(requested) == count else None,
                            attempts=min(e.attempts for e in entries)))
        return gaps

    def due(self, now: float, retry_after: float) -> list[Gap]:
        """The gaps to ask a playback for: never requested, or not in the last ``retry_after`` seconds
        (the request or its playback was lost)."""
        return [gap for gap in self.ranges() if gap.requested is None or now - gap.requested >= retry_after]

    def coalesce(self, gaps: list[Gap], slack: int) -> list[tuple[Gap, list[Gap]]]:
        """The gaps as playback requests: holes of one APID with at most ``slack`` counts between them
        share one request covering them all. Each request is a command on the uplink, and a lossy pass leaves
        many one-packet holes a few counts apart; the counts between them, archived already, come
        down again and the archive drops them as duplicates. Each request with the gaps it covers,
        oldest first as :meth:`ranges` orders them."""
        by_apid: dict[int, list[Gap]] = {}
        for gap in gaps:
            by_apid.setdefault(gap.apid, []).append(gap)
        requests: list[tuple[Gap, list[Gap]]] = []
        for apid, group in by_apid.items():
            origin = self._next.get(apid, 0)  # counts behind it, in age order across the wrap
            group.sort(key=lambda g: (g.first - origin) % _M)
            covered = [group[0]]
            for gap in group[1:]:
                start = covered[0].first
                span = (gap.first - start) % _M + gap.count
                if (gap.first - (start + self._span(covered))) % _M <= slack and span <= _M:
                    covered.append(gap)
                    continue
                requests.append(self._request(covered))
                covered = [gap]
            requests.append(self._request(covered))
        order = {id(gap): i for i, gap in enumerate(gaps)}
        return sorted(requests, key=lambda r: min(order[id(g)] for g in r[1]))

    @staticmethod
    def _span(covered: list[Gap]) -> int:
        return (covered[-1].first - covered[0].first) % _M + covered[-1].count

    def _request(self, covered: list[Gap]) -> tuple[Gap, list[Gap]]:
        first = covered[0]
        merged = Gap(first.apid, first.first, self._span(covered), min(g.found for g in covered),
                     attempts=max(g.attempts for g in covered))
        return merged, covered

    def mark_requested(self, gap: Gap, now: float) -> None:
        """A playback of ``gap`` was requested at ``now``; counts filled meanwhile are skipped."""
        missing = self._missing.get(gap.apid, {})
        for seq in gap.counts():
            entry = missing.get(seq)
            if entry is not None:
                entry.requested = now
                entry.attempts += 1
                self._dirty_missing.add((gap.apid, seq))
        self._save()

    def forget(self, gap: Gap) -> None:
        """Give up on ``gap`` (the payload's store no longer holds it, say)."""
        dropped = sum(self._drop_missing(gap.apid, seq) for seq in gap.counts())
        if dropped:
            self.counters.inc("abandoned", dropped)
        self._save()

    def missing_count(self) -> int:
        return sum(len(missing) for missing in self._missing.values())

    def expect(self, apid: int, count: int) -> bool:
        """Take ``count`` as the next realtime count of an APID not seen yet (a new payload counts
        from 0), so that packets lost before the first one to arrive are found too; without it the
        first arrival can only resynchronise. False, changing nothing, once the APID is tracked."""
        if apid in self._next:
            return False
        self._set_next(apid, count % _M)
        self._save()
        return True

    def expected(self, apid: int) -> int | None:
        """The next realtime count expected for ``apid``; None before its first realtime packet."""
        return self._next.get(apid)

    # --- persistence ----------------------------------------------------------------------------

    def _save(self, observed: bool = False) -> None:
        """Write what changed; ``observed``: the archive's packets so far have all been observed."""
        if not (observed or self._dirty_next or self._dirty_missing or self._dirty_ahead):
            return
        upsert_missing, delete_missing = [], []
        for apid, seq in self._dirty_missing:
            entry = self._missing.get(apid, {}).get(seq)
            if entry is None:
                delete_missing.append((apid, seq))
            else:
                upsert_missing.append((apid, seq, entry.found, entry.requested, entry.attempts))
        upsert_ahead = [key for key in self._dirty_ahead if key[1] in self._ahead.get(key[0], ())]
        delete_ahead = [key for key in self._dirty_ahead if key[1] not in self._ahead.get(key[0], ())]
        with self.archive.transaction() as conn:
            conn.executemany("INSERT OR REPLACE INTO gap_next (apid, next) VALUES (?, ?)",
                             [(apid, self._next[apid]) for apid in self._dirty_next])
            conn.executemany("DELETE FROM gap_missing WHERE apid = ? AND seq = ?", delete_missing)
            conn.executemany("INSERT OR REPLACE INTO gap_missing (apid, seq, found, requested, attempts) "
                             "VALUES (?, ?, ?, ?, ?)", upsert_missing)
            conn.executemany("DELETE FROM gap_ahead WHERE apid = ? AND seq = ?", delete_ahead)
            conn.executemany("INSERT OR IGNORE INTO gap_ahead (apid, seq) VALUES (?, ?)", upsert_ahead)
            if observed:
                # The station observes each batch right after storing it, so the newest packet is the
                # last one observed; read under the write lock, no batch can slip in between.
                conn.execute("INSERT OR REPLACE INTO state (key, value) SELECT ?, coalesce(max(id), 0) FROM packets",
                             (_OBSERVED_THROUGH,))
        self._dirty_next.clear()
        self._dirty_missing.clear()
        self._dirty_ahead.clear()

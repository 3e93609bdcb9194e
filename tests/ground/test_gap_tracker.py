"""Gap tracking from per-APID sequence counts: loss, reordering, duplication, wrap, resync, playback."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.dictionary import load_dictionary
from flight.dictionary.packing import pack_report
from flight.link.pus import SEQUENCE_COUNT_MODULO, build_tm
from ground.archive import Archive
from ground.gap_tracker import MAX_GAP, MAX_LATE, Gap, GapTracker

ZD = load_dictionary()
A, B = ZD.mission.apids["core"], ZD.mission.apids["link"]
M = SEQUENCE_COUNT_MODULO
NOW = 1_750_000_000.0


@pytest.fixture
def tracker(archive: Archive) -> GapTracker:
    return GapTracker(archive)


def feed(tracker: GapTracker, counts: Iterable[int], apid: int = A, realtime: bool = True,
         now: float = NOW) -> None:
    tracker.observe_all([(apid, seq % M, realtime) for seq in counts], now)


def missing(tracker: GapTracker) -> list[tuple[int, int, int]]:
    return [(g.apid, g.first, g.count) for g in tracker.ranges()]


# --- realtime -----------------------------------------------------------------------------------

def test_a_lost_run_is_one_gap(tracker: GapTracker) -> None:
    feed(tracker, [*range(10), *range(20, 26)])
    assert tracker.ranges() == [Gap(A, 10, 10)]
    assert tracker.ranges()[0].last == 19
    assert tracker.missing_count() == 10
    assert tracker.expected(A) == 26
    assert tracker.counters["found"] == 10


def test_first_packet_resynchronises_without_a_gap(tracker: GapTracker) -> None:
    feed(tracker, [500, 501])
    assert tracker.ranges() == [] and tracker.expected(A) == 502
    assert tracker.counters["resyncs"] == 1


def test_an_expected_first_count_finds_packets_lost_before_the_first_arrival(archive: Archive,
                                                                             tracker: GapTracker) -> None:
    assert tracker.expect(A, 0)
    feed(tracker, [10, 11])
    assert tracker.ranges() == [Gap(A, 0, 10)] and tracker.counters["resyncs"] == 0
    assert not tracker.expect(A, 0)  # tracked already: nothing changes
    assert tracker.expected(A) == 12
    assert tracker.expect(B, 5)
    assert GapTracker(archive).expected(B) == 5  # saved


def test_reordered_packets_fill_their_gap(tracker: GapTracker) -> None:
    feed(tracker, [0, 1, 3])
    assert missing(tracker) == [(A, 2, 1)]
    feed(tracker, [2, 4])
    assert tracker.ranges() == [] and tracker.expected(A) == 5
    assert (tracker.counters["found"], tracker.counters["filled"]) == (1, 1)


def test_duplicates_change_nothing(tracker: GapTracker) -> None:
    feed(tracker, [0, 1, 1, 2, 2, 0])
    assert tracker.ranges() == [] and tracker.expected(A) == 3
    assert tracker.counters["found"] == 0 and tracker.counters["resyncs"] == 1


def test_gaps_across_the_wrap_are_one_range(tracker: GapTracker) -> None:
    feed(tracker, [M - 4, M - 3, 1])
    assert tracker.ranges() == [Gap(A, M - 2, 3)]  # 16382, 16383, 0
    assert tracker.ranges()[0].last == 0
    assert tracker.ranges()[0].counts() == [M - 2, M - 1, 0]
    assert tracker.expected(A) == 2


def test_the_wrap_itself_is_no_gap(tracker: GapTracker) -> None:
    feed(tracker, [M - 2, M - 1, 0, 1])
    assert tracker.ranges() == [] and tracker.expected(A) == 2


def test_counts_missing_on_both_sides_of_an_arrived_one_stay_apart(tracker: GapTracker) -> None:
    feed(tracker, [M - 3, M - 1, 1])  # 16382 then 0 missing, then 16383 comes late
    assert missing(tracker) == [(A, M - 2, 1), (A, 0, 1)]
    feed(tracker, [M - 2], realtime=False)
    assert missing(tracker) == [(A, 0, 1)]


def test_the_largest_gap_is_recorded_and_a_larger_jump_resyncs(tracker: GapTracker) -> None:
    feed(tracker, [0, MAX_GAP])  # d = MAX_GAP: MAX_GAP - 1 counts lost
    assert tracker.ranges() == [Gap(A, 1, MAX_GAP - 1)]
    feed(tracker, [MAX_GAP + MAX_GAP + 1])  # d = MAX_GAP + 1
    assert tracker.missing_count() == MAX_GAP - 1  # nothing new, the old gap kept
    assert tracker.expected(A) == 2 * MAX_GAP + 2
    assert tracker.counters["resyncs"] == 2


def test_late_window_boundary(tracker: GapTracker) -> None:
    feed(tracker, [10_000, 10_002])
    feed(tracker, [10_002 - (MAX_LATE - 1)])  # behind the last by MAX_LATE - 1: late, moves nothing
    assert tracker.expected(A) == 10_003
    feed(tracker, [10_001])  # late too, and fills
    assert tracker.ranges() == []
    feed(tracker, [10_002 - MAX_LATE])  # behind by MAX_LATE: the counter restarted
    assert tracker.expected(A) == 10_003 - MAX_LATE
    assert tracker.counters["resyncs"] == 2


def test_apids_are_tracked_apart(tracker: GapTracker) -> None:
    feed(tracker, [0, 1, 2], apid=A)
    feed(tracker, [0, 2], apid=B)
    feed(tracker, [5], apid=A)
    assert missing(tracker) == [(A, 3, 2), (B, 1, 1)]  # found together: by APID
    assert (tracker.expected(A), tracker.expected(B)) == (6, 3)


def test_ranges_are_oldest_first(tracker: GapTracker) -> None:
    feed(tracker, [0, 5], apid=B, now=NOW + 10)
    feed(tracker, [0, 3, 6], apid=A, now=NOW + 20)  # A: 1, 2 and 4, 5 found together
    feed(tracker, [9], apid=B, now=NOW)
    assert missing(tracker) == [(B, 6, 3), (B, 1, 4), (A, 1, 2), (A, 4, 2)]
    assert [g.found for g in tracker.ranges()] == [NOW, NOW + 10, NOW + 20, NOW + 20]


def test_a_hole_a_lap_old_expires(tracker: GapTracker) -> None:
    feed(tracker, [0, 2])
    feed(tracker, range(3, M + 2))  # one lap on: count 1 comes round again
    assert tracker.ranges() == []
    assert tracker.counters["expired"] == 1


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, M - 1), kept=st.lists(st.booleans(), min_size=2, max_size=300),
       playback_order=st.randoms())
def test_what_is_missing_is_exactly_what_did_not_arrive(tmp_path_factory: pytest.TempPathFactory, start: int,
                                                       kept: list[bool], playback_order: Random) -> None:
    kept[0] = kept[-1] = True
    with Archive(tmp_path_factory.mktemp("gaps") / "archive.db", ZD) as archive:
        tracker = GapTracker(archive)
        feed(tracker, [start + i for i, k in enumerate(kept) if k])
        lost = [(start + i) % M for i, k in enumerate(kept) if not k]
        gaps = tracker.ranges()
        assert sorted(seq for gap in gaps for seq in gap.counts()) == sorted(lost)
        assert len(gaps) == sum(1 for i in range(1, len(kept)) if kept[i - 1] and not kept[i])  # runs
        playback_order.shuffle(lost)
        feed(tracker, lost, realtime=False)
        assert tracker.missing_count() == 0 and tracker.counters["filled"] == len(lost)


# --- playback -----------------------------------------------------------------------------------

def test_a_filled_old_count_is_not_remembered_as_ahead(tracker: GapTracker) -> None:
    feed(tracker, [0, 2])  # 1 missing
    feed(tracker, range(3, M - MAX_GAP + 10))  # far on: count 1 now lies in the window ahead
    feed(tracker, [1], realtime=False)  # the playback fills the old hole, and is nothing more
    feed(tracker, [*range(M - MAX_GAP + 10, M), 2])  # next lap: 0 and 1 lost
    assert tracker.ranges() == [Gap(A, 0, 2)]


def test_playback_fills_and_never_moves_the_expected_count(tracker: GapTracker) -> None:
    feed(tracker, [0, 20])
    feed(tracker, range(1, 6), realtime=False)
    assert tracker.ranges() == [Gap(A, 6, 14)]
    assert tracker.expected(A) == 21
    feed(tracker, [500], realtime=False)
    assert tracker.expected(A) == 21
    feed(tracker, [21])
    assert tracker.ranges() == [Gap(A, 6, 14)]
    assert tracker.counters["filled"] == 5


def test_playback_ahead_of_realtime_is_not_reported_missing(tracker: GapTracker) -> None:
    # AOS: the store's LOS contents are played back before realtime resumes.
    feed(tracker, range(0, 10))
    feed(tracker, [*range(10, 13), *range(15, 20)], realtime=False)
    feed(tracker, [20])
    assert tracker.ranges() == [Gap(A, 13, 2)]


def test_a_resync_forgets_what_was_ahead(tracker: GapTracker) -> None:
    feed(tracker, [0])
    feed(tracker, [5], realtime=False)
    feed(tracker, [3 * MAX_GAP, 3 * MAX_GAP + 5, 3 * MAX_GAP + 7])
    assert missing(tracker) == [(A, 3 * MAX_GAP + 1, 4), (A, 3 * MAX_GAP + 6, 1)]
    assert tracker.archive.query("SELECT count(*) FROM gap_ahead") == [(0,)]


# --- requests and retries -----------------------------------------------------------------------

def test_due_retries_a_request_after_the_timeout(tracker: GapTracker) -> None:
    feed(tracker, [0, 5])
    [gap] = tracker.due(NOW, retry_after=30)
    tracker.mark_requested(gap, NOW)
    assert tracker.due(NOW + 29.9, retry_after=30) == []
    assert GapTracker(tracker.archive).due(NOW + 29.9, retry_after=30) == []  # saved at once
    [again] = tracker.due(NOW + 30, retry_after=30)
    assert again == gap and again.requested == NOW and again.attempts == 1
    tracker.mark_requested(again, NOW + 30)
    assert tracker.ranges()[0].attempts == 2
    assert tracker.due(NOW + 59, retry_after=30) == []


def test_a_partly_filled_gap_stays_requested(tracker: GapTracker) -> None:
    feed(tracker, [0, 10])
    tracker.mark_requested(tracker.ranges()[0], NOW)
    feed(tracker, range(1, 5), realtime=False)
    assert tracker.ranges() == [Gap(A, 5, 5)]
    assert tracker.due(NOW + 1, retry_after=30) == []


def test_a_gap_with_a_never_requested_part_is_due(tracker: GapTracker) -> None:
    feed(tracker, [0, 3])  # 1, 2 missing, and requested
    tracker.mark_requested(tracker.ranges()[0], NOW)
    feed(tracker, [6000, 2, 5])  # the payload's counter restarted: resync to 2, then 3, 4 lost
    [gap] = tracker.ranges()
    assert gap == Gap(A, 1, 4) and gap.requested is None and gap.attempts == 0
    assert tracker.due(NOW + 1, retry_after=30) == [gap]


def test_forget_gives_up_on_a_gap(archive: Archive, tracker: GapTracker) -> None:
    feed(tracker, [0, 4, 8])
    first, second = tracker.ranges()
    tracker.forget(first)
    assert tracker.ranges() == [second]
    assert tracker.counters["abandoned"] == 3
    assert GapTracker(archive).ranges() == [second]


# --- requests: holes close together asked for at once -----------------------------------------


def requests(tracker: GapTracker, slack: int) -> list[tuple[tuple[int, int, int], list[tuple[int, int, int]]]]:
    return [((r.apid, r.first, r.count), [(g.apid, g.first, g.count) for g in gaps])
            for r, gaps in tracker.coalesce(tracker.ranges(), slack)]


def test_holes_within_the_slack_are_one_request_covering_them_all(tracker: GapTracker) -> None:
    feed(tracker, [0, 2, 3, 6, 30])  # holes 1, 4..5 and 7..29: 2 and 3 arrived between, then 6
    assert requests(tracker, 2) == [((A, 1, 29), [(A, 1, 1), (A, 4, 2), (A, 7, 23)])]
    assert requests(tracker, 1) == [((A, 1, 1), [(A, 1, 1)]), ((A, 4, 26), [(A, 4, 2), (A, 7, 23)])]
    assert requests(tracker, 0) == [((A, g.first, g.count), [(A, g.first, g.count)]) for g in tracker.ranges()]


def test_holes_of_two_apids_are_never_one_request(tracker: GapTracker) -> None:
    feed(tracker, [0, 2], apid=A)
    feed(tracker, [0, 2], apid=B)
    assert requests(tracker, 16) == [((A, 1, 1), [(A, 1, 1)]), ((B, 1, 1), [(B, 1, 1)])]


def test_a_request_covers_holes_across_the_wrap(tracker: GapTracker) -> None:
    feed(tracker, [M - 3, M - 1, 1, 3])  # 16382 and 0 missing, then 2
    assert requests(tracker, 1) == [((A, M - 2, 5), [(A, M - 2, 1), (A, 0, 1), (A, 2, 1)])]


def test_marking_a_request_marks_only_its_holes(tracker: GapTracker) -> None:
    feed(tracker, [0, 2, 4])
    [(request, gaps)] = tracker.coalesce(tracker.ranges(), 4)
    assert (request.first, request.count, request.last) == (1, 3, 3)
    for gap in gaps:
        tracker.mark_requested(gap, NOW)
    assert tracker.due(NOW + 1, 10.0) == [] and tracker.missing_count() == 2


# --- persistence ----------------------------------------------------------------------------------

def test_everything_survives_reopening(path: Path) -> None:
    with Archive(path, ZD) as archive:
        tracker = GapTracker(archive)
        feed(tracker, [0, 10])
        tracker.mark_requested(tracker.ranges()[0], NOW + 1)
        feed(tracker, range(11, 20), realtime=False)  # ahead of realtime
    with Archive(path, ZD) as archive:
        tracker = GapTracker(archive)
        [gap] = tracker.ranges()
        assert gap == Gap(A, 1, 9) and (gap.found, gap.requested, gap.attempts) == (NOW, NOW + 1, 1)
        assert tracker.expected(A) == 11
        feed(tracker, [20])  # no resync, and what the playback brought is not missing
        assert tracker.ranges() == [Gap(A, 1, 9)]
        assert tracker.counters["resyncs"] == 0
        feed(tracker, range(1, 10), realtime=False)
    with Archive(path, ZD) as archive:
        tracker = GapTracker(archive)
        assert tracker.ranges() == [] and tracker.expected(A) == 21
        assert archive.query("SELECT count(*) FROM gap_ahead") == [(0,)]


def hk(seq: int) -> bytes:
    return build_tm(A, 3, 25, pack_report(ZD.report(1), {}), ZD.mission.tm_time.encode(NOW + seq), seq)


def ingest_and_observe(archive: Archive, tracker: GapTracker, packets: list[tuple[bytes, int]]) -> None:
    """The station's wiring: ingest, then observe what was new."""
    result = archive.ingest(packets, NOW)
    tracker.observe_all([(p.apid, p.seq, p.vcid == 0) for p in result.stored], NOW)


def test_the_tracker_follows_what_the_archive_stored(archive: Archive, tracker: GapTracker) -> None:
    def observe(packets: list[tuple[bytes, int]]) -> None:
        ingest_and_observe(archive, tracker, packets)

    observe([(hk(n), 0) for n in (0, 1, 2, 6, 7)])
    assert tracker.ranges() == [Gap(A, 3, 3)]
    observe([(hk(n), 1) for n in (1, 3, 4, 5)])  # a playback, one of them a duplicate
    assert tracker.ranges() == []
    assert archive.sequence_counts(A) == list(range(8))


def test_a_batch_stored_but_never_observed_is_caught_up_on_start(path: Path) -> None:
    with Archive(path, ZD) as archive:
        ingest_and_observe(archive, GapTracker(archive), [(hk(n), 0) for n in range(10)])
        archive.ingest([(hk(n), 0) for n in range(10, 20)], NOW + 1)  # killed before observing these
    with Archive(path, ZD) as archive:
        tracker = GapTracker(archive)
        assert tracker.expected(A) == 20 and tracker.counters["caught_up"] == 10
        ingest_and_observe(archive, tracker, [(hk(20), 0)])
        assert tracker.ranges() == []
        # and a gap found while catching up dates from the packets' arrival
        archive.ingest([(hk(25), 0)], NOW + 2)
    with Archive(path, ZD) as archive:
        assert [(g.first, g.count, g.found) for g in GapTracker(archive).ranges()] == [(21, 4, NOW + 2)]


def test_a_reader_catches_up_in_memory_only(path: Path) -> None:
    with Archive(path, ZD) as archive:
        archive.ingest([(hk(n), 0) for n in (0, 1, 5)], NOW)
        with Archive(path, ZD, readonly=True) as reader:
            assert GapTracker(reader).ranges() == [Gap(A, 2, 3)]
        assert archive.query("SELECT count(*) FROM gap_missing") == [(0,)]
        assert GapTracker(archive).ranges() == [Gap(A, 2, 3)]
        assert archive.query("SELECT count(*) FROM gap_missing") == [(3,)]

"""PUS 15 onboard store: bounded, and played back by time or by sequence range on its own channel."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flight.supervisor.services.storage import PLAYBACK_VC, OnboardStore, Playback
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import SEQUENCE_KEY

from .._harness import (
    ACCEPTED,
    COMPLETED,
    CORE,
    PROGRESS,
    STARTED,
    Harness,
    Tm,
    Verdict,
    events,
    records,
    verdicts,
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDb]:
    state = StateDb(tmp_path / "store.db")
    yield state
    state.close()


def record(store: OnboardStore, *seqs: int, apid: int = CORE) -> None:
    with store.db.transaction():
        for seq in seqs:
            store.record(float(seq), apid, seq, f"packet {apid}/{seq}".encode())


# --- the store on its own -------------------------------------------------------------------------

def test_a_small_bound_is_kept_exactly_and_the_oldest_go_first(db: StateDb) -> None:
    store = OnboardStore(db, lambda: 5)
    record(store, *range(12))
    assert store.count == 5 and store.counters["evicted"] == 7
    assert [row[0] for row in db.conn.execute("SELECT seq FROM store ORDER BY id")] == list(range(7, 12))


def test_a_large_bound_is_kept_within_the_eviction_slack(db: StateDb) -> None:
    store = OnboardStore(db, lambda: 100)
    record(store, *range(100 + 64))
    assert store.count == 164 and store.counters["evicted"] == 0  # within the slack: no delete yet
    record(store, 164)
    assert store.count == 100 and store.counters["evicted"] == 65
    assert db.conn.execute("SELECT COUNT(*) FROM store").fetchone()[0] == 100


def test_a_sequence_range_wraps_and_takes_the_newest_packet_of_each_count(db: StateDb) -> None:
    store = OnboardStore(db, lambda: 1000)
    record(store, 16382, 16383, 0, 1, 2)
    record(store, 1, apid=CORE + 1)  # another APID: not asked for
    record(store, 0)  # the count came round again: this one is the newer 0
    ids = store.ids_in_sequence(CORE, 16382, 4)
    assert [store.packet(i) for i in ids] == [f"packet {CORE}/{s}".encode() for s in (16382, 16383, 1, 0)]
    assert ids == sorted(ids) and ids[-1] == 7


def test_a_time_range_is_inclusive(db: StateDb) -> None:
    store = OnboardStore(db, lambda: 1000)
    record(store, 1, 2, 3, 4)
    assert [store.packet(i) for i in store.ids_in_time(2.0, 3.0)] == [b"packet 16/2", b"packet 16/3"]


def test_playback_skips_and_counts_a_packet_evicted_meanwhile(db: StateDb) -> None:
    store = OnboardStore(db, lambda: 3)
    record(store, 1, 2, 3)
    playback = Playback(db, store)
    with db.transaction():
        playback.enqueue(store.ids_in_time(0.0, 10.0), b"ref")
    record(store, 4)  # evicts 1
    with db.transaction():
        packets, [step] = playback.take()
        assert playback.finish() == [(b"ref", 3)]
    assert packets == [b"packet 16/2", b"packet 16/3"]
    assert (step.sent, step.total, step.done) == (3, 3, True)
    assert playback.counters["playback_evicted"] == 1 and playback.pending() == 0


# --- through the supervisor -----------------------------------------------------------------------

def pump(harness: Harness, ticks: int = 20) -> list[Tm]:
    """Tick and send frames, as the process loop does, until the playback is over."""
    out = []
    for _ in range(ticks):
        harness.advance(0.001)
        out += harness.downlink()
    return out


def test_every_packet_is_stored_before_it_goes_down(harness: Harness) -> None:
    harness.ok("PING")
    harness.ok("TEST_EVENTS", {"count": 3})
    harness.advance(2.0)
    queued = harness.supervisor.counters()["tm_mux.packets_vc0"]
    assert queued == len(harness.stored()) == harness.supervisor.store.count == harness.counter("store.recorded")


def test_the_bound_is_a_parameter_and_eviction_is_counted(harness: Harness) -> None:
    harness.ok("PARAM_SET", {"name": "store.max_packets", "value": 1000})
    harness.ok("PARAM_SET", {"name": "events.flood_limit", "value": 10_000})
    harness.ok("TEST_EVENTS", {"count": 1100})
    s = harness.supervisor
    rows = s.db.conn.execute("SELECT COUNT(*), MIN(id) FROM store").fetchone()
    assert rows[0] == s.store.count <= 1000 + 64
    assert harness.counter("store.evicted") == harness.counter("store.recorded") - rows[0] > 0
    assert rows[1] > 1  # the oldest went first
    harness.downlink()
    harness.ok("STORE_STATUS")
    [status] = records(harness.downlink(), 15, 13)
    assert status["max_packets"] == 1000 and status["evicted"] == harness.counter("store.evicted")
    assert status["packets"] == s.store.count - 2  # before this report's own acceptance and start


def test_playback_by_time_goes_on_its_own_channel_and_completes_when_the_last_packet_has_gone(
        harness: Harness) -> None:
    for _ in range(3):
        harness.clock.advance(10.0)
        harness.ok("PING")
    wanted = [tm.raw for tm in harness.stored() if harness.clock.now() - 15.0 <= tm.time <= harness.clock.now() - 5.0]
    assert len(wanted) == 4  # the second PING's acceptance, start, reply and completion
    tc = harness.command("STORE_PLAYBACK_TIME", {"start": harness.clock.now() - 15.0,
                                                 "end": harness.clock.now() - 5.0})
    harness.uplink(tc)
    first = harness.downlink()
    assert [v.subtype for v in verdicts(first, tc)] == [ACCEPTED, STARTED]  # completion deferred
    tms = pump(harness)
    assert [tm.raw for tm in tms if tm.vcid == PLAYBACK_VC] == wanted
    assert [v.subtype for v in verdicts(tms, tc)] == [COMPLETED]
    assert events(tms, "PLAYBACK_FINISHED") == [("PLAYBACK_FINISHED", {"packets": 4})]
    assert harness.counter("store.played_back") == 4 and harness.counter("cmd.completed") == 4  # 3 PINGs and it


def test_an_empty_range_completes_at_once(harness: Harness) -> None:
    tc = harness.command("STORE_PLAYBACK_TIME", {"start": 0.0, "end": 1.0})
    harness.uplink(tc)
    assert [v.subtype for v in verdicts(harness.downlink(), tc)] == [ACCEPTED, STARTED, COMPLETED]


def test_playback_by_sequence_range_wraps_around_the_14_bit_count(make_harness: Callable[..., Harness]) -> None:
    first = make_harness()
    with first.db.transaction():
        first.db.put(SEQUENCE_KEY, {str(CORE): 16380})
    harness = make_harness()  # the same file name: a fresh supervisor whose counts are about to wrap
    for _ in range(3):
        harness.ok("NOOP")  # 3 reports each
    by_seq = {tm.seq: tm.raw for tm in harness.stored() if tm.apid == CORE}
    assert {16382, 16383, 0, 1} <= by_seq.keys()
    harness.downlink()
    harness.ok("STORE_PLAYBACK_SEQ", {"apid": CORE, "first": 16382, "count": 4})
    played = [tm for tm in pump(harness) if tm.vcid == PLAYBACK_VC]
    assert [tm.seq for tm in played] == [16382, 16383, 0, 1]
    assert [tm.raw for tm in played] == [by_seq[s] for s in (16382, 16383, 0, 1)]


def big_playback(harness: Harness, events: int) -> tuple[bytes, int]:
    """Ask for a playback of everything stored so far, with ``events`` more; the TC and its packet count."""
    harness.ok("PARAM_SET", {"name": "events.flood_limit", "value": 10_000})
    harness.ok("TEST_EVENTS", {"count": events})
    harness.downlink()
    start = harness.clock.now()
    total = harness.supervisor.store.count
    harness.clock.advance(1.0)
    tc = harness.command("STORE_PLAYBACK_TIME", {"start": start, "end": start})
    harness.uplink(tc)
    return tc, total


def test_a_long_playback_reports_progress_every_hundred_and_completion_after_its_last_frame(
        harness: Harness) -> None:
    tc, total = big_playback(harness, 250)
    assert 256 < total < 300  # progress after 128 and 256, completion later
    seen: list[tuple[int | None, bool]] = []  # (channel, is this request's completion) in arrival order
    for ticks in (10, 1, 1, 1):  # first ten ticks without sending a frame: all is fed, nothing has gone
        for _ in range(ticks):
            harness.advance(0.001)
        seen += [(tm.vcid, tm.service == 1 and tm.subtype == COMPLETED and tm.data[:4] == tc[:4])
                 for tm in harness.downlink()]
    assert sum(1 for vcid, _ in seen if vcid == PLAYBACK_VC) == total
    done = [i for i, (_, completion) in enumerate(seen) if completion]
    last_played = max(i for i, (vcid, _) in enumerate(seen) if vcid == PLAYBACK_VC)
    assert len(done) == 1 and done[0] > last_played
    steps = [v.step for v in verdicts(harness.stored(), tc) if v.subtype == PROGRESS]
    assert steps == [1, 2]  # after 128 and 256 packets: one report per hundred crossed


def test_playback_goes_behind_realtime(harness: Harness) -> None:
    big_playback(harness, 200)
    harness.downlink()
    harness.advance(0.001)  # the first batch is queued on the playback channel
    harness.ok("PING")  # ... and then real-time telemetry
    s = harness.supervisor
    assert s.mux.queued_octets(PLAYBACK_VC) > 0
    frame = harness.demux.feed(s.next_frame())
    assert frame.frame.virtual_channel_id == 0


def test_a_playback_interrupted_by_a_kill_carries_on_after_the_restart(harness: Harness) -> None:
    tc, total = big_playback(harness, 300)
    harness.advance(0.001)
    restarted = harness.restart()  # the batch queued in memory is lost with the process...
    assert restarted.playback.pending() == total  # ... and queued again from the state
    assert restarted.counters()["store.playback_requeued"] == 64
    tms = pump(harness, 30)
    assert sum(1 for tm in tms if tm.vcid == PLAYBACK_VC) == total  # nothing the kill cut is missing
    assert verdicts(tms, tc)[-1] == Verdict(COMPLETED)
    assert events(tms, "PLAYBACK_FINISHED") == [("PLAYBACK_FINISHED", {"packets": total})]
    assert restarted.playback.pending() == 0

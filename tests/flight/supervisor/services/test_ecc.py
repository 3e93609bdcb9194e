"""The ECC monitor in the supervisor, on the simulated source the bench drives (the NVML one's stand-in)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flight.dictionary import load_dictionary
from flight.seu.ecc_source import COUNTS, EccReading, SimulatedEcc, grown, open_ecc_source
from flight.supervisor.services.ecc import ECC_KEY, POLL_PERIOD

from .._harness import Harness, events, hk_reports
from .test_jobs import Bench, make_bench

DICTIONARY = load_dictionary()
SEU_SID = 4


@pytest.fixture
def gpu() -> SimulatedEcc:
    return SimulatedEcc()


@pytest.fixture
def bench(make_harness: Callable[..., Harness], gpu: SimulatedEcc) -> Bench:
    made: Bench = make_bench(make_harness, None, ecc_source=gpu)
    return made


def poll(bench: Bench) -> list[tuple[str, dict[str, Any]]]:
    bench.tick(POLL_PERIOD)
    return [e for e in events(bench.harness.downlink())
            if e[0] in ("ECC_COUNT_CHANGED", "GPU_XID", "GPU_RESET_REQUESTED", "JOB_WORKER_LOST")]


def test_the_first_reading_is_a_silent_baseline_and_each_change_an_event(bench: Bench, gpu: SimulatedEcc) -> None:
    gpu.inject(corrected=40, remapped_rows=2)  # the device's past: not news to a fresh supervisor
    assert poll(bench) == []
    gpu.inject(corrected=3)
    assert poll(bench) == [("ECC_COUNT_CHANGED", {"counter": "corrected_volatile", "before": 40, "after": 43}),
                           ("ECC_COUNT_CHANGED", {"counter": "corrected_aggregate", "before": 40, "after": 43})]
    assert poll(bench) == []
    assert bench.harness.counter("ecc.changes") == 2


def test_an_uncorrectable_error_kills_the_job_which_restarts_from_its_checkpoint(bench: Bench,
                                                                                gpu: SimulatedEcc) -> None:
    worker = bench.running()
    poll(bench)
    gpu.inject(uncorrected=1)
    seen = poll(bench)
    assert worker.kills == 1 and ("GPU_RESET_REQUESTED", {
        "reason": "uncorrectable ECC error (uncorrected_volatile 0 → 1)", "jobs": 1}) in seen
    assert ("JOB_WORKER_LOST", {"job": 1, "reason": "uncorrectable ECC error (uncorrected_volatile 0 → 1)",
                                "retry": 1, "retries": 3}) in seen
    bench.tick()
    assert len(bench.launched) == 2 and bench.last.attempt == 2  # it resumes from its last checkpoint
    assert bench.harness.counter("ecc.uncorrectable") == 1 and bench.harness.counter("ecc.jobs_restarted") == 1


@pytest.mark.parametrize(("xid", "fatal"), [(48, True), (95, True), (79, True), (63, False), (13, False)])
def test_xid_events_are_reported_and_the_fatal_ones_restart_the_job(bench: Bench, gpu: SimulatedEcc, xid: int,
                                                                    fatal: bool) -> None:
    worker = bench.running()
    poll(bench)
    gpu.inject(xid=xid)
    seen = poll(bench)
    assert seen[0][0] == "GPU_XID" and seen[0][1]["xid"] == xid and seen[0][1]["meaning"]
    assert (worker.kills == 1) is fatal and any(e[0] == "GPU_RESET_REQUESTED" for e in seen) is fatal


def test_a_restarted_supervisor_does_not_report_old_errors_again(bench: Bench, gpu: SimulatedEcc) -> None:
    poll(bench)
    gpu.inject(corrected=5)
    assert len(poll(bench)) == 2
    bench.harness.restart()
    assert poll(bench) == []
    gpu.inject(uncorrected=1)
    assert [e[0] for e in poll(bench)] == ["ECC_COUNT_CHANGED", "ECC_COUNT_CHANGED", "GPU_RESET_REQUESTED"]


def test_every_ecc_channel_is_in_the_seu_report_and_fed(bench: Bench, gpu: SimulatedEcc) -> None:
    channels = {c.name for c in DICTIONARY.telemetry if c.name.startswith("ecc.")}
    assert channels <= {c.name for c in DICTIONARY.report(SEU_SID).channels}
    poll(bench)
    gpu.inject(corrected=2, uncorrected=1, retired_pages=3, remapped_rows=4)
    bench.tick(POLL_PERIOD)
    bench.tick(2.0)
    report = hk_reports(bench.harness.downlink(), SEU_SID)[-1]
    assert {name: report[name] for name in channels} == {
        "ecc.corrected_volatile": 2, "ecc.uncorrected_volatile": 1, "ecc.corrected_aggregate": 2,
        "ecc.uncorrected_aggregate": 1, "ecc.retired_pages": 3, "ecc.remapped_rows": 4, "ecc.source": "SIMULATED"}


def test_without_a_source_nothing_is_read_and_housekeeping_says_none(make_harness: Callable[..., Harness]) -> None:
    harness = make_harness()
    assert not harness.supervisor.ecc.due()
    assert harness.supervisor.sample()["ecc.source"] == "NONE"


def test_the_sources_and_what_changed() -> None:
    assert open_ecc_source("none") is None
    assert isinstance(open_ecc_source("simulated"), SimulatedEcc)
    assert isinstance(open_ecc_source("auto"), SimulatedEcc)  # this machine has no NVML library
    with pytest.raises(Exception, match="NVML is not usable"):
        open_ecc_source("nvml")
    with pytest.raises(ValueError, match="only grow"):
        SimulatedEcc().inject(corrected=-1)
    before, after = EccReading(corrected_volatile=5), EccReading(corrected_volatile=0, remapped_rows=1)
    assert grown(before, after) == {"corrected_volatile": (5, 0), "remapped_rows": (0, 1)}  # a driver reload too
    assert set(EccReading().counts()) == set(COUNTS)


def test_a_quiet_reading_writes_nothing(bench: Bench, gpu: SimulatedEcc, monkeypatch: pytest.MonkeyPatch) -> None:
    poll(bench)
    db = bench.harness.supervisor.db
    writes: list[str] = []
    put = db.put
    monkeypatch.setattr(db, "put", lambda key, value: (writes.append(key), put(key, value))[1])
    assert poll(bench) == [] and poll(bench) == []
    assert ECC_KEY not in writes  # each write is an fsync: a quiet second makes none
    gpu.inject(corrected=1)
    poll(bench)
    assert ECC_KEY in writes

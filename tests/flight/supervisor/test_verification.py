"""PUS 1 verification: success reports only as the TC's ack flags ask, failures always, with code and field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flight.link.pus import build_tc
from flight.supervisor.clock import ManualClock
from flight.supervisor.services.storage import OnboardStore
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import Telemetry
from flight.supervisor.verification import (
    ACK_ACCEPTANCE,
    ACK_COMPLETION,
    ACK_PROGRESS,
    ACK_START,
    FAILURE_DATA_MAX,
    FailureCode,
    RequestRef,
    Verifier,
)

from ._harness import (
    ACCEPT_FAILED,
    ACCEPTED,
    COMPLETED,
    DICTIONARY,
    FAILED,
    PROGRESS,
    STARTED,
    Verdict,
    parse,
    verdicts,
)

TC = build_tc(0x123, 17, 1, seq_count=4321)
SUCCESSES: list[tuple[int, int, Callable[[Verifier, RequestRef], None]]] = [
    (ACK_ACCEPTANCE, ACCEPTED, lambda v, ref: v.accepted(ref)),
    (ACK_START, STARTED, lambda v, ref: v.started(ref)),
    (ACK_PROGRESS, PROGRESS, lambda v, ref: v.progress(ref, 1)),
    (ACK_COMPLETION, COMPLETED, lambda v, ref: v.completed(ref)),
]


class Reporting:
    def __init__(self, path: Path) -> None:
        self.db = StateDb(path)
        self.sent: list[bytes] = []
        store = OnboardStore(self.db, lambda: 1_000_000)
        self.verifier = Verifier(Telemetry(self.db, ManualClock(), DICTIONARY.mission.tm_time, store, self.sent.append))

    def run(self, call: Callable[[Verifier], None]) -> list[Verdict]:
        with self.db.transaction():
            call(self.verifier)
        self.verifier.telemetry.committed()
        return verdicts([parse(p, 0) for p in self.sent], TC)


@pytest.fixture
def reporting(tmp_path: Path) -> Iterator[Reporting]:
    made = Reporting(tmp_path / "state.db")
    yield made
    made.db.close()


def ref(flags: int) -> RequestRef:
    return RequestRef(TC[:4], 0x123, flags)


def test_request_ref_round_trips_through_its_packed_form() -> None:
    original = RequestRef(b"\x18\x10\xc0\x07", 16, 0b1010)
    assert RequestRef.unpack(original.pack()) == original


@pytest.mark.parametrize("flags", range(16))
def test_success_reports_go_down_only_as_the_ack_flags_ask(reporting: Reporting, flags: int) -> None:
    got = reporting.run(lambda v: [call(v, ref(flags)) for _, _, call in SUCCESSES])
    assert [v.subtype for v in got] == [subtype for flag, subtype, _ in SUCCESSES if flags & flag]


@pytest.mark.parametrize("code", list(FailureCode))
def test_failure_reports_go_down_whatever_the_flags_with_code_and_field(reporting: Reporting,
                                                                       code: FailureCode) -> None:
    got = reporting.run(lambda v: (v.acceptance_failed(ref(0), code, "PARAM_SET.value"),
                                   v.completion_failed(ref(0), code, "hold")))
    assert got == [Verdict(ACCEPT_FAILED, int(code), "PARAM_SET.value"), Verdict(FAILED, int(code), "hold")]


def test_reports_go_to_the_telecommand_apid_and_name_its_request(reporting: Reporting) -> None:
    reporting.run(lambda v: v.accepted(ref(ACK_ACCEPTANCE)))
    tm = parse(reporting.sent[0], 0)
    assert (tm.apid, tm.service, tm.subtype) == (0x123, 1, ACCEPTED)
    assert tm.data[:4] == TC[:4]


def test_a_long_field_name_is_cut_to_the_failure_data_limit(reporting: Reporting) -> None:
    got = reporting.run(lambda v: v.acceptance_failed(ref(0), FailureCode.BAD_ARGUMENT, "x" * 500))
    assert got[0].field == "x" * FAILURE_DATA_MAX


def test_progress_reports_carry_their_step_modulo_one_octet(reporting: Reporting) -> None:
    got = reporting.run(lambda v: (v.progress(ref(ACK_PROGRESS), 3), v.progress(ref(ACK_PROGRESS), 257)))
    assert got == [Verdict(PROGRESS, step=3), Verdict(PROGRESS, step=1)]


def test_reports_are_counted_by_kind(reporting: Reporting) -> None:
    reporting.run(lambda v: (v.accepted(ref(0b1111)), v.accepted(ref(0)),
                             v.acceptance_failed(ref(0), FailureCode.MALFORMED_PACKET, "pus")))
    assert reporting.verifier.counters.snapshot() == {"verification.acceptance_success": 1,
                                                      "verification.acceptance_failure": 1}

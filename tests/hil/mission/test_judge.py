"""The judge: expectations against a summary, a missing field never passes, and any failure fails the run."""

from __future__ import annotations

from hil.mission.judge import exit_code, judge, lookup
from hil.mission.scenario import Expectation

SUMMARY = {"commands": {"sent": 40, "lost": 0}, "jobs": {"1": {"state": "COMPLETED", "final_loss": 1.9}},
           "power": {"min_soc": 0.41}, "wall_s": 312.5}


def test_fields_are_found_by_their_path() -> None:
    assert lookup(SUMMARY, "commands.lost") == 0 and lookup(SUMMARY, "jobs.1.state") == "COMPLETED"
    assert lookup(SUMMARY, "wall_s") == 312.5
    assert lookup(SUMMARY, "jobs.2.state") is None and lookup(SUMMARY, "commands.lost.more") is None


def test_the_judge_passes_what_holds_and_fails_what_does_not() -> None:
    verdicts = judge(SUMMARY, [Expectation("commands.lost", equals=0), Expectation("jobs.1.state", equals="COMPLETED"),
                               Expectation("power.min_soc", at_least=0.3), Expectation("wall_s", at_most=600)])
    assert all(v.passed for v in verdicts) and exit_code(verdicts) == 0
    failing = judge(SUMMARY, [Expectation("commands.lost", equals=0), Expectation("jobs.1.final_loss", at_most=1.5)])
    assert [v.passed for v in failing] == [True, False] and exit_code(failing) == 1
    assert str(failing[1]) == "FAIL  jobs.1.final_loss ≤ 1.5  (was 1.9)"
    assert failing[1].as_dict() == {"field": "jobs.1.final_loss", "at_most": 1.5, "actual": 1.9, "passed": False}


def test_a_field_the_summary_lacks_fails() -> None:
    [verdict] = judge(SUMMARY, [Expectation("seu.missed", equals=0)])
    assert not verdict.passed and verdict.actual is None and "was missing" in str(verdict)

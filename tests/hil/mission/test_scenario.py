"""Scenario files: a good one is read whole, and every mistake is a ScenarioError naming the line and field."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.dictionary import load_dictionary
from hil.mission.scenario import (
    EccFault,
    Expectation,
    KillSupervisor,
    LinkFault,
    PowerFault,
    ScenarioError,
    SeuFault,
    load_scenario,
    parse_scenario,
)
from hil.mission.when import When

DICTIONARY = load_dictionary()
GOOD = '''[mission]
name = "test"
rate = 120
orbits = 2

[link]
preset = "lossy"
faults = ["loss=0.2"]
stations = ["redmond"]

[bus]
capacity_wh = 300

[[command]]
at = "aos 1 + 30s"
name = "JOB_START"
args = { kind = "TRAIN", config = '{"max_iters": 200}' }

[[command]]
at = 600
name = "PING"

[[fault]]
at = "eclipse 1 + 2m"
kind = "seu"
job = 1
target = "param"
bits = "exponent"

[[fault]]
at = "10m"
kind = "kill-supervisor"

[[fault]]
at = "los 1"
kind = "link"
preset = "harsh"

[[fault]]
at = "eclipse 2"
kind = "power"
array_share = 0.5

[[fault]]
at = 30
kind = "ecc"
uncorrected = 1

[[downlink]]
at = "aos 2"
remote = "jobs/job-1/checkpoints/step-*.safetensors"

[[expect]]
field = "commands.lost"
equals = 0

[[expect]]
field = "jobs.1.state"
equals = "COMPLETED"

[[expect]]
field = "power.min_soc"
at_least = 0.3
'''


def parse(text: str) -> object:
    return parse_scenario(text, DICTIONARY, "s.toml")


def error(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    return caught.value


def test_a_good_scenario_is_read_whole() -> None:
    scenario = parse(GOOD)
    assert scenario.mission.rate == 120.0 and scenario.mission.orbits == 2.0 and scenario.bus.capacity_wh == 300.0
    assert scenario.link.stations == ("redmond",) and scenario.link.faults == ("loss=0.2",)
    first, ping = scenario.commands
    assert first.name == "JOB_START" and first.when == When("aos", 1, 30.0) and ping.when == When("start", 0, 600.0)
    seu, kill, link, power, ecc = scenario.faults
    assert isinstance(seu, SeuFault) and seu.bits == "exponent" and seu.when == When("eclipse", 1, 120.0)
    assert isinstance(kill, KillSupervisor) and isinstance(link, LinkFault) and link.preset == "harsh"
    assert isinstance(power, PowerFault) and power.array_share == 0.5
    assert isinstance(ecc, EccFault) and ecc.uncorrected == 1
    [downlink] = scenario.downlinks
    assert downlink.remote == "jobs/job-1/checkpoints/step-*.safetensors" and downlink.when == When("aos", 2, 0.0)
    assert [str(e) for e in scenario.expectations] == ["commands.lost = 0", "jobs.1.state = COMPLETED",
                                                       "power.min_soc ≥ 0.3"]


def test_the_defaults_fill_what_is_left_out() -> None:
    scenario = parse('[mission]\nname = "bare"\n')
    assert scenario.link.preset == "lossy" and scenario.bus.initial_soc == 0.8 and scenario.commands == ()


def with_line(old: str, new: str) -> tuple[str, int]:
    """GOOD with its one line holding ``old`` changed, and that line's number."""
    lines = GOOD.splitlines()
    [number] = [n for n, line in enumerate(lines, start=1) if old in line]
    lines[number - 1] = lines[number - 1].replace(old, new)
    return "\n".join(lines), number


@pytest.mark.parametrize(("old", "new", "where", "reason"), [
    ("rate = 120", "rate = -1", "mission.rate", "not in (0, 10000]"),
    ("rate = 120", 'rate = "fast"', "mission.rate", "expected float"),
    ("orbits = 2", "orbitz = 2", "mission.orbitz", "unknown key"),
    ('preset = "lossy"', 'preset = "stormy"', "link.preset", "'stormy' is not one of"),
    ('"loss=0.2"', '"lose=0.2"', "link.faults", "lose"),
    ('["redmond"]', '["mars"]', "link.stations", "station 'mars': one of svalbard"),
    ("capacity_wh = 300", "capacity_wh = -5", "bus.capacity_wh", "-5.0 is out of range"),
    ("capacity_wh = 300", "soc = 0.5", "bus.soc", "unknown key"),
    ('"aos 1 + 30s"', '"soon"', "command[0].at", "'soon' is not a time"),
    ('"JOB_START"', '"JOB_STRAT"', "command[0].name", "unknown command 'JOB_STRAT'"),
    ('kind = "TRAIN"', 'kind = "TRAINING"', "command[0].args.kind", "'TRAINING' is not one of"),
    ('kind = "seu"', 'kind = "meteor"', "fault[0].kind", "'meteor' is not one of"),
    ('"exponent"', '"fraction"', "fault[0].bits", "'fraction' is not one of"),
    ("array_share = 0.5", "array_share = 1.5", "fault[3].array_share", "1.5 is not in [0, 1]"),
    ('kind = "ecc"', 'kind = "kill-worker"', "fault[4].uncorrected", "unknown key"),
    ('"commands.lost"', '"commands.misplaced"', "expect[0].field", "not a summary field"),
    ("equals = 0", "roughly = 0", "expect[0].roughly", "unknown key"),
    ("equals = 0", "equals = [0]", "expect[0].equals", "list is not a number"),
    ('"max_iters": 200', '"max_iters": -3', "command[0].args.config", "config.max_iters"),
    ('"max_iters": 200', '"max_iter": 200', "command[0].args.config", "unknown setting for a TRAIN job"),
    ("at = 600", "at = 600\nrelease = 'whenever'", "command[1].release", "'whenever' is not a time"),
    ('"jobs/job-1/checkpoints/', '"../jobs/job-1/checkpoints/', "downlink[0].remote", "not a path inside"),
    ('bits = "exponent"', 'bits = "exponent"\nwithin = "aos 2"', "fault[0].within", "not a duration"),
    ('"jobs/job-1/checkpoints/', '"jobs/job-*/checkpoints/', "downlink[0].remote", "only the file's own name"),
])
def test_each_mistake_names_its_line_and_field(old: str, new: str, where: str, reason: str) -> None:
    text, line = with_line(old, new)
    caught = error(text)
    assert caught.where == where and reason in caught.reason, caught
    # the key's own line, where its table begins (a key of an inline table), or the next (a field the
    # change made unknown)
    assert caught.line is not None and line - 6 <= caught.line <= line + 1, caught
    assert str(caught).startswith(f"s.toml:{caught.line}: {where}: ")


def test_an_octet_argument_is_written_in_hex() -> None:
    link_test = '\n[[command]]\nat = 700\nname = "LINK_TEST"\nargs = { payload = "%s" }\n'
    scenario = parse(GOOD + link_test % "00ff 7e")
    sent = [c for c in scenario.commands if c.name == "LINK_TEST"]  # type: ignore[attr-defined]
    assert sent[0].args == {"payload": b"\x00\xff\x7e"}
    caught = error(GOOD + link_test % "not hex")
    assert caught.where == "command[2].args.payload" and "is not a bytes" in caught.reason, caught
    assert caught.line == len(GOOD.splitlines()) + 5


def test_toml_that_does_not_parse_names_its_line() -> None:
    caught = error('[mission]\nname = "x"\nrate = = 3\n')
    assert caught.line == 3 and "not valid TOML" in caught.reason


def test_a_missing_mission_or_an_unknown_table_is_named() -> None:
    assert error('[bus]\nsoc = 0.5\n').where == "mission"
    caught = error('[mission]\nname = "x"\n[commands]\nat = 1\n')
    assert caught.where == "commands" and caught.line == 3 and "unknown table" in caught.reason


def test_an_expectation_needs_exactly_one_comparison() -> None:
    assert "exactly one" in error('[mission]\nname = "x"\n[[expect]]\nfield = "wall_s"\n').reason
    caught = error('[mission]\nname = "x"\n[[expect]]\nfield = "wall_s"\nat_most = 5\nat_least = 1\n')
    assert "exactly one" in caught.reason and caught.line == 3


def test_expectations_judge_values() -> None:
    assert Expectation("commands.lost", equals=0).holds(0) and not Expectation("commands.lost", equals=0).holds(1)
    assert Expectation("power.min_soc", at_least=0.3).holds(0.31)
    assert not Expectation("power.min_soc", at_least=0.3).holds(None)  # a missing value never passes
    assert not Expectation("wall_s", at_most=600).holds("fast") and not Expectation("wall_s", at_most=600).holds(True)


def test_files_that_cannot_be_read_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read it"):
        load_scenario(tmp_path / "missing.toml", DICTIONARY)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'[mission]\nname = "\xff"\n')
    with pytest.raises(ScenarioError, match=r"binary.toml:2: not UTF-8"):
        load_scenario(binary, DICTIONARY)
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    assert load_scenario(good, DICTIONARY).path == good


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_is_a_scenario_or_a_scenario_error(text: str) -> None:
    with contextlib.suppress(ScenarioError):
        parse(text)


LINES = GOOD.splitlines()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(LINES) - 1), st.sampled_from(
    ["", "x = 1", "[[fault]]", "at = -3", "kind = 'ecc'", "args = 5", "equals = []", "[mission]", "= =",
     "name = 'PARAM_SET'", "job = 0", "faults = 'loss'", "at = 1e400", "at = nan", "count = 1000",
     "kind = []", "kind = {}", "field = []", "args = { kind = [] }", "release = {}", "stations = [[]]"])),
    max_size=4))
def test_any_edit_of_a_good_scenario_is_read_or_refused_with_a_line(edits: list[tuple[int, str]]) -> None:
    lines = list(LINES)
    for number, text in edits:
        lines[number] = text
    try:
        parse("\n".join(lines))
    except ScenarioError as exc:
        assert exc.line is not None or exc.where in ("mission", ""), exc

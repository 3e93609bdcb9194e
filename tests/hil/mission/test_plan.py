"""A scenario laid on its orbit: the start before the first pass, the windows, each step's time, and
`hil mission --check`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flight.dictionary import load_dictionary
from hil.bus.link_passes import orbit_windows, stations_named
from hil.bus.shadow import eclipses
from hil.cli import main
from hil.mission.plan import START_LEAD_S, geometry, schedule
from hil.mission.scenario import ScenarioError, load_scenario, parse_scenario

DICTIONARY = load_dictionary()
STEPS = '''[mission]
name = "plan"
orbits = 2
[[command]]
at = "aos 2 + 30s"
name = "PING"
[[command]]
at = 0
name = "NOOP"
[[fault]]
at = "eclipse 1 + 1m"
kind = "kill-supervisor"
'''


def test_a_mission_opens_before_its_first_pass_and_its_windows_are_the_orbits() -> None:
    scenario = parse_scenario(STEPS, DICTIONARY)
    where = geometry(scenario)
    assert where.duration_s == pytest.approx(2 * where.orbit.period_s)
    assert where.passes[0][0] == pytest.approx(START_LEAD_S, abs=1.0)  # ten minutes before the first pass
    stations = stations_named(scenario.link.stations)
    assert where.passes == tuple((a, min(b, where.duration_s)) for a, b in orbit_windows(
        where.orbit, stations, where.start, where.duration_s / 3600, 1.0) if a < where.duration_s)
    found = eclipses(where.orbit, where.start, where.start + where.duration_s)
    assert [round(entry) for entry, _ in where.eclipses] == [round(max(0.0, e.entry - where.start)) for e in found]


def test_steps_come_in_time_order_at_their_windows() -> None:
    scenario = parse_scenario(STEPS, DICTIONARY)
    where = geometry(scenario)
    planned = schedule(scenario, where)
    assert [p.where for p in planned] == ["command[1]", "fault[0]", "command[0]"]
    assert planned[1].t_s == pytest.approx(where.eclipses[0][0] + 60.0)
    assert planned[2].t_s == pytest.approx(where.passes[1][0] + 30.0)


def test_a_start_can_be_given_and_a_mission_without_stations_is_always_in_a_pass() -> None:
    scenario = parse_scenario('[mission]\nname = "x"\nstart_hours = 1.5\n[link]\nstations = []\n', DICTIONARY)
    where = geometry(scenario)
    assert where.start - where.orbit.epoch == 5400.0 and where.passes == ((0.0, where.duration_s),)


@pytest.mark.parametrize(("at", "reason"), [("aos 9", "the mission has"), ("eclipse 1 + 10h", "after the mission")])
def test_a_time_the_orbit_cannot_give_is_an_error_at_its_line(at: str, reason: str) -> None:
    scenario = parse_scenario(STEPS.replace('"eclipse 1 + 1m"', f'"{at}"'), DICTIONARY, "p.toml")
    with pytest.raises(ScenarioError) as caught:
        schedule(scenario, geometry(scenario))
    assert caught.value.line == 11 and caught.value.where == "fault[0].at" and reason in caught.value.reason


def test_hil_mission_check_prints_the_timeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "plan.toml"
    path.write_text(STEPS)
    assert main(["mission", str(path), "--check"]) == 0
    out = capsys.readouterr().out
    assert "plan: 2 orbits of the default orbit" in out and "pass 1:" in out and "eclipse 1:" in out
    assert out.index("command[1]") < out.index("fault[0]") < out.index("command[0]")


@pytest.mark.parametrize("check", [["--check"], []])
def test_hil_mission_names_the_line_of_a_mistake_before_flying(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], check: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(STEPS.replace('name = "PING"', 'name = "PONG"'))
    assert main(["mission", str(path), "--out", str(tmp_path / "out"), *check]) == 2
    assert f"{path}:6: command[0].name: unknown command 'PONG'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing started


@pytest.mark.parametrize(("option", "says"), [(["--rate", "0"], "--rate 0"), (["--rate", "nan"], "--rate nan"),
                                             (["--settle", "-1"], "--settle -1")])
def test_bad_rates_and_settles_are_refused_before_flying(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        option: list[str], says: str) -> None:
    path = tmp_path / "good.toml"
    path.write_text(STEPS)
    assert main(["mission", str(path), "--out", str(tmp_path / "out"), *option]) == 2
    assert says in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_time_tagged_command_runs_on_board_at_its_release() -> None:
    text = STEPS.replace('name = "PING"', 'name = "PING"\nrelease = "los 2 + 30m"')
    scenario = parse_scenario(text, DICTIONARY)
    where = geometry(scenario)
    [tagged] = [p for p in schedule(scenario, where) if p.where == "command[0]"]
    assert tagged.release_s == pytest.approx(where.passes[1][1] + 1800.0)
    early = parse_scenario(STEPS.replace('name = "PING"', 'name = "PING"\nrelease = "aos 1"'), DICTIONARY)
    with pytest.raises(ScenarioError) as caught:
        schedule(early, geometry(early))
    assert caught.value.where == "command[0].release" and "before it is sent" in caught.value.reason
    assert caught.value.line == 7


def test_a_repeated_command_is_sent_every_so_often_and_must_end_in_time() -> None:
    text = STEPS.replace('name = "PING"', 'name = "PING"\nrepeat = 3\nevery = "1m"')
    scenario = parse_scenario(text, DICTIONARY)
    sends = [p for p in schedule(scenario, geometry(scenario)) if p.where == "command[0]"]
    assert [p.t_s - sends[0].t_s for p in sends] == [0.0, 60.0, 120.0] and [p.repeat_index for p in sends] == [0, 1, 2]
    late = parse_scenario(STEPS.replace('name = "PING"', 'name = "PING"\nrepeat = 10000\nevery = "1h"'), DICTIONARY)
    with pytest.raises(ScenarioError) as caught:
        schedule(late, geometry(late))
    assert caught.value.where == "command[0].repeat" and "after the mission's end" in caught.value.reason
    for bad, reason in (('repeat = 3', "needs a time between sends"), ('repeat = 0', "not in [1, 10000]"),
                        ('repeat = 2\nevery = "aos 1"', "not a duration")):
        with pytest.raises(ScenarioError, match=re.escape(reason)):
            parse_scenario(STEPS.replace('name = "PING"', f'name = "PING"\n{bad}'), DICTIONARY)


SCENARIOS = sorted((Path(__file__).parents[3] / "hil" / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_reads_and_lays_on_its_orbit(path: Path) -> None:
    scenario = load_scenario(path, DICTIONARY)
    planned = schedule(scenario, geometry(scenario))
    sends = sum(c.repeat for c in scenario.commands)
    assert scenario.mission.name == path.stem and len(planned) == sends + len(scenario.faults) + len(scenario.downlinks)
    assert scenario.expectations  # a scenario judges something


def test_the_shipped_scenarios_are_the_issues_set() -> None:
    assert [p.stem for p in SCENARIOS] == ["default", "kill-storm", "link-soak", "long-los", "power-negative",
                                           "seu-campaign"]

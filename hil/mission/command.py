"""``hil mission SCENARIO --check``: a scenario read, checked and laid on its orbit, without flying it.

Flying a scenario (starting every process, the timeline, faults, the report) is issue 7's next part;
until it lands, ``hil mission`` without ``--check`` says so and exits 2. The check prints the
mission's geometry (its start after the orbit's epoch, passes and eclipses) and each step at its
time, or one line naming the file, line and field of the first mistake.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from flight.dictionary import load_dictionary
from flight.link.errors import ConfigError
from hil.mission.plan import geometry, schedule
from hil.mission.scenario import load_scenario


def add_mission_command(commands: argparse._SubParsersAction[Any]) -> None:
    mission = commands.add_parser("mission", help="check a mission scenario and lay it on its orbit (--check)",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                  allow_abbrev=False)
    mission.add_argument("scenario", type=Path, metavar="SCENARIO.toml", help="the scenario file")
    mission.add_argument("--check", action="store_true", help="read and check it, print its timeline, fly nothing")
    mission.set_defaults(handler=run_mission)


def run_mission(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario, load_dictionary())
    where = geometry(scenario)
    steps = schedule(scenario, where)
    if not args.check:
        raise ConfigError(f"{args.scenario}: the scenario is good, but flying one is not built yet (issue 7); "
                          "--check prints its timeline")
    m = scenario.mission
    print(f"{m.name}: {m.orbits:g} orbits of the {m.orbit} orbit ({where.duration_s:.0f} s simulated, "
          f"{where.duration_s / m.rate:.0f} s at {m.rate:g}×), from {(where.start - where.orbit.epoch) / 3600:.2f} h "
          "after its epoch")
    for name, windows in (("pass", where.passes), ("eclipse", where.eclipses)):
        for i, (opens, closes) in enumerate(windows, start=1):
            print(f"  {name} {i}: {opens:8.0f} s to {closes:8.0f} s")
    for planned in steps:
        step = planned.step
        what = getattr(step, "name", "") or type(step).__name__
        tagged = f", runs on board at {planned.release_s:.0f} s" if planned.release_s is not None else ""
        print(f"  {planned.t_s:8.0f} s  {planned.where:<12} {what}  ({step.when}{tagged})")
    for expectation in scenario.expectations:
        print(f"  expect {expectation}")
    return 0

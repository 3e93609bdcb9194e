"""``hil mission SCENARIO``: fly a mission scenario on the bench, judge it, and write its report.

It starts every process (link emulator with the orbit's passes, bus simulator, flight supervisor,
ground station) on free ports, so that two missions can fly side by side; sends each command,
fault and downlink of the scenario at its time, with a live line of the orbit, link, job, battery
and upsets; keeps the link up after the last orbit until the archive is complete; then writes
``summary.json``, ``report.md`` and the plots into --out, prints the report and exits 0 when every
expectation held, 1 when one failed, 2 when the mission could not fly (a bad scenario names its
line and field). ``--check`` reads the scenario and prints its timeline without flying it.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from flight.atomic_file import write_json_atomic
from flight.dictionary import load_dictionary
from flight.link.errors import ConfigError
from ground.archive import Archive
from hil.mission.fly import MissionFlight
from hil.mission.plan import Geometry, PlannedStep, geometry, schedule
from hil.mission.plots import draw_all
from hil.mission.report import write_report
from hil.mission.scenario import Scenario, load_scenario
from hil.mission.summary import summarize

DEFAULT_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "default.toml"


def add_mission_command(commands: argparse._SubParsersAction[Any]) -> None:
    mission = commands.add_parser("mission", help="fly a mission scenario on the bench, judge it, write its report",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                  allow_abbrev=False)
    mission.add_argument("scenario", type=Path, nargs="?", default=DEFAULT_SCENARIO, metavar="SCENARIO.toml",
                         help="the scenario file (default: the default mission, hil/scenarios/default.toml)")
    mission.add_argument("--out", type=Path, help="the report directory, with the mission's state, archive and "
                         "logs (default out/mission/NAME; a previous run's files there are removed first)")
    mission.add_argument("--rate", type=float, help="fly faster or slower than the scenario says: simulated "
                         "seconds per wall second (the timeline stays in simulated time)")
    mission.add_argument("--settle", type=float, default=300.0, metavar="S", help="wall seconds the end-of-mission "
                         "contact may take to complete the archive and the transfers (default 300)")
    mission.add_argument("--check", action="store_true", help="read and check it, print its timeline, fly nothing")
    mission.set_defaults(handler=run_mission)


def run_mission(args: argparse.Namespace) -> int:
    dictionary = load_dictionary()
    scenario = load_scenario(args.scenario, dictionary)
    where = geometry(scenario)
    steps = schedule(scenario, where)
    rate = args.rate if args.rate is not None else scenario.mission.rate
    if not 0 < rate <= 10_000:
        raise ConfigError(f"--rate {rate:g}: simulated seconds per wall second, in (0, 10000]")
    if not args.settle > 0:
        raise ConfigError(f"--settle {args.settle:g}: wall seconds, more than 0")
    if args.check:
        _print_plan(scenario, where, steps, rate)
        return 0
    out: Path = args.out or Path("out/mission") / scenario.mission.name
    _print_plan(scenario, where, steps, rate)
    started = time.time()
    log = MissionFlight(scenario, where, steps, out, rate, args.settle, _say).fly()
    summary = summarize(scenario, out, log, dictionary)
    write_json_atomic(out / "summary.json", summary)
    write_json_atomic(out / "mission-log.json", {"started": started, "rate": rate, "steps": log.steps,
                                                 "files": log.files, "settle_s": round(log.settle_s, 1),
                                                 "archive_complete_at": log.archive_complete_at,
                                                 "exit_codes": log.exit_codes})
    archive = Archive(out / "ground-archive.db", dictionary, readonly=True)
    try:
        plots = draw_all(out, archive, where, rate, log.steps, summary["power"]["soc_floor"])
        texts = generated_texts(archive, log.files, out / "flight-state.db")
    finally:
        archive.close()
    text = write_report(out / "report.md", scenario, where, rate, summary, log.steps, texts, plots)
    print("\n" + text.split("\n## Plots")[0])
    print(f"report: {out / 'report.md'} (summary.json, {', '.join(p.name for p in plots)}; logs and records beside)")
    return 1 if any(not e["passed"] for e in summary["expectations"]) else 0


def generated_texts(archive: Archive, files: list[dict[str, Any]], state: Path) -> list[tuple[int, str, str]]:
    """Each inference job's prompt (from the payload's job record) and what it generated: the whole
    text where its output.txt came down verified, else the text its result packet carried."""
    db = sqlite3.connect(f"{state.resolve().as_uri()}?mode=ro", uri=True)
    try:
        prompts = {job: str(json.loads(settings).get("prompt", "")) for job, settings in
                   db.execute("SELECT id, settings FROM jobs WHERE kind = 'INFER'")}
    finally:
        db.close()
    texts = {}
    for report in archive.reports(130, 4):
        if isinstance(report.body, dict) and "job" in report.body:
            texts[int(report.body["job"])] = str(report.body.get("text", ""))
    for entry in files:
        job = entry["remote"].removeprefix("jobs/job-").partition("/")[0]
        if entry["verified"] and entry["remote"].endswith("/output.txt") and job.isdigit():
            texts[int(job)] = Path(entry["local"]).read_text(errors="replace")
    return [(job, prompts.get(job, ""), text) for job, text in sorted(texts.items())]


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _print_plan(scenario: Scenario, where: Geometry, steps: list[PlannedStep], rate: float) -> None:
    m = scenario.mission
    print(f"{m.name}: {m.orbits:g} orbits of the {m.orbit} orbit ({where.duration_s:.0f} s simulated, "
          f"{where.duration_s / rate:.0f} s at {rate:g}×), from {(where.start - where.orbit.epoch) / 3600:.2f} h "
          "after its epoch")
    for name, windows in (("pass", where.passes), ("eclipse", where.eclipses)):
        for i, (opens, closes) in enumerate(windows, start=1):
            print(f"  {name} {i}: {opens:8.0f} s to {closes:8.0f} s")
    for planned in steps:
        step = planned.step
        if planned.repeat_index:
            continue  # a repeated command is shown once, with its count
        what = getattr(step, "name", "") or getattr(step, "remote", "") or type(step).__name__
        tagged = f", runs on board at {planned.release_s:.0f} s" if planned.release_s is not None else ""
        repeated = getattr(step, "repeat", 1)
        times = f", {repeated} times {step.every_s:g} s apart" if repeated > 1 else ""  # type: ignore[union-attr]
        print(f"  {planned.t_s:8.0f} s  {planned.where:<12} {what}  ({step.when}{tagged}{times})")
    for expectation in scenario.expectations:
        print(f"  expect {expectation}")

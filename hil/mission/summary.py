"""``summary.json``: what a mission did, read from the records the running processes left.

Every figure comes from a process's own record, read after the run: commands and telemetry from
the ground's archive and the payload's onboard store (:class:`~hil.verdict.FlightRecord`), jobs
from the supervisor's state database, upsets from the events the payload sent down matched with
the bench's injections, the link from the emulator's counters, power from the bus's trace of every
step, files from the station's transfer records.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flight.dictionary.model import Dictionary
from ground.archive import Archive
from hil.mission.judge import judge
from hil.mission.scenario import Scenario
from hil.verdict import FlightRecord

LOSS_GUARD = "loss guard"  # a detection by the loss guard, not by a checksum: it names no tensor


@dataclass
class Injection:
    """A bit the bench flipped, as the payload reported doing it (SEU_INJECTED)."""

    job: int
    step: int
    target: str


@dataclass
class MissionLog:
    """What the bench did and saw while flying, for the summary, the report and the plots."""

    command_ids: list[int] = field(default_factory=list)  # archive IDs of every command sent
    steps: list[dict[str, Any]] = field(default_factory=list)  # {t_s, where, what, ok, detail}
    files: list[dict[str, Any]] = field(default_factory=list)  # each downlink's final request
    settle_s: float = 0.0
    archive_complete_at: float | None = None  # spacecraft time up to which the bench saw the archive whole
    wall_s: float = 0.0
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    station: dict[str, Any] = field(default_factory=dict)  # the station's counters at the end


def summarize(scenario: Scenario, out: Path, log: MissionLog, dictionary: Dictionary) -> dict[str, Any]:
    archive = Archive(out / "ground-archive.db", dictionary, readonly=True)
    try:
        record = FlightRecord.read(out / "flight-state.db", dictionary.mission.tm_time)
        summary: dict[str, Any] = {
            "mission": scenario.mission.name,
            "commands": _commands(archive, record, log.command_ids),
            "link": _link(out / "link-stats.json", log.station),
            "telemetry": {"packets_generated": len(record.packets),
                          "packets_archived": archive.query("SELECT COUNT(*) FROM packets")[0][0],
                          "packets_missing": len(record.missing_from(archive, log.archive_complete_at))},
            "jobs": _jobs(out / "flight-state.db", archive),
            "seu": _seu(archive),
            "power": _power(out / "bus-trace.jsonl", _parameters(out / "flight-state.db", dictionary)),
            "files": {"sent": len(log.files), "verified": sum(1 for f in log.files if f.get("verified"))},
        }
    finally:
        archive.close()
    summary["wall_s"] = round(log.wall_s, 1)
    summary["expectations"] = [v.as_dict() for v in judge(summary, scenario.expectations)]
    return summary


def _commands(archive: Archive, record: FlightRecord, ids: list[int]) -> dict[str, int]:
    accepted = completed = failed = duplicated = 0
    for command_id in ids:
        stages = archive.stages(command_id)
        accepted += any(s.stage == "acceptance" and s.ok for s in stages)
        if any(not s.ok for s in stages):
            failed += 1
        elif any(s.stage == "completion" for s in stages):
            completed += 1
        command = archive.command_by_id(command_id)
        if command is not None and record.completions.get(command.request_id.to_bytes(4, "big"), 0) > 1:
            duplicated += 1
    return {"sent": len(ids), "accepted": accepted, "completed": completed, "failed": failed,
            "lost": len(ids) - completed - failed, "duplicated": duplicated}


def _link(stats: Path, station: dict[str, Any]) -> dict[str, Any]:
    counters = json.loads(stats.read_text())["counters"] if stats.exists() else {}
    frames = {d: counters.get(f"link.{d}.frames_in", 0) for d in ("up", "down")}
    # Errors are what the radio did to frames on the air: lost or corrupted. A frame sent while no
    # station saw the satellite was never on the air, so it is an outage, not an error.
    on_air = sum(frames[d] - counters.get(f"link.{d}.dropped_link_down", 0) for d in frames)
    errors = sum(counters.get(f"link.{d}.{kind}", 0) for d in frames for kind in ("dropped_loss", "corrupted"))
    return {"frames_up": frames["up"], "frames_down": frames["down"],
            "frame_error_rate": round(errors / on_air, 4) if on_air else 0.0,
            "outages": station.get("station.los", 0)}


def _jobs(state: Path, archive: Archive) -> dict[str, dict[str, Any]]:
    db = sqlite3.connect(f"{state.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT id, kind, state, step, loss, val_loss FROM jobs ORDER BY id").fetchall()
    finally:
        db.close()
    rates = {body["job"]: body["tokens_per_s"] for body in (r.body for r in archive.reports(130, 4))
             if isinstance(body, dict) and "job" in body}
    jobs = {}
    for job, kind, state_name, step, loss, val_loss in rows:
        jobs[str(job)] = {"kind": kind, "state": state_name, "steps": step,
                          "final_loss": val_loss if val_loss is not None else loss,
                          "tokens_per_s": rates.get(job, _last_rate(archive, job))}
    return jobs


def _last_rate(archive: Archive, job: int) -> float | None:
    """A training job's last tokens/s as its housekeeping reported it (job.id in the same packet)."""
    rows = archive.query("SELECT r.value FROM hk r JOIN hk j ON j.packet_id = r.packet_id AND j.channel = 'job.id' "
                         "WHERE r.channel = 'job.tokens_per_s' AND j.value = ? AND r.value > 0 "
                         "ORDER BY r.time DESC LIMIT 1", (job,))
    return round(float(rows[0][0]), 1) if rows else None


def _seu(archive: Archive) -> dict[str, int]:
    injected = [Injection(int(a["job"]), int(a["step"]), str(a["target"]))
                for a in _event_args(archive, "SEU_INJECTED")]
    detections = list(_event_args(archive, "SEU_DETECTED"))
    missed = sum(1 for flip in injected if not any(_finds(d, flip) for d in detections))
    actions = [str(d.get("action", "")) for d in detections]
    return {"injected": len(injected), "detected": len(injected) - missed,
            "repaired": sum(a.startswith("repaired") for a in actions),
            "rolled_back": sum(a.startswith("rolled back") for a in actions), "missed": missed}


def _finds(detection: dict[str, Any], flip: Injection) -> bool:
    """Whether a detection is of this flip: the same job, at or after its step, in its tensor (or the
    loss guard's, which catches an upset before a checksum does and names no tensor)."""
    target = str(detection.get("target", ""))
    return (int(detection.get("job", -1)) == flip.job and int(detection.get("step", -1)) >= flip.step
            and (target == flip.target or target.startswith(LOSS_GUARD)))


def _event_args(archive: Archive, name: str) -> Iterable[dict[str, Any]]:
    for (arguments,) in archive.query("SELECT arguments FROM events WHERE name = ? ORDER BY time", (name,)):
        yield json.loads(arguments)


def _parameters(state: Path, dictionary: Dictionary) -> dict[str, float]:
    """The governor's floor and temperature limit: the dictionary's defaults, or what was set on board."""
    names = ("power.soc_floor", "power.temp_limit_c")
    values = {name: float(p.default) for name in names if (p := dictionary.parameter(name)) is not None}
    db = sqlite3.connect(f"{state.resolve().as_uri()}?mode=ro", uri=True)
    try:
        for name, value in db.execute("SELECT name, value FROM parameters"):
            if name in values:
                values[name] = float(json.loads(value))
    finally:
        db.close()
    return values


def bus_trace(path: Path) -> list[dict[str, Any]]:
    """The bus's steps as it wrote them (a line cut short by the stop is left out)."""
    steps = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                steps.append(json.loads(line))
            except ValueError:
                continue
    return steps


def _power(trace: Path, limits: dict[str, float]) -> dict[str, Any]:
    steps = bus_trace(trace)
    floor, limit = limits["power.soc_floor"], limits["power.temp_limit_c"]
    return {"min_soc": round(min((s["soc"] for s in steps), default=0.0), 4),
            "floor_violations": sum(1 for s in steps if s["soc"] < floor),
            "max_temp_c": round(max((s["gpu_c"] for s in steps), default=0.0), 2),
            "limit_violations": sum(1 for s in steps if s["gpu_c"] > limit),
            "soc_floor": floor, "temp_limit_c": limit, "bus_steps": len(steps)}

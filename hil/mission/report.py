"""``report.md``: a readable account of a flown mission, from its summary, its log and its plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hil.mission.plan import Geometry
from hil.mission.scenario import Scenario

HOUR = 3600.0


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def write_report(path: Path, scenario: Scenario, geometry: Geometry, rate: float, summary: dict[str, Any],
                 steps: list[dict[str, Any]], texts: list[tuple[int, str, str]], plots: list[Path]) -> str:
    """The report's text, also written to ``path``."""
    m = scenario.mission
    failed = [e for e in summary["expectations"] if not e["passed"]]
    parts = [
        f"# Mission `{m.name}`: {'every expectation held' if not failed else f'{len(failed)} expectation(s) failed'}\n",
        f"{m.description}\n" if m.description else "",
        f"{m.orbits:g} orbits of the `{m.orbit}` orbit ({geometry.duration_s:.0f} s simulated) at {rate:g}× real "
        f"time, flown in {summary['wall_s']:.0f} s of wall time. Link: `{scenario.link.preset}` faults"
        + (f" ({', '.join(scenario.link.faults)})" if scenario.link.faults else "")
        + (f", passes over {', '.join(scenario.link.stations)}" if scenario.link.stations else ", always up")
        + f". {len(geometry.passes)} passes and {len(geometry.eclipses)} eclipses. Every figure here comes from "
        "the running processes' own records: the ground's archive, the payload's store and state, the link "
        "emulator's counters and capture, the bus's trace.\n",
        "## Expectations\n",
        _table(("", "expectation", "actual"), [("PASS" if e["passed"] else "**FAIL**", _expected(e), e["actual"])
                                               for e in summary["expectations"]]),
        "## Timeline\n",
        _table(("T+ (s)", "step", "outcome"), [(f"{s['t_s']:.0f}", s["what"], ("" if s["ok"] else "**failed** ")
                                                + s["detail"]) for s in steps]),
    ]
    c, link, tm = summary["commands"], summary["link"], summary["telemetry"]
    parts += [
        "## Commands, link and telemetry\n",
        _table(("", "count"), [("commands sent", c["sent"]), ("accepted", c["accepted"]), ("completed", c["completed"]),
                               ("failed", c["failed"]), ("lost (no verdict)", c["lost"]),
                               ("run more than once", c["duplicated"]), ("frames up", link["frames_up"]),
                               ("frames down", link["frames_down"]),
                               ("frame error rate (lost or corrupted on the air)", link["frame_error_rate"]),
                               ("losses of signal seen by the station", link["outages"]),
                               ("packets made on board", tm["packets_generated"]),
                               ("packets archived", tm["packets_archived"]),
                               ("packets missing from the archive", tm["packets_missing"])]),
        "## Jobs\n",
        _table(("job", "kind", "state", "steps", "final loss", "tokens/s"),
               [(n, j["kind"], j["state"], j["steps"], j["final_loss"], j["tokens_per_s"])
                for n, j in summary["jobs"].items()]),
    ]
    for job, prompt, text in texts:
        parts.append(f"Job {job}, asked to go on from *{prompt.strip()}*, said from orbit:\n\n> {text.strip()}\n")
    seu, power, files = summary["seu"], summary["power"], summary["files"]
    parts += [
        "## Upsets and power\n",
        _table(("", "value"), [("bits flipped by the bench", seu["injected"]), ("detected", seu["detected"]),
                               ("repaired in place", seu["repaired"]), ("rolled back", seu["rolled_back"]),
                               ("missed", seu["missed"]), ("lowest state of charge", power["min_soc"]),
                               (f"bus steps under the floor ({power['soc_floor']:.0%})", power["floor_violations"]),
                               ("hottest GPU (°C)", power["max_temp_c"]),
                               (f"bus steps over {power['temp_limit_c']:g} °C", power["limit_violations"])]),
        f"## Files\n\n{files['sent']} downlinked by CFDP, {files['verified']} with their checksum verified.\n",
        "## Plots\n",
        "".join(f"![{p.stem}]({p.name})\n\n" for p in plots),
    ]
    text = "\n".join(p for p in parts if p)
    path.write_text(text)
    return text


def _expected(entry: dict[str, Any]) -> str:
    words = {"equals": "=", "at_most": "≤", "at_least": "≥"}
    for operator, word in words.items():
        if operator in entry:
            return f"{entry['field']} {word} {entry[operator]}"
    return str(entry["field"])

"""The report and its plots, drawn from small records: a mission whose archive holds nothing yet still
gets every plot, and the report says what held and what did not."""

from __future__ import annotations

import json
from pathlib import Path

from flight.dictionary import load_dictionary
from ground.archive import Archive
from hil.bus.orbit import Orbit
from hil.mission.plan import Geometry
from hil.mission.plots import draw_all
from hil.mission.report import write_report
from hil.mission.scenario import parse_scenario

DICTIONARY = load_dictionary()
PNG = b"\x89PNG\r\n\x1a\n"
SUMMARY = {
    "commands": {"sent": 3, "accepted": 3, "completed": 2, "failed": 0, "lost": 1, "duplicated": 0},
    "link": {"frames_up": 10, "frames_down": 99, "frame_error_rate": 0.1, "outages": 2},
    "telemetry": {"packets_generated": 50, "packets_archived": 50, "packets_missing": 0},
    "jobs": {"1": {"kind": "TRAIN", "state": "COMPLETED", "steps": 100, "final_loss": 2.5, "tokens_per_s": 9000.0}},
    "seu": {"injected": 1, "detected": 1, "repaired": 0, "rolled_back": 1, "missed": 0},
    "power": {"min_soc": 0.5, "floor_violations": 0, "max_temp_c": 50.0, "limit_violations": 0, "soc_floor": 0.3,
              "temp_limit_c": 85.0, "bus_steps": 3},
    "files": {"sent": 1, "verified": 1},
    "wall_s": 12.5,
    "expectations": [{"field": "commands.lost", "equals": 0, "actual": 1, "passed": False},
                     {"field": "seu.missed", "equals": 0, "actual": 0, "passed": True}],
}


def test_every_plot_and_the_report(tmp_path: Path) -> None:
    Archive(tmp_path / "ground-archive.db", DICTIONARY).close()  # an archive that holds nothing
    trace = [{"t": 1000.0 + 10 * i, "sunlit": float(i < 5), "soc": 0.9 - 0.01 * i, "array_w": 0.0,
              "payload_w": 300.0, "gpu_c": 40.0, "shed": False} for i in range(10)]
    (tmp_path / "bus-trace.jsonl").write_text("".join(json.dumps(s) + "\n" for s in trace))
    (tmp_path / "capture.jsonl").write_text('{"t": 0.5, "dir": "up", "hex": "00", "fate": "delivered"}\n'
                                            '{"t": 0.6, "dir": "up", "hex": "00", "fate": "dropped"}\n{"t": 0.7')
    where = Geometry(Orbit.default(), 1000.0, 100.0, ((10.0, 50.0),), ((50.0, 100.0),))
    steps = [{"t_s": 20.0, "what": "PING", "ok": True, "detail": "sent"},
             {"t_s": 30.0, "what": "seu fault", "ok": False, "detail": "refused: job 1 is not running"}]
    archive = Archive(tmp_path / "ground-archive.db", DICTIONARY, readonly=True)
    try:
        plots = draw_all(tmp_path, archive, where, 10.0, steps, 0.3)
    finally:
        archive.close()
    assert [p.name for p in plots] == ["loss.png", "power.png", "link.png", "timeline.png"]
    assert all(p.read_bytes().startswith(PNG) for p in plots)
    scenario = parse_scenario('[mission]\nname = "small"\ndescription = "a test"\n', DICTIONARY)
    text = write_report(tmp_path / "report.md", scenario, where, 10.0, SUMMARY, steps,
                        [(2, "Greetings", " from orbit")], plots)
    assert text == (tmp_path / "report.md").read_text()
    assert text.startswith("# Mission `small`: 1 expectation(s) failed")
    assert "| **FAIL** | commands.lost = 0 | 1 |" in text and "| PASS | seu.missed = 0 | 0 |" in text
    assert "**failed** refused: job 1 is not running" in text
    assert "asked to go on from *Greetings*, said from orbit:\n\n> from orbit" in text
    assert "![power](power.png)" in text

"""The summary's figures from records: link counters, the bus's trace, detections matched to flips."""

from __future__ import annotations

import json
from pathlib import Path

from hil.mission.summary import Injection, _finds, _link, _power, bus_trace


def test_the_frame_error_rate_counts_only_frames_on_the_air(tmp_path: Path) -> None:
    stats = tmp_path / "link-stats.json"
    stats.write_text(json.dumps({"counters": {
        "link.up.frames_in": 100, "link.up.dropped_link_down": 50, "link.up.dropped_loss": 5, "link.up.corrupted": 5,
        "link.down.frames_in": 1000, "link.down.dropped_link_down": 0, "link.down.dropped_loss": 40}}))
    link = _link(stats, {"station.los": 3})
    assert link == {"frames_up": 100, "frames_down": 1000, "frame_error_rate": round(50 / 1050, 4), "outages": 3}
    assert _link(tmp_path / "none.json", {})["frame_error_rate"] == 0.0  # no stats: nothing on the air


def test_power_from_every_step_of_the_trace(tmp_path: Path) -> None:
    trace = tmp_path / "bus-trace.jsonl"
    steps = [{"t": 10.0 * i, "sunlit": 1.0, "soc": soc, "array_w": 0.0, "payload_w": 0.0, "gpu_c": c, "shed": False}
             for i, (soc, c) in enumerate([(0.8, 40.0), (0.29, 86.0), (0.31, 90.0), (0.5, 20.0)])]
    trace.write_text("".join(json.dumps(s) + "\n" for s in steps) + '{"t": 40.0, "so')  # the last line cut short
    assert len(bus_trace(trace)) == 4
    power = _power(trace, {"power.soc_floor": 0.3, "power.temp_limit_c": 85.0})
    assert power["min_soc"] == 0.29 and power["floor_violations"] == 1
    assert power["max_temp_c"] == 90.0 and power["limit_violations"] == 2 and power["bus_steps"] == 4


def test_a_detection_finds_a_flip_in_its_tensor_at_or_after_its_step() -> None:
    flip = Injection(job=2, step=100, target="param.blocks.0.attn.weight")
    assert _finds({"job": 2, "step": 101, "target": "param.blocks.0.attn.weight"}, flip)
    assert _finds({"job": 2, "step": 100, "target": "loss guard: loss 1e9 is not finite"}, flip)
    assert not _finds({"job": 2, "step": 99, "target": "param.blocks.0.attn.weight"}, flip)  # before the flip
    assert not _finds({"job": 3, "step": 101, "target": "param.blocks.0.attn.weight"}, flip)  # another job
    assert not _finds({"job": 2, "step": 101, "target": "optim.exp_avg.blocks.0.attn.weight"}, flip)

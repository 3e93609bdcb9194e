"""``make run`` as it is today: the demo must fly, report honestly and exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_flies_commands_exactly_once_and_rejects_the_forgery(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    # The uplink loses, corrupts and duplicates nothing here, so every forged frame reaches SDLS once.
    done = subprocess.run([sys.executable, "-m", "hil.cli", "demo", "--commands", "12", "--interval", "0.05",
                           "--fault", "up-loss=0", "--fault", "up-ber=0", "--fault", "up-duplicate=0", "--out", str(out)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["exactly_once_in_order"] is True
    assert summary["commands_arrived"] == summary["commands_sent"] == 12
    assert summary["forged_frames_rejected"] == summary["forged_frames_sent"] == 3
    assert summary["forged_frames_executed"] == 0
    assert "arrived on board" in done.stdout and "acknowledged by the CLCW" in done.stdout
    assert (out / "capture.jsonl").stat().st_size > 0
    # The capture decodes, layer by layer, with the demo's key.
    decoded = subprocess.run([sys.executable, "-m", "ground.cli", "decode", "--capture", str(out / "capture.jsonl"),
                              "--keys", str(out / "demo-keys.json")], capture_output=True, text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    records = [json.loads(line) for line in decoded.stdout.splitlines()]
    commands = [p["pus"]["command"] for r in records if r["dir"] == "up" and r["fate"] != "dropped"
                for p in r.get("packets", [])]
    assert "PING" in commands
    assert sum(1 for r in records if r.get("error", "").startswith("sdls.bad_mac")) == 3

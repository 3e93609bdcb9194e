"""``hil stack``: the mission file it writes, the keeper that restarts the supervisor, and the command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flight.mission_config import MissionFile, load_mission
from flight.supervisor.clock import ScaledClock
from flight.supervisor.state_db import StateDb
from ground.station_config import control_endpoint, ground_settings
from hil.cli import main as hil_main
from hil.stack import Stack, StackOptions, mission_text

BASE = 23000


def _load(tmp_path: Path, options: StackOptions) -> MissionFile:
    path = tmp_path / "zenith.toml"
    path.write_text(mission_text(BASE, options))
    return load_mission(path)


# --- the mission file ----------------------------------------------------------------------------


def test_the_default_mission_runs_in_real_time_on_the_chosen_ports(tmp_path: Path) -> None:
    mission = _load(tmp_path, StackOptions(out=tmp_path))
    assert mission.ports.base == BASE
    flight = mission.flight()
    assert flight.clock.source == "real"
    assert (flight.state, flight.heartbeats) == ("flight-state.db", f"bind:tcp://127.0.0.1:{BASE + 4}")
    assert mission.link.keys_file == str(tmp_path / "keys.json")
    ground = ground_settings(mission)
    assert (ground.archive, ground.token_file) == ("ground-archive.db", "ground.token")
    assert control_endpoint(mission, ground) == f"tcp://127.0.0.1:{BASE + 5}"


def test_a_rate_gives_a_scaled_clock_the_supervisor_anchors_at_its_first_start(tmp_path: Path) -> None:
    mission = _load(tmp_path, StackOptions(out=tmp_path, clock_rate=60.0))
    settings = mission.flight().clock
    assert (settings.source, settings.rate, settings.anchor) == ("scaled", 60.0, 0.0)
    before = time.time()
    clock = settings.build(StateDb(tmp_path / "state.db"))
    assert isinstance(clock, ScaledClock) and before <= clock.anchor <= time.time()


def test_extra_toml_lands_in_its_table(tmp_path: Path) -> None:
    options = StackOptions(
        out=tmp_path, clock_rate=10.0,
        link_toml="[link.fop]\nt1 = 0.3\nwindow = 5\n",
        flight_toml='watchdog = 4.0\n[[flight.responses]]\nchannel = "health.loop_lag_ms"\nlevel = "critical"\n'
                    'action = "SAFE_MODE"\n',
        ground_toml="los_after = 1.5\ngap_retry = 8.0\n")
    mission = _load(tmp_path, options)
    assert (mission.link.fop.t1, mission.link.fop.window) == (0.3, 5)
    flight = mission.flight()
    assert flight.watchdog == 4.0
    assert [r.channel for r in flight.responses] == ["health.loop_lag_ms"]
    assert (flight.clock.source, flight.clock.rate) == ("scaled", 10.0)
    assert (ground_settings(mission).los_after, ground_settings(mission).gap_retry) == (1.5, 8.0)


# --- the keeper ----------------------------------------------------------------------------------


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_supervisor_is_restarted_and_the_station_keeps_commanding(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path)) as stack, stack.client() as gs:
        assert gs.send("PING", timeout=20).completed
        for kills in (1, 2):
            first = stack.group.child("flight")
            stack.kill_flight()
            _wait(lambda kills=kills, first=first: stack.restarts == kills and stack.group.child("flight") is not first)
            _wait(lambda kills=kills: sum("supervisor up" in line for who, line in list(stack.lines)
                                          if who == "flight") == kills + 1)
            assert gs.send("PING", timeout=30).completed
        codes = stack.stop()
    assert stack.restarts == 2
    assert set(codes) == {"link", "flight", "ground"}
    assert all(code is not None for code in codes.values())
    assert "boot 3" in (tmp_path / "flight.log").read_text()  # one log, three lives


# --- the command ---------------------------------------------------------------------------------


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def test_hil_stack_runs_for_its_duration_and_stops_every_child(tmp_path: Path) -> None:
    out = tmp_path / "stack"
    done = subprocess.run([sys.executable, "-m", "hil.cli", "stack", "--duration", "3", "--out", str(out)],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert "hil stack: up" in done.stdout
    assert "hil stack: stopped (0 supervisor restarts)" in done.stdout
    assert _processes_mentioning(str(out)) == []
    for child in ("link", "flight", "ground"):
        last = (out / f"{child}.log").read_text().splitlines()[-1]
        assert last.startswith('{"counters"'), f"{child} did not stop cleanly: {last}"
    assert load_mission(out / "zenith.toml").ports.base > 0


@pytest.mark.parametrize(("argv", "named"), [
    (["--fault", "nonsense=1"], "--nonsense"),
    (["--fault", "loss=lots"], "loss"),
    (["--fault", "loss"], "OPTION=VALUE"),
])
def test_a_bad_fault_override_stops_hil_stack_before_anything_starts(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str], named: str) -> None:
    out = tmp_path / "stack"
    assert hil_main(["stack", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hil stack: error: fault override") and named in err
    assert not out.exists()

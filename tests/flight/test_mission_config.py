"""The mission file: defaults, paths relative to the file, every key and type checked, the clock it builds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flight.link.config import LinkConfig
from flight.link.errors import ConfigError
from flight.link.transport import BenchPorts, Endpoint
from flight.mission_config import ClockSettings, FlightSettings, MissionFile, load_mission
from flight.supervisor.clock import RealClock, ScaledClock
from flight.supervisor.health.limits import LimitResponse


def mission(tmp_path: Path, text: str) -> MissionFile:
    path = tmp_path / "mission.toml"
    path.write_text(text)
    return load_mission(path)


def test_without_a_file_every_default_applies() -> None:
    m = load_mission(None)
    assert m.path is None and m.doc == {}
    assert m.link == LinkConfig() and m.ports == BenchPorts(5550, "127.0.0.1")
    assert m.flight() == FlightSettings()
    settings = m.flight()
    assert (settings.state, settings.watchdog, settings.responses) == ("flight-state.db", 10.0, ())
    assert isinstance(settings.clock.build(), RealClock)
    assert m.resolve("state/f.db") == Path("state/f.db")


def test_a_full_file_is_read(tmp_path: Path) -> None:
    m = mission(tmp_path, """
base_port = 6000
host = "10.0.0.2"
[link]
spacecraft_id = 7
[flight]
state = "state/flight.db"
uplink = "bind:tcp://*:7001"
watchdog = 3
[flight.clock]
source = "scaled"
rate = 60.0
start = 1800000000.0
anchor = 1700000000
[[flight.responses]]
channel = "health.loop_lag_ms"
level = "warning"
action = "HK_REPORT_NOW"
arguments = { report = 1 }
""")
    settings = m.flight()
    assert m.link.spacecraft_id == 7 and m.ports == BenchPorts(6000, "10.0.0.2")
    assert settings.watchdog == 3.0
    assert settings.clock == ClockSettings("scaled", 60.0, 1.8e9, 1.7e9)
    assert settings.responses == (LimitResponse("health.loop_lag_ms", "warning", "HK_REPORT_NOW", {"report": 1}),)
    assert m.endpoint(settings.uplink, m.ports.flight_uplink()) == Endpoint("tcp://*:7001", True)
    assert m.endpoint(settings.downlink, m.ports.flight_downlink()) == Endpoint("tcp://10.0.0.2:6002", False)


def test_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "mission.toml"
    path.write_text('[link]\nkeys_file = "keys/zenith.json"\n[flight]\nstate = "state/flight.db"\n')
    m = load_mission(path)
    assert m.resolve(m.flight().state) == tmp_path / "sub" / "state" / "flight.db"
    assert Path(m.link.keys_file) == tmp_path / "sub" / "keys" / "zenith.json"
    assert m.resolve(str(tmp_path / "elsewhere.db")) == tmp_path / "elsewhere.db"  # absolute: as it is


@pytest.mark.parametrize(("text", "named"), [
    ("bogus = 1\n", "bogus: unknown key"),
    ("base_port = 'x'\n", "base_port"),
    ("base_port = true\n", "base_port"),
    ("base_port = 65530\n", "base_port"),
    ("host = 5\n", "host"),
    ("[link]\nwindow = 3\n", "link.window: unknown key"),
    ("[link.fop]\nt1 = 'slow'\n", "link.fop.t1"),
])
def test_unknown_keys_and_bad_types_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        mission(tmp_path, text)


@pytest.mark.parametrize(("text", "named"), [
    ("[flight]\nstat = 'x.db'\n", "flight.stat: unknown key"),
    ("[flight]\nwatchdog = 'soon'\n", "flight.watchdog"),
    ("[flight]\nwatchdog = 0\n", "flight.watchdog"),
    ("[flight.clock]\nsource = 'gps'\n", "flight.clock.source"),
    ("[flight.clock]\nrate = 0\n", "flight.clock.rate"),
    ("[flight.clock]\nrates = 2\n", "flight.clock.rates: unknown key"),
    ("[[flight.responses]]\nchannel = 'cmd.rejected'\nlevel = 'bad'\n", "level"),
    ("[[flight.responses]]\nlevel = 'warning'\n", "flight.responses[0].channel: missing"),
    ("[flight]\nresponses = 'SAFE_MODE'\n", "flight.responses"),
])
def test_bad_flight_settings_name_the_key(tmp_path: Path, text: str, named: str) -> None:
    m = mission(tmp_path, text)  # the [flight] table is checked when the supervisor reads it
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("[", r"\[").replace("]", r"\]")):
        m.flight()


def test_an_unreadable_or_invalid_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read mission config"):
        load_mission(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        mission(tmp_path, "[flight\n")


def test_a_scaled_clock_counts_from_its_anchor() -> None:
    clock = ClockSettings("scaled", rate=60.0, start=1.8e9, anchor=1000.0).build()
    assert isinstance(clock, ScaledClock)
    assert (clock.start, clock.anchor, clock.rate) == (1.8e9, 1000.0, 60.0)


def test_a_scaled_clock_without_anchor_starts_now_at_the_wall_time() -> None:
    before = time.time()
    clock = ClockSettings("scaled", rate=10.0).build()
    after = time.time()
    assert isinstance(clock, ScaledClock)
    assert before <= clock.anchor <= after and clock.start == clock.anchor
    now_before = time.time()
    mission_time = clock.now()
    now_after = time.time()
    assert clock.start + 10.0 * (now_before - clock.anchor) <= mission_time
    assert mission_time <= clock.start + 10.0 * (now_after - clock.anchor)


def test_a_real_clock_is_built_by_default() -> None:
    assert isinstance(ClockSettings().build(), RealClock)


def test_a_scaled_clock_without_anchor_keeps_its_first_start_across_restarts(tmp_path) -> None:
    from flight.supervisor.state_db import StateDb

    db = StateDb(tmp_path / "state.db")
    first = ClockSettings("scaled", rate=60.0).build(db)
    again = ClockSettings("scaled", rate=60.0).build(StateDb(tmp_path / "state.db"))
    assert isinstance(first, ScaledClock) and isinstance(again, ScaledClock)
    assert (again.anchor, again.start) == (first.anchor, first.start)  # mission time carries on
    before = first.now()
    other_rate = ClockSettings("scaled", rate=10.0).build(db)  # a new rate goes on from mission time now
    assert isinstance(other_rate, ScaledClock) and other_rate.rate == 10.0
    assert other_rate.anchor > first.anchor and other_rate.start >= before  # never back in time
    assert db.get("clock.scaled")["rate"] == 10.0


def test_a_changed_rate_never_takes_mission_time_back(tmp_path) -> None:
    from flight.supervisor.state_db import StateDb

    db = StateDb(tmp_path / "state.db")
    # An hour ago at rate 60: the spacecraft is 59 hours ahead of the wall clock.
    db.put("clock.scaled", {"anchor": time.time() - 3600, "start": time.time() - 3600, "rate": 60.0,
                            "configured_start": 0.0})
    ahead = ClockSettings("scaled", rate=60.0).build(db).now()
    slower = ClockSettings("scaled", rate=10.0).build(db)
    assert slower.now() >= ahead > time.time() + 58 * 3600

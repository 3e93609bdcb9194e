"""The ``[ground]`` table: defaults, checked values, and the endpoints it leads to."""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.link.errors import ConfigError
from flight.link.transport import Endpoint
from flight.mission_config import MissionFile, load_mission
from ground.station_config import GroundSettings, control_endpoint, ground_settings, link_endpoints


def mission_with(tmp_path: Path, ground: str, base_port: int = 6000) -> MissionFile:
    path = tmp_path / "zenith.toml"
    path.write_text(f"base_port = {base_port}\n\n[ground]\n{ground}\n")
    return load_mission(path)


def test_without_a_ground_table_every_setting_is_its_default() -> None:
    mission = load_mission(None)
    settings = ground_settings(mission)
    assert settings == GroundSettings()
    assert (settings.archive, settings.token_file, settings.los_after, settings.gap_fill) == \
        ("ground-archive.db", "ground.token", 3.0, True)


def test_the_table_sets_each_field(tmp_path: Path) -> None:
    mission = mission_with(tmp_path, 'archive = "state/g.db"\ntoken_file = "state/t"\nlos_after = 1.5\n'
                                     'gap_fill = false\ngap_settle = 0\ngap_retry = 8\ngap_requests = 2\n'
                                     'gap_check = 0.25')
    settings = ground_settings(mission)
    assert settings == GroundSettings(archive="state/g.db", token_file="state/t", los_after=1.5, gap_fill=False,
                                      gap_settle=0.0, gap_retry=8.0, gap_requests=2, gap_check=0.25)
    # Paths are relative to the mission file.
    assert mission.resolve(settings.archive) == tmp_path / "state" / "g.db"


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ground\.los_afer: unknown key"):
        ground_settings(mission_with(tmp_path, "los_afer = 2.0"))


def test_a_wrong_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ground\.los_after"):
        ground_settings(mission_with(tmp_path, 'los_after = "soon"'))


@pytest.mark.parametrize(("line", "name"), [
    ("los_after = 0", "los_after"),
    ("los_after = -1.0", "los_after"),
    ("los_after = nan", "los_after"),
    ("gap_settle = -0.5", "gap_settle"),
    ("gap_retry = 0", "gap_retry"),
    ("gap_requests = 0", "gap_requests"),
    ("gap_check = 0", "gap_check"),
])
def test_a_value_out_of_range_is_named(tmp_path: Path, line: str, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"{name} out of range"):
        ground_settings(mission_with(tmp_path, line))


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        GroundSettings(los_after=0, gap_check=-1)
    assert "los_after" in str(caught.value) and "gap_check" in str(caught.value)


def test_the_endpoints_default_to_the_bench_ports_around_base_port(tmp_path: Path) -> None:
    mission = mission_with(tmp_path, "", base_port=7000)
    settings = ground_settings(mission)
    assert control_endpoint(mission, settings) == "tcp://127.0.0.1:7005"
    uplink, downlink = link_endpoints(mission, settings)
    assert uplink == Endpoint("tcp://127.0.0.1:7000", False)
    assert downlink == Endpoint("tcp://127.0.0.1:7003", False)


def test_the_endpoints_can_be_set(tmp_path: Path) -> None:
    mission = mission_with(tmp_path, 'control = "tcp://127.0.0.1:9999"\nuplink = "bind:tcp://127.0.0.1:9000"\n'
                                     'downlink = "connect:ipc:///tmp/zenith-down"')
    settings = ground_settings(mission)
    assert control_endpoint(mission, settings) == "tcp://127.0.0.1:9999"
    assert link_endpoints(mission, settings) == (Endpoint("tcp://127.0.0.1:9000", True),
                                                  Endpoint("ipc:///tmp/zenith-down", False))


def test_a_bad_link_endpoint_is_a_config_error(tmp_path: Path) -> None:
    mission = mission_with(tmp_path, 'uplink = "somewhere"')
    with pytest.raises(ConfigError, match="somewhere"):
        link_endpoints(mission, ground_settings(mission))

"""The ``[files]`` table: defaults, checks, and a mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest
from spacepackets.cfdp import ChecksumType

from flight.files.settings import FilesSettings, files_settings
from flight.link.errors import ConfigError
from flight.mission_config import load_mission


def test_defaults_and_a_table(tmp_path: Path) -> None:
    assert files_settings(load_mission(None)) == FilesSettings()
    path = tmp_path / "zenith.toml"
    path.write_text('[files]\nroot = "store"\nchecksum = "modular"\nnak_timer = 1\n')
    settings = files_settings(load_mission(path))
    assert (settings.root, settings.checksum_type, settings.nak_timer) == ("store", ChecksumType.MODULAR, 1.0)
    assert load_mission(path).resolve(settings.root) == tmp_path / "store"


@pytest.mark.parametrize("table", ['checksum = "md5"', "ground_entity = 1", "ack_limit = 0", "inactivity = -1",
                                   'nope = 1', 'ack_timer = "3"'])
def test_mistakes_are_named(tmp_path: Path, table: str) -> None:
    path = tmp_path / "zenith.toml"
    path.write_text(f"[files]\n{table}\n")
    with pytest.raises(ConfigError) as error:
        files_settings(load_mission(path))
    assert "files" in str(error.value)

"""``ground files``: the subcommands parse, and a station that is not there is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ground.cli import build_parser, main


def test_the_subcommands_parse() -> None:
    parser = build_parser()
    get = parser.parse_args(["files", "get", "checkpoints/a.bin", "a.bin", "--class", "1"])
    assert (get.action, get.remote, get.local, get.cfdp_class) == ("get", "checkpoints/a.bin", Path("a.bin"), 1)
    put = parser.parse_args(["files", "put", "cfg.toml", "cfg.toml"])
    assert (put.action, put.local, put.remote, put.cfdp_class) == ("put", Path("cfg.toml"), "cfg.toml", 2)
    assert parser.parse_args(["files", "list", "--json"]).json
    with pytest.raises(SystemExit):
        parser.parse_args(["files", "put", "a", "b", "--class", "3"])


def test_no_station_is_a_clean_failure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mission = tmp_path / "zenith.toml"
    mission.write_text(f'base_port = 29100\n[ground]\ntoken_file = "{tmp_path}/none.token"\n')
    assert main(["files", "list", "--config", str(mission)]) != 0
    assert "token" in capsys.readouterr().err

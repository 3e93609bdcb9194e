"""``flight``: the payload's command line refuses to run insecurely by accident, and explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.cli import main


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("flight run: error: "), err
    return err


def test_run_without_associations_and_without_insecure_exits_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "m.toml"
    config.write_text("[link.sdls]\nassociations = []\n")
    assert "--insecure" in one_line_error(capsys, ["run", "--config", str(config)])


def test_run_with_associations_but_no_key_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "m.toml"
    config.write_text(f'[flight]\nstate = "{tmp_path / "s.db"}"\n')
    assert "keys_file is not set" in one_line_error(capsys, ["run", "--config", str(config)])
    config.write_text('[link]\nkeys_file = "absent.json"\n')
    assert "absent.json" in one_line_error(capsys, ["run", "--config", str(config)])


def test_run_with_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cannot read mission config" in one_line_error(capsys, ["run", "--config", str(tmp_path / "none.toml")])
    bad = tmp_path / "bad.toml"
    bad.write_text('[link.fop]\nwindow = "three"\n')
    assert "link.fop.window: expected int" in one_line_error(capsys, ["run", "--config", str(bad)])
    bad.write_text("[flihgt]\n")
    assert "flihgt: unknown key" in one_line_error(capsys, ["run", "--config", str(bad)])


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out
    if argv[0] == "run":
        assert "--insecure" in out and "--config" in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2

"""``flight``: the payload's command line refuses to run insecurely by accident, and explains itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.cli import build_parser, main


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("flight link: error: "), err
    return err


def test_link_without_associations_and_without_insecure_exits_2(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "link.toml"
    config.write_text("[sdls]\nassociations = []\n")
    err = one_line_error(capsys, ["link", "--config", str(config)])
    assert "no SDLS security association" in err and "--insecure" in err


def test_link_with_associations_but_no_key_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, ["link"])  # the defaults have an association, but no keys_file
    assert "keys_file is not set" in err
    err = one_line_error(capsys, ["link", "--keys", str(tmp_path / "absent.key.json")])
    assert "cannot read key file" in err


def test_link_with_a_bad_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cannot read link config" in one_line_error(capsys, ["link", "--config", str(tmp_path / "none.toml")])
    bad = tmp_path / "bad.toml"
    bad.write_text("[fop]\nwindow = 'five'\n")
    assert "fop.window: expected int" in one_line_error(capsys, ["link", "--config", str(bad)])


@pytest.mark.parametrize("argv", [["--help"], ["link", "--help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: flight" in out
    if argv[0] == "link":
        for option in ("--config", "--keys", "--base-port", "--arrivals", "--insecure"):
            assert option in out


def test_a_command_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_parser_endpoints() -> None:
    args = build_parser().parse_args(["link", "--uplink", "bind:tcp://*:6001", "--downlink", "tcp://127.0.0.1:6002",
                                      "--insecure", "--base-port", "7000"])
    assert str(args.uplink) == "bind:tcp://*:6001"
    assert str(args.downlink) == "connect:tcp://127.0.0.1:6002"
    assert args.insecure and args.base_port == 7000


def test_bad_endpoint_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["link", "--insecure", "--uplink", "garbage"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "garbage" in capsys.readouterr().err

"""``ground export csv`` and ``ground plot`` on an archive holding known housekeeping."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from flight.dictionary import load_dictionary
from flight.dictionary.packing import pack_report
from flight.link.pus import build_tm
from ground.archive import Archive
from ground.cli import main

ZD = load_dictionary()
CORE = ZD.mission.apids["core"]
T0 = 1_796_126_400.0  # 2026-12-01T12:00:00Z
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A mission file whose archive holds ten housekeeping reports, one a minute from T0."""
    path = tmp_path / "zenith.toml"
    path.write_text('[ground]\narchive = "ground.db"\n')
    with Archive(tmp_path / "ground.db", ZD) as archive:
        for n in range(10):
            values = {"clock.rate": 1.0 + n / 10, "health.mode": "SAFE" if n < 5 else "NOMINAL",
                      "health.uptime": math.nan if n == 3 else 60.0 * n}
            raw = build_tm(CORE, 3, 25, pack_report(ZD.report(1), values), ZD.mission.tm_time.encode(T0 + 60 * n), n)
            archive.ingest([(raw, 0)], T0 + 60 * n + 1)
    return path


def test_csv_has_every_value_in_the_range_oldest_first(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "csv", "clock.rate", "health.mode", "--from", "2026-12-01T12:02:00Z",
                 "--to", str(T0 + 240), "--config", str(config)])
    assert code == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["time_utc", "time", "channel", "value"]
    assert rows[1:] == [
        ["2026-12-01T12:02:00.000Z", repr(T0 + 120), "clock.rate", "1.2"],
        ["2026-12-01T12:02:00.000Z", repr(T0 + 120), "health.mode", "SAFE"],
        ["2026-12-01T12:03:00.000Z", repr(T0 + 180), "clock.rate", "1.3"],
        ["2026-12-01T12:03:00.000Z", repr(T0 + 180), "health.mode", "SAFE"],
        ["2026-12-01T12:04:00.000Z", repr(T0 + 240), "clock.rate", "1.4"],
        ["2026-12-01T12:04:00.000Z", repr(T0 + 240), "health.mode", "SAFE"],
    ]


def test_csv_to_a_file_keeps_nan_readable(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "uptime.csv"
    assert main(["export", "csv", "health.uptime", "-o", str(out), "--config", str(config)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 10 and rows[3]["value"] == "nan" and float(rows[9]["value"]) == 540.0
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_plot_draws_numbers_and_labels_with_their_count(config: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plot.png"
    assert main(["plot", "clock.rate", "health.mode", "-o", str(out), "--from=-100d", "--config", str(config)]) == 0
    assert out.read_bytes().startswith(PNG) and "20 values of 2 channel(s)" in capsys.readouterr().err
    empty = tmp_path / "empty.png"
    assert main(["plot", "clock.rate", "-o", str(empty), "--to", "2020-01-01", "--config", str(config)]) == 0
    assert empty.read_bytes().startswith(PNG) and "0 values" in capsys.readouterr().err


def test_export_xtce_writes_the_dictionary_and_names_what_it_left_out(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "zenith.xml"
    assert main(["export", "xtce", "-o", str(out)]) == 0
    assert out.read_text().startswith("<?xml") and "<SpaceSystem" in out.read_text()
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and "left out" in err and "PARAM_SET" in err


@pytest.mark.parametrize(("arguments", "says"), [
    (["export", "csv", "clock.speed"], "no telemetry channel 'clock.speed'"),
    (["export", "csv", "clock.rate", "--from", "yesterday"], "--from 'yesterday': not a time"),
    (["plot", "clock.rate", "-o", "x.png", "--from", "now", "--to=-1h"], "--to is before --from"),
])
def test_bad_requests_are_one_clear_line(config: Path, capsys: pytest.CaptureFixture[str], arguments: list[str],
                                         says: str) -> None:
    assert main([*arguments, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err


def test_no_archive_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "zenith.toml"
    config.write_text('[ground]\narchive = "nothing.db"\n')
    assert main(["export", "csv", "clock.rate", "--config", str(config)]) == 2
    assert "no archive at" in capsys.readouterr().err

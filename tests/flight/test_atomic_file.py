"""State files are replaced whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flight import atomic_file
from flight.atomic_file import read_json, write_json_atomic
from flight.link.errors import StorageError


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(atomic_file.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    write_json_atomic(tmp_path / "s.json", {"v_r": 17, "pad": "x" * 100})
    assert read_json(tmp_path / "s.json") == {"v_r": 17, "pad": "x" * 100}


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    write_json_atomic(path, {"v_r": 17})
    real_write = os.write
    calls = []

    def full_disk(fd: int, data: bytes) -> int:
        calls.append(fd)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data[:5]))

    monkeypatch.setattr(atomic_file.os, "write", full_disk)
    with pytest.raises(StorageError, match="No space left"):
        write_json_atomic(path, {"v_r": 18, "pad": "y" * 100})
    assert read_json(path) == {"v_r": 17}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temporary file left behind


def test_the_mode_is_set_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)  # would turn 0644 into 0600 if the mode were left to open()
    try:
        write_json_atomic(tmp_path / "k.json", {}, mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o644


def test_unreadable_and_damaged_files_are_storage_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot read"):
        read_json(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(StorageError, match="not valid JSON"):
        read_json(tmp_path / "bad.json")

"""The restricted filestore: names from the link reach ``root/area`` and nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.counters import Counters
from flight.files.errors import PathRefused
from flight.files.filestore import RestrictedStore


@pytest.mark.parametrize(("name", "reason"), [
    ("/etc/passwd", "absolute"), ("\\\\server\\share", "absolute"), ("C:/x", "absolute"),
    ("..", "traversal"), ("a/../../b", "traversal"), ("a/./../b", "traversal"), ("a\\..\\b", "traversal"),
    ("", "name"), ("a\x00b", "name"), ("x" * 300, "name"), ("link/inside", "symlink"), ("link", "symlink"),
])
def test_refusals_are_typed_and_counted(tmp_path: Path, name: str, reason: str) -> None:
    counters = Counters("files")
    store = RestrictedStore(tmp_path / "root", "uplink", counters)
    os.symlink(tmp_path, tmp_path / "root" / "uplink" / "link")
    with pytest.raises(PathRefused) as refused:
        store.resolve(name)
    assert refused.value.reason == reason and isinstance(refused.value, PermissionError)
    assert counters["paths_refused"] == 1 and counters[f"refused_{reason}"] == 1


def test_writes_land_in_the_area_and_reads_stay_in_the_root(tmp_path: Path) -> None:
    counters = Counters("files")
    writer = RestrictedStore(tmp_path / "root", "uplink", counters)
    reader = RestrictedStore(tmp_path / "root", "", counters)
    writer.create_file(Path("cfg/a.toml"))
    writer.write_data(Path("cfg/a.toml"), b"data", 0)
    assert (tmp_path / "root" / "uplink" / "cfg" / "a.toml").read_bytes() == b"data"
    assert reader.read_data(Path("uplink/cfg/a.toml"), 0, 4) == b"data"
    assert reader.file_size(Path("uplink/cfg/a.toml")) == 4
    with pytest.raises(PathRefused):
        reader.read_data(Path("../outside"), 0, 1)


@given(st.text(max_size=60))
def test_no_name_resolves_outside_its_base(name: str) -> None:
    root = Path("/nonexistent-zenith-root")
    store = RestrictedStore.__new__(RestrictedStore)  # no directories made: resolve() is pure here
    store.root, store.base, store.counters = root, root / "uplink", Counters("files")
    try:
        path = store.resolve(name)
    except PathRefused:
        return
    assert os.path.normpath(path).startswith(str(root / "uplink") + os.sep)


@pytest.mark.parametrize("name", [".", "./", ".//"])
def test_a_name_of_the_base_itself_is_refused(tmp_path: Path, name: str) -> None:
    store = RestrictedStore(tmp_path / "root", "uplink", Counters("files"))
    with pytest.raises(PathRefused, match="names no file"):
        store.resolve(name)

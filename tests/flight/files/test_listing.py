"""Directory listings: what they show, what they hide, and reading one back from the link."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.counters import Counters
from flight.files.errors import FileTransferError, PathRefused
from flight.files.filestore import RestrictedStore
from flight.files.listing import LISTINGS, parse_listing, write_listing


def test_a_listing_shows_files_and_hides_links_and_listings(tmp_path: Path) -> None:
    store = RestrictedStore(tmp_path / "root", "", Counters("files"))
    (tmp_path / "root" / "checkpoints").mkdir()
    (tmp_path / "root" / "checkpoints" / "a.safetensors").write_bytes(b"12345")
    (tmp_path / "root" / "log.txt").write_bytes(b"x")
    (tmp_path / "secret").write_bytes(b"outside")
    os.symlink(tmp_path / "secret", tmp_path / "root" / "checkpoints" / "link")
    os.symlink(tmp_path, tmp_path / "root" / "dirlink")
    first = write_listing(store, ".")
    second = write_listing(store, "")
    entries = [json.loads(line) for line in (tmp_path / "root" / second).read_text().splitlines()]
    assert [(e["name"], e["size"]) for e in entries] == [("log.txt", 1), ("checkpoints/a.safetensors", 5)]
    assert first.startswith(LISTINGS + "/")
    sub = write_listing(store, "checkpoints")
    assert [json.loads(x)["name"] for x in (tmp_path / "root" / sub).read_text().splitlines()] == \
        ["checkpoints/a.safetensors"]


@pytest.mark.parametrize("directory", ["../", "/etc", "nothing", "log.txt"])
def test_a_listing_of_what_is_out_of_reach_is_refused(tmp_path: Path, directory: str) -> None:
    store = RestrictedStore(tmp_path / "root", "", Counters("files"))
    (tmp_path / "root" / "log.txt").write_bytes(b"x")
    with pytest.raises(FileTransferError) as refused:
        write_listing(store, directory)
    assert isinstance(refused.value, PathRefused) or refused.value.reason == "no_directory"


@given(st.text(max_size=400))
def test_parsing_a_listing_never_raises(text: str) -> None:
    for entry in parse_listing(text):
        assert isinstance(entry["name"], str) and isinstance(entry["size"], int)

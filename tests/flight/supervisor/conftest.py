"""Fixtures: a supervisor on a fresh state file per test, with or without SDLS."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._harness import Harness


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(name: str = "state.db", **kwargs: Any) -> Harness:
        harness = Harness(tmp_path / name, **kwargs)
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.close()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    """An insecure bench link (no SDLS): commands need no key."""
    return make_harness()


@pytest.fixture
def secure(make_harness: Callable[..., Harness]) -> Harness:
    """The flight configuration: every TC frame authenticated with SDLS."""
    return make_harness(secure=True)

"""The Gemma GGUF for the tests: assembled from the installed package when this machine lacks it.

Never skipped: the weights are a dependency, so a machine without them fails these tests loudly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.jobs.gemma.weights import gemma_gguf


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    return gemma_gguf()

"""What the integration tests share: one training at a time on the machine.

`make test` runs two workers on two cores. Two trainings at once (each torch job on both cores) do
not run at half speed but far slower, as their threads fight: a mission's job then cannot finish
within its orbits. Tests that train through the stack take this lock for their whole run, so such
tests run one after another while the rest of the suite goes on beside them.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCK = Path(tempfile.gettempdir()) / "zenith-tests-training.lock"


@pytest.fixture
def one_training_at_a_time() -> Iterator[None]:
    with LOCK.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes, or when the process dies
        yield

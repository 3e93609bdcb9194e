"""PUS 8 function management: only the dictionary's 8,1 functions, each performed counted."""

from __future__ import annotations

import pytest

from flight.supervisor.dispatch import Dispatcher
from flight.supervisor.services.functions import FunctionManagement

from .._harness import DICTIONARY, Harness


def test_the_core_functions_are_performed_and_counted(harness: Harness) -> None:
    harness.ok("NOOP")
    harness.ok("LINK_TEST", {"payload": b"x"})
    assert harness.counter("functions.performed") == 2


@pytest.mark.parametrize("name", ["PING", "PARAM_SET", "NO_SUCH_FUNCTION"])
def test_only_pus_8_1_functions_can_be_added(harness: Harness, name: str) -> None:
    s = harness.supervisor
    functions = FunctionManagement(Dispatcher(s.db, DICTIONARY, s.verifier, s.events, s.modes))
    with pytest.raises(KeyError, match="not a PUS 8,1 function"):
        functions.add(name, lambda ctx: None)


def test_a_function_that_fails_is_not_counted_as_performed(harness: Harness) -> None:
    harness.ok("SAFE_MODE_ENTER", {"reason": "test"})
    harness.supervisor.modes.hold = "test hold"
    assert harness.send("SAFE_MODE_EXIT").failure is not None
    assert harness.counter("functions.performed") == 1

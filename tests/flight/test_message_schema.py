"""The shared message checking: any msgpack value at all, as a message or as its kind, is a typed refusal."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from flight.message_schema import MessageError, checked, pack

PROTOCOL = {"hello": {"step": int, "loss": float, "ok": bool}}
# Any value msgpack can carry: what another process, or a fault, could put on the socket.
VALUES = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8)
                      | st.binary(max_size=8),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                      max_leaves=12)


def test_a_message_of_the_protocol_passes_with_only_its_fields() -> None:
    raw = pack("hello", step=3, loss=1, ok=True, extra="dropped")
    assert checked(raw, PROTOCOL, "test message", 256) == ("hello", {"step": 3, "loss": 1.0, "ok": True})


@pytest.mark.parametrize("kind", [[], {}, [1, 2], {"a": 1}, None, 7, b"hello"])
def test_a_kind_that_is_not_a_string_is_refused(kind: Any) -> None:
    with pytest.raises(MessageError, match="unknown test message"):
        checked(msgpack.packb({"kind": kind, "step": 1, "loss": 1.0, "ok": True}), PROTOCOL, "test message", 256)


@given(kind=VALUES, fields=st.dictionaries(st.sampled_from(["step", "loss", "ok", "other"]), VALUES, max_size=4))
def test_any_map_is_passed_or_refused_with_a_message_error(kind: Any, fields: dict[str, Any]) -> None:
    raw = msgpack.packb({"kind": kind, **fields}, use_bin_type=True)
    try:
        _, got = checked(raw, PROTOCOL, "test message", 4096)
    except MessageError:
        return
    assert kind == "hello" and set(got) == set(PROTOCOL["hello"])


@given(value=VALUES)
def test_any_value_at_all_is_refused_with_a_message_error(value: Any) -> None:
    assume(not (isinstance(value, dict) and value.get("kind") == "hello"))
    with pytest.raises(MessageError):
        checked(msgpack.packb(value, use_bin_type=True), PROTOCOL, "test message", 4096)

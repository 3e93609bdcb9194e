"""The worker <-> supervisor messages: every kind round-trips, types are checked, garbage is only WorkerMessageError.

The supervisor reads what a worker sends as untrusted input (``unpack_from_worker``), so anything that is
not one of FROM_WORKER's kinds with its fields of the right types (a bool is not an int; an int passes
for a float) is refused with WorkerMessageError and nothing else; the worker reads only the commands
of TO_WORKER (``unpack_to_worker``), checked the same way.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.jobs.worker_protocol import (
    FROM_WORKER,
    MAX_MESSAGE,
    TO_WORKER,
    WorkerMessageError,
    pack,
    unpack_from_worker,
    unpack_to_worker,
)
from flight.link.errors import ZenithError

EXAMPLE: dict[type | tuple[type, ...], Any] = {int: 7, float: 0.25, str: "text", bool: True, list: [1, 2, 3]}
WRONG: dict[type | tuple[type, ...], list[Any]] = {
    int: [True, 1.5, "7", None, [7]],
    float: [False, "0.25", None, [0.25]],
    str: [7, b"text", None, ["text"]],
    bool: [1, 0, "true", None],
    list: ["123", 7, {"a": 1}, None],
}


def example(kind: str, protocol: dict[str, dict[str, Any]] = FROM_WORKER) -> dict[str, Any]:
    return {name: EXAMPLE[wanted] for name, wanted in protocol[kind].items()}


@pytest.mark.parametrize("kind", list(FROM_WORKER))
def test_every_worker_message_kind_round_trips(kind: str) -> None:
    assert unpack_from_worker(pack(kind, **example(kind))) == (kind, example(kind))


def test_the_fields_keep_their_values_exactly() -> None:
    raw = pack("progress", step=2**32 - 1, loss=math.inf, tokens_per_s=1e-300, lr=3e-4, memory=2**40)
    assert unpack_from_worker(raw) == ("progress", {"step": 2**32 - 1, "loss": math.inf, "tokens_per_s": 1e-300,
                                                    "lr": 3e-4, "memory": 2**40})
    kind, fields = unpack_from_worker(pack("done", step=5, loss=math.nan, val_loss=1.5, tokens_per_s=0.0,
                                           checkpoint=""))
    assert kind == "done" and math.isnan(fields["loss"])
    text = "ünïcödé ✓ " * 50
    assert unpack_from_worker(pack("sample", step=1, text=text))[1]["text"] == text


def test_fields_the_protocol_does_not_name_are_dropped() -> None:
    """Extra fields never reach telemetry: they could rename the job or swell a packet past its limit."""
    raw = pack("progress", step=1, loss=2.0, tokens_per_s=3.0, lr=4.0, memory=5, job=999, kind2="x" * 1000)
    assert unpack_from_worker(raw) == ("progress", {"step": 1, "loss": 2.0, "tokens_per_s": 3.0, "lr": 4.0,
                                                    "memory": 5})
    assert unpack_from_worker(pack("heartbeat", step=1)) == ("heartbeat", {})


def test_an_integer_is_accepted_for_a_float_and_becomes_one() -> None:
    _, fields = unpack_from_worker(pack("eval", step=3, train_loss=2, val_loss=-1))
    assert fields == {"step": 3, "train_loss": 2.0, "val_loss": -1.0}
    assert all(isinstance(fields[name], float) for name in ("train_loss", "val_loss"))


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind, spec in FROM_WORKER.items() for name in spec])
def test_a_field_of_the_wrong_type_is_refused_naming_it(kind: str, name: str) -> None:
    for wrong in WRONG[FROM_WORKER[kind][name]]:
        with pytest.raises(WorkerMessageError, match=f"{kind}.{name}"):
            unpack_from_worker(pack(kind, **{**example(kind), name: wrong}))


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind, spec in FROM_WORKER.items() for name in spec])
def test_a_missing_field_is_refused_naming_it(kind: str, name: str) -> None:
    fields = example(kind)
    del fields[name]
    with pytest.raises(WorkerMessageError, match=f"{kind}.{name}"):
        unpack_from_worker(pack(kind, **fields))


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_an_integer_nor_a_float(value: bool) -> None:
    for kind, spec in FROM_WORKER.items():
        for name, wanted in spec.items():
            if wanted in (int, float):
                with pytest.raises(WorkerMessageError):
                    unpack_from_worker(pack(kind, **{**example(kind), name: value}))


@pytest.mark.parametrize("kind", ["", "Hello", "pause", "stop", "shutdown", 3, None, True, b"hello"])
def test_an_unknown_kind_is_refused(kind: Any) -> None:
    raw = msgpack.packb({"kind": kind, "step": 1}, use_bin_type=True)
    with pytest.raises(WorkerMessageError, match="unknown message kind"):
        unpack_from_worker(raw)


def test_a_message_without_a_kind_is_refused() -> None:
    with pytest.raises(WorkerMessageError, match="unknown message kind"):
        unpack_from_worker(msgpack.packb({"step": 1}))


def test_a_message_up_to_the_limit_is_read_and_a_longer_one_refused() -> None:
    filler = "x" * (MAX_MESSAGE - len(pack("sample", step=1, text="")) - 3)  # a str of > 65535 has a 5-octet head
    raw = pack("sample", step=1, text=filler)
    while len(raw) < MAX_MESSAGE:
        filler += "x"
        raw = pack("sample", step=1, text=filler)
    assert len(raw) == MAX_MESSAGE
    assert unpack_from_worker(raw)[1]["text"] == filler
    with pytest.raises(WorkerMessageError, match=f"at most {MAX_MESSAGE}"):
        unpack_from_worker(pack("sample", step=1, text=filler + "x"))


@pytest.mark.parametrize("raw", [
    b"",
    b"\xc1",  # never used in msgpack
    b"\x92\x01",  # an array cut short
    msgpack.packb([1, 2, 3]),
    msgpack.packb("hello"),
    msgpack.packb(None),
    msgpack.packb({1: "hello"}),
    msgpack.packb({b"kind": b"hello"}, use_bin_type=True),
    msgpack.packb({"kind": "hello", "device": b"\xff", "step": 1}, use_bin_type=False),  # raw: invalid UTF-8
    msgpack.packb(msgpack.ExtType(5, b"x")),
    msgpack.packb({"kind": "heartbeat"}) + b"\x00",  # extra data after the map
], ids=["empty", "reserved", "truncated", "array", "string", "nil", "int key", "bin key", "bad utf-8", "ext",
        "trailing"])
def test_garbage_is_refused_as_a_worker_message_error(raw: bytes) -> None:
    with pytest.raises(WorkerMessageError):
        unpack_from_worker(raw)


def test_worker_message_errors_are_zenith_errors() -> None:
    assert issubclass(WorkerMessageError, ZenithError)


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=300))
def test_arbitrary_bytes_raise_nothing_but_worker_message_error(raw: bytes) -> None:
    for unpack in (unpack_from_worker, unpack_to_worker):
        with contextlib.suppress(WorkerMessageError):
            unpack(raw)


values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=10)
                      | st.binary(max_size=10),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3),
                      max_leaves=6)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([*FROM_WORKER, *TO_WORKER, "other"]),
       fields=st.dictionaries(st.sampled_from(sorted({n for spec in FROM_WORKER.values() for n in spec} | {"x"})),
                              values, max_size=5))
def test_maps_of_arbitrary_values_are_read_checked_or_refused(kind: str, fields: dict[str, Any]) -> None:
    try:
        got_kind, got = unpack_from_worker(pack(kind, **fields))
    except WorkerMessageError:
        return
    assert got_kind == kind and set(got) == set(FROM_WORKER[kind])
    for name, wanted in FROM_WORKER[kind].items():
        assert isinstance(got[name], wanted) and not (isinstance(got[name], bool) and wanted is not bool)


@pytest.mark.parametrize("command", TO_WORKER)
def test_each_command_to_a_worker_round_trips(command: str) -> None:
    fields = example(command, TO_WORKER)
    assert unpack_to_worker(pack(command, **fields)) == (command, fields)


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind, spec in TO_WORKER.items() for name in spec])
def test_a_command_field_of_the_wrong_type_is_refused_naming_it(kind: str, name: str) -> None:
    for wrong in WRONG[TO_WORKER[kind][name]]:
        with pytest.raises(WorkerMessageError, match=f"{kind}.{name}"):
            unpack_to_worker(pack(kind, **{**example(kind, TO_WORKER), name: wrong}))


def test_an_injection_takes_a_list_of_u32_only() -> None:
    fields = {"target": "param", "bits": "any", "seed": 1}
    assert unpack_to_worker(pack("inject", **fields, at=[2**32 - 1, 31]))[1]["at"] == [2**32 - 1, 31]
    for at in ([-1, 3], [2**32, 1], [1.5, 2], [True, 1]):
        with pytest.raises(WorkerMessageError, match="inject.at"):
            unpack_to_worker(pack("inject", **fields, at=at))


@pytest.mark.parametrize("raw", [pack("hello", device="cpu", step=0), pack("heartbeat"), pack("PAUSE"),
                                 msgpack.packb({"step": 1}), msgpack.packb(["stop"]), b"\xc1", b"x" * (MAX_MESSAGE + 1)])
def test_anything_else_sent_to_a_worker_is_refused(raw: bytes) -> None:
    with pytest.raises(WorkerMessageError):
        unpack_to_worker(raw)

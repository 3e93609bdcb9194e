"""The bench's fault requests: signed, numbered, checked; anything else is a typed FaultRequestError."""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link.errors import ZenithError
from flight.supervisor.fault_request import (
    FAULTS,
    MAX_REQUEST,
    REASONS,
    FaultRequest,
    FaultRequestError,
    open_request,
    seal,
)

KEY = bytes(range(32))
FLIP = {"job": 3, "target": "param", "bits": "exponent", "seed": 9, "at": []}


def rejected(raw: bytes, last_seq: int = 0, key: bytes = KEY) -> str:
    with pytest.raises(FaultRequestError) as caught:
        open_request(key, raw, last_seq)
    assert caught.value.reason in REASONS
    return caught.value.reason


def test_a_signed_request_opens_to_its_kind_sequence_and_fields() -> None:
    assert open_request(KEY, seal(KEY, "flip", 10**18, **FLIP), 0) == FaultRequest("flip", 10**18, FLIP)
    ecc = {"corrected": 2, "uncorrected": 1, "xid": 48}
    assert open_request(KEY, seal(KEY, "ecc", 5, **ecc), 4) == FaultRequest("ecc", 5, ecc)
    assert open_request(KEY, seal(KEY, "checkpoint", 6, job=1, seed=2), 5).fields == {"job": 1, "seed": 2}


def test_errors_are_zenith_errors() -> None:
    assert issubclass(FaultRequestError, ZenithError)


def test_another_key_or_a_changed_octet_is_unauthenticated() -> None:
    raw = seal(KEY, "flip", 1, **FLIP)
    assert rejected(raw, key=secrets.token_bytes(32)) == "unauthenticated"
    body, tag = msgpack.unpackb(raw)
    forged = msgpack.packb([body.replace(b"param", b"optim"), tag], use_bin_type=True)
    assert rejected(forged) == "unauthenticated"
    assert rejected(msgpack.packb([body, bytes(32)], use_bin_type=True)) == "unauthenticated"
    assert rejected(msgpack.packb([body, tag[:16]], use_bin_type=True)) == "unauthenticated"


def test_a_request_heard_before_is_replayed_and_refused() -> None:
    raw = seal(KEY, "flip", 100, **FLIP)
    assert open_request(KEY, raw, 99).seq == 100
    assert rejected(raw, last_seq=100) == "replayed"
    assert rejected(seal(KEY, "flip", 50, **FLIP), last_seq=100) == "replayed"


@pytest.mark.parametrize(("kind", "fields", "message"), [
    ("reboot", {}, "unknown fault kind"),
    ("flip", {**FLIP, "bits": "exponential"}, "bits 'exponential'"),
    ("flip", {**FLIP, "at": [1]}, "at: "),
    ("flip", {**FLIP, "at": [1, -2]}, "flip.at"),
    ("flip", {**FLIP, "job": -1}, "flip.job"),
    ("flip", {**FLIP, "job": "3"}, "flip.job"),
    ("ecc", {"corrected": 1, "uncorrected": 0}, "ecc.xid"),
    ("checkpoint", {"job": True, "seed": 1}, "checkpoint.job"),
])
def test_a_signed_request_that_is_not_well_formed_is_invalid_naming_the_field(kind: str, fields: dict[str, Any],
                                                                              message: str) -> None:
    with pytest.raises(FaultRequestError, match=message) as caught:
        open_request(KEY, seal(KEY, kind, 1, **fields), 0)
    assert caught.value.reason == "invalid"


@pytest.mark.parametrize("raw", [b"", b"\xc1", msgpack.packb({"kind": "flip"}), msgpack.packb([b"x"]),
                                 msgpack.packb(["body", "mac"]), msgpack.packb([b"a", b"b", b"c"]),
                                 b"\x92" + b"\xc4\x01x", b"x" * (MAX_REQUEST + 1)],
                         ids=["empty", "reserved", "map", "one part", "strings", "three parts", "truncated", "long"])
def test_garbage_is_malformed(raw: bytes) -> None:
    assert rejected(raw) == "malformed"


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_raise_nothing_but_a_fault_request_error(raw: bytes) -> None:
    with contextlib.suppress(FaultRequestError):
        open_request(KEY, raw, 0)


values = st.recursive(st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8)
                      | st.binary(max_size=8), lambda inner: st.lists(inner, max_size=3), max_leaves=5)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from([*FAULTS, "other"]), seq=st.integers(-(2**63), 2**64 - 1),
       fields=st.dictionaries(st.sampled_from(sorted({n for spec in FAULTS.values() for n in spec} | {"x"})),
                              values, max_size=6))
def test_signed_maps_of_arbitrary_values_open_checked_or_are_refused(kind: str, seq: int,
                                                                     fields: dict[str, Any]) -> None:
    """Even with the key, what opens has exactly the kind's fields, of their types and ranges."""
    fields.pop("seq", None)
    try:
        request = open_request(KEY, seal(KEY, kind, seq, **fields), 0)
    except FaultRequestError:
        return
    assert set(request.fields) | {"seq"} == set(FAULTS[request.kind]) and request.seq > 0
    for name, value in request.fields.items():
        assert isinstance(value, FAULTS[kind][name]) and not isinstance(value, bool)
        if isinstance(value, int):
            assert 0 <= value < 2**32

"""The link capture: records round-trip, and any bad line is a CaptureError naming line and field."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.link.errors import CaptureError
from hil.link.capture import CaptureRecord, CaptureWriter, parse_record, read_capture
from hil.link.faults import Fate

records = st.builds(
    CaptureRecord,
    t=st.floats(0, 1e9, allow_nan=False),
    direction=st.sampled_from(["up", "down"]),
    frame=st.binary(max_size=64),
    fate=st.sampled_from(list(Fate)),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(records, max_size=20))
def test_round_trip(tmp_path: Path, written: list[CaptureRecord]) -> None:
    path = tmp_path / "capture.jsonl"
    with CaptureWriter(path) as capture:
        for record in written:
            capture.write_record(record)
    assert list(read_capture(path)) == written


def test_line_format_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    with CaptureWriter(path) as capture:
        capture.write(1.5, "down", b"\x1a\xcf", Fate.CORRUPTED)
        # Line-buffered: the line is on disk before the writer is closed.
        assert json.loads(path.read_text()) == {"t": 1.5, "dir": "down", "hex": "1acf", "fate": "corrupted"}
    assert list(json.loads(path.read_text())) == ["t", "dir", "hex", "fate"]
    assert capture.records == 1


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("", "json"),
        ("[1, 2]", "json"),
        ('{"t": 1, "dir": "up", "hex": "00"}', "fate"),
        ('{"t": 1, "dir": "up", "hex": "00", "fate": "delivered", "x": 1}', "x"),
        ('{"t": -1, "dir": "up", "hex": "00", "fate": "delivered"}', "t"),
        ('{"t": NaN, "dir": "up", "hex": "00", "fate": "delivered"}', "t"),
        ('{"t": true, "dir": "up", "hex": "00", "fate": "delivered"}', "t"),
        ('{"t": 1, "dir": "sideways", "hex": "00", "fate": "delivered"}', "dir"),
        ('{"t": 1, "dir": "up", "hex": "0", "fate": "delivered"}', "hex"),
        ('{"t": 1, "dir": "up", "hex": "0 0", "fate": "delivered"}', "hex"),
        ('{"t": 1, "dir": "up", "hex": "zz", "fate": "delivered"}', "hex"),
        ('{"t": 1, "dir": "up", "hex": "00", "fate": "lost"}', "fate"),
        ('{"t": 1, "dir": "up", "hex": "00", "fate": ["dropped"]}', "fate"),
    ],
)
def test_bad_lines_name_the_field(line: str, field: str) -> None:
    with pytest.raises(CaptureError) as caught:
        parse_record(line, 7)
    assert caught.value.field == field and caught.value.line == 7  # type: ignore[attr-defined]
    assert "line 7" in str(caught.value)


def test_reader_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "capture.jsonl"
    with CaptureWriter(path) as capture:
        capture.write(0.0, "up", b"\x01", Fate.DELIVERED)
    with open(path, "ab") as stream:
        stream.write(b'{"t": 0.1, "dir": "up", "hex": "\xff\xfe"}\n')
    reader = read_capture(path)
    assert next(reader).frame == b"\x01"
    with pytest.raises(CaptureError, match="line 2"):
        next(reader)


@given(st.text(max_size=200))
def test_garbage_text_gives_only_capture_errors(line: str) -> None:
    with contextlib.suppress(CaptureError):
        parse_record(line)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


# Values that are right for some field half the time, so that both outcomes are exercised.
NEAR_VALUES = json_values | st.floats(0, 1e9) | st.integers(0, 10**6) | st.sampled_from(
    ["up", "down", "", "00ff", "0g", "abc", *(f.value for f in Fate)])


@given(st.sampled_from(["t", "dir", "hex", "fate"]), NEAR_VALUES)
def test_a_valid_record_with_one_field_replaced_parses_back_or_is_a_capture_error(key: str, value: object) -> None:
    obj = {"t": 1.5, "dir": "up", "hex": "2000", "fate": "delivered", key: value}
    try:
        record = parse_record(json.dumps(obj))
    except CaptureError:
        return
    assert parse_record(record.to_json()) == record
    assert record.to_json() == json.dumps(obj) or key == "t"  # only a number may be re-spelled


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "t": json_values,
            "dir": json_values | st.sampled_from(["up", "down"]),
            "hex": json_values | st.binary(max_size=4).map(bytes.hex),
            "fate": json_values | st.sampled_from([f.value for f in Fate]),
        },
    )
)
def test_near_miss_objects_give_only_capture_errors(obj: dict[str, object]) -> None:
    with contextlib.suppress(CaptureError):
        parse_record(json.dumps(obj))


@given(st.binary(max_size=100))
def test_garbage_bytes_give_only_capture_errors(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "capture.jsonl"
        path.write_bytes(data)
        with contextlib.suppress(CaptureError):
            list(read_capture(path))


def test_deep_nesting_and_huge_numbers_are_capture_errors() -> None:
    for line in (
        "[" * 100_000,
        '{"t": ' + "9" * 5000 + "}",
        '{"t": 1e999, "dir": "up", "hex": "", "fate": "dropped"}',
    ):
        with pytest.raises(CaptureError):
            parse_record(line)

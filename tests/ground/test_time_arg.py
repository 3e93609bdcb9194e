"""Command-line times: each form a console operator types, and a clear refusal of anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ground.time_arg import TimeArgumentError, parse_time

NOW = 1_796_126_400.0  # 2026-12-01T12:00:00Z


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW), (" NOW ", NOW),
    ("-15m", NOW - 900), ("-2h", NOW - 7200), ("-1d", NOW - 86400), ("-30s", NOW - 30), ("+1.5h", NOW + 5400),
    ("2026-12-01T12:00:00", NOW), ("2026-12-01T12:00:00Z", NOW), ("2026-12-01 12:00", NOW),
    ("2026-12-01", NOW - 12 * 3600), ("2026-12-01T13:00:00+01:00", NOW),
    ("1796126400.5", NOW + 0.5), ("0", 0.0),
])
def test_each_form(text: str, expected: float) -> None:
    assert parse_time(text, NOW, "--from") == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "yesterday", "-15", "15m", "--3h", "nan", "inf", "2026-13-01", "-1w"])
def test_anything_else_is_refused_naming_the_option_and_the_forms(text: str) -> None:
    with pytest.raises(TimeArgumentError) as caught:
        parse_time(text, NOW, "--to")
    assert str(caught.value).startswith("--to ") and "POSIX seconds" in str(caught.value)


@given(st.text(max_size=40))
def test_any_text_is_a_time_or_a_clear_refusal(text: str) -> None:
    try:
        value = parse_time(text, NOW)
    except TimeArgumentError as exc:
        assert exc.option == "time"
    else:
        assert isinstance(value, float) and value == value

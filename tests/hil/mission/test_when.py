"""Scenario times: every form read, every mistake refused, and each found against the orbit's windows."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.mission.when import When, parse_when, resolve


@pytest.mark.parametrize(("text", "when"), [
    (90, When("start", 0, 90.0)), (2.5, When("start", 0, 2.5)), ("90s", When("start", 0, 90.0)),
    ("+5m", When("start", 0, 300.0)), ("start + 1h", When("start", 0, 3600.0)), ("1.5 min", When("start", 0, 90.0)),
    ("start", When("start", 0, 0.0)), ("aos 2", When("aos", 2, 0.0)), ("AOS 2 + 30s", When("aos", 2, 30.0)),
    ("los 1 - 2m", When("los", 1, -120.0)), ("eclipse 3 + 1m", When("eclipse", 3, 60.0)),
    ("sunlight 1", When("sunlight", 1, 0.0)),
])
def test_each_form_is_read(text: object, when: When) -> None:
    assert parse_when(text) == when


@pytest.mark.parametrize(("text", "reason"), [
    ("", "is not a time"), ("soon", "is not a time"), ("aos", "is not a time"), ("aos 0", "counted from 1"),
    ("aos 1 30s", "'+' or '-'"), ("-5s", "before the start"), ("start - 1m", "before the start"),
    (-1, "not a time after the start"), (float("nan"), "not a time after the start"), (True, "is not a time"),
    ([1], "is not a time"), ("aos 1 + 3 days", "is not a time"),
])
def test_each_mistake_is_refused_saying_why(text: object, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_when(text)


PASSES = [(1000.0, 1500.0), (7000.0, 7400.0)]
ECLIPSES = [(0.0, 2000.0), (5500.0, 7600.0)]


def test_times_are_found_against_the_passes_and_eclipses() -> None:
    assert resolve(parse_when("aos 2 + 30s"), PASSES, ECLIPSES) == 7030.0
    assert resolve(parse_when("los 1 - 1m"), PASSES, ECLIPSES) == 1440.0
    assert resolve(parse_when("eclipse 2"), PASSES, ECLIPSES) == 5500.0
    assert resolve(parse_when("sunlight 1 + 10s"), PASSES, ECLIPSES) == 2010.0
    assert resolve(parse_when("eclipse 1 - 5m"), PASSES, ECLIPSES) == 0.0  # never before the start
    with pytest.raises(ValueError, match="the mission has 2 passes"):
        resolve(parse_when("aos 3"), PASSES, ECLIPSES)


@given(st.text(max_size=40) | st.floats() | st.integers())
def test_anything_is_a_time_or_a_value_error(value: object) -> None:
    try:
        when = parse_when(value)
    except ValueError:
        return
    assert when.anchor != "start" or when.offset_s >= 0

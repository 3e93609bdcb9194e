"""Spans of a condition in time: sampled, each edge bisected; clipped at the ends; empty scans refused."""

from __future__ import annotations

import numpy as np
import pytest

from hil.bus.spans import spans


def _square_wave(times: np.ndarray) -> np.ndarray:
    return (np.asarray(times) % 100.0) < 30.0


def test_spans_find_and_refine_every_span() -> None:
    found = spans(_square_wave, 0.0, 350.0, 7.0)
    expected = [(0.0, 30.0), (100.0, 130.0), (200.0, 230.0), (300.0, 330.0)]
    assert len(found) == len(expected)
    for (start, end), (want_start, want_end) in zip(found, expected, strict=True):
        assert start == pytest.approx(want_start, abs=0.05)
        assert end == pytest.approx(want_end, abs=0.05)


def test_spans_clip_at_the_ends() -> None:
    found = spans(_square_wave, 10.0, 320.0, 7.0)
    assert found[0][0] == 10.0 and found[-1][1] == 320.0
    assert spans(lambda ts: np.zeros(len(ts), bool), 0.0, 100.0, 7.0) == []
    assert spans(lambda ts: np.ones(len(ts), bool), 0.0, 100.0, 7.0) == [(0.0, 100.0)]


@pytest.mark.parametrize(("start", "end", "step"), [(0.0, 10.0, 0.0), (0.0, 10.0, -1.0), (10.0, 10.0, 1.0)])
def test_spans_reject_an_empty_scan(start: float, end: float, step: float) -> None:
    with pytest.raises(ValueError):
        spans(_square_wave, start, end, step)

from __future__ import annotations

import math

import pytest

from flight.seu.checkpoint_interval import checkpoint_interval, observed_mtbf, young_daly


def test_young_daly_is_the_square_root_of_twice_cost_times_mtbf() -> None:
    assert young_daly(5.0, 3600.0) == pytest.approx(math.sqrt(36000.0))  # 189.7 s
    assert young_daly(0.0, 3600.0) == 0.0 and young_daly(-1.0, 10.0) == 0.0


def test_the_observed_mtbf_counts_at_least_one_upset_and_keeps_its_floor() -> None:
    assert observed_mtbf(7200.0, 0, 600.0) == 7200.0
    assert observed_mtbf(7200.0, 4, 600.0) == 1800.0
    assert observed_mtbf(7200.0, 100, 600.0) == 600.0


def test_an_override_wins() -> None:
    assert checkpoint_interval(2.0, 7200.0, 2, 600.0) == (pytest.approx(math.sqrt(2 * 2.0 * 3600.0)), 3600.0)
    assert checkpoint_interval(2.0, 7200.0, 2, 600.0, override_s=30.0) == (30.0, 3600.0)

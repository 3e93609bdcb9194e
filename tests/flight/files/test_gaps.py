"""Gaps against the obvious model, a set of octets: adding, merging, taking in slices."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flight.files.gaps import Gaps

ranges = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=30)


def _octets(pairs: list[tuple[int, int]]) -> set[int]:
    return {o for start, end in pairs for o in range(start, end)}


@given(ranges)
def test_added_ranges_are_kept_merged_sorted_and_disjoint(added: list[tuple[int, int]]) -> None:
    gaps = Gaps()
    for start, end in added:
        gaps.add(start, end)
    kept = gaps.ranges()
    assert _octets(kept) == _octets(added) and gaps.octets == len(_octets(added))
    assert all(start < end for start, end in kept)
    assert all(a_end < b_start for (_, a_end), (b_start, _) in zip(kept, kept[1:], strict=False))  # not touching


@given(ranges, st.integers(-5, 120))
def test_take_gives_the_lowest_octets_first_in_slices_of_at_most_most(added: list[tuple[int, int]],
                                                                      most: int) -> None:
    gaps = Gaps()
    for start, end in added:
        gaps.add(start, end)
    wanted = sorted(_octets(added))
    taken: list[int] = []
    while gaps:
        piece = gaps.take(most)
        got = sorted(_octets(piece))
        assert got and len(got) <= max(most, 1)
        taken += got
    assert taken == wanted and gaps.take(most) == []


def test_a_repeated_request_adds_nothing() -> None:
    gaps = Gaps()
    for _ in range(3):
        gaps.add(0, 1000)
        gaps.add(2000, 3000)
    gaps.add(1000, 2000)  # touching both: one range
    assert gaps.ranges() == [(0, 3000)] and len(gaps) == 1
    gaps.add(5, 5)  # empty
    assert gaps.take(2500) == [(0, 2500)] and gaps.ranges() == [(2500, 3000)]

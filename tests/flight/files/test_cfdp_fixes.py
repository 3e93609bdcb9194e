"""The cfdp-py fixes refuse a cfdp-py whose internals they rely on have changed, at import time."""

from __future__ import annotations

import dataclasses

import pytest
from cfdppy.handler import dest, source

from flight.files import cfdp_fixes


def test_each_receiving_transaction_gets_a_lost_segment_tracker_of_its_own() -> None:
    assert dest._AckedModeParams is cfdp_fixes.AckedModeParams
    first, second = dest._AckedModeParams(), dest._AckedModeParams()
    assert first.lost_seg_tracker is not second.lost_seg_tracker


def test_a_cfdp_py_whose_receiver_parameters_changed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Changed:
        lost_seg_tracker: object = None

    monkeypatch.setattr(dest, "_AckedModeParams", Changed)
    with pytest.raises(RuntimeError, match="_AckedModeParams changed"):
        cfdp_fixes.apply()


def test_a_cfdp_py_without_the_source_segment_length_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class NoSegment:
        progress: int = 0

    monkeypatch.setattr(dest, "_AckedModeParams", cfdp_fixes.AckedModeParams)
    monkeypatch.setattr(source, "_SourceFileParams", NoSegment)
    with pytest.raises(RuntimeError, match="segment_len"):
        cfdp_fixes.apply()

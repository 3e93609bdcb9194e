"""Checkpoint generation names: the step in and out of a name, and the newest first."""

from __future__ import annotations

from pathlib import Path

from flight.jobs.checkpoint_names import file_name, generation_step, generations


def test_a_name_holds_its_step() -> None:
    assert file_name(42) == "step-000000042.safetensors"
    assert generation_step(Path("/x") / file_name(123456789)) == 123456789


def test_generations_are_the_step_files_newest_first(tmp_path: Path) -> None:
    assert generations(tmp_path / "absent") == []
    for step in (8, 16, 120):
        (tmp_path / file_name(step)).write_bytes(b"")
    for other in ("step-16.safetensors", ".step-000000200.safetensors.tmp", "notes.txt"):
        (tmp_path / other).write_bytes(b"")
    assert [generation_step(p) for p in generations(tmp_path)] == [120, 16, 8]

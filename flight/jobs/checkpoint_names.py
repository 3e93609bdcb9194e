"""Where a job's checkpoint generations live and what they are called: ``step-000000123.safetensors``.

Torch-free, so that the supervisor (which damages the newest one for the bench) finds them as the
trainer's store names them.
"""

from __future__ import annotations

import re
from pathlib import Path

NAME = re.compile(r"^step-(\d{9})\.safetensors$")


def file_name(step: int) -> str:
    return f"step-{step:09d}.safetensors"


def generation_step(path: Path) -> int:
    """The step a generation's file name says it holds."""
    return int(path.stem.split("-")[1])


def generations(directory: Path) -> list[Path]:
    """The generation files in ``directory``, newest first (none: an empty list)."""
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if NAME.match(p.name)), key=lambda p: p.name, reverse=True)

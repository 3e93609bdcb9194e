"""Files that are never half-written: a temporary file, fsync, rename, and fsync of the directory.

A reader (or a process restarted after SIGKILL at any instant) sees the old content or the new, never
a mix. Used for every piece of state Zenith keeps on disk: keys, link state, counters, results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flight.link.errors import StorageError


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    write_atomic_parts(path, [data], mode)


def write_atomic_parts(path: str | os.PathLike[str], parts: Iterable[bytes | memoryview], mode: int = 0o644) -> None:
    """``write_atomic`` of the parts one after another, never joined in memory (a checkpoint's tensors)."""
    target = Path(path)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temp.unlink(missing_ok=True)  # a stale one could carry another owner or a looser mode
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # whatever the umask
            size = 0
            for part in parts:
                view = memoryview(part).cast("B")
                size += len(view)
                while view:  # os.write may write less than asked (a full disk, a file-size limit)
                    written = os.write(fd, view)  # the GIL is released while the kernel copies
                    if written <= 0:
                        raise OSError(28, "no space left to write")
                    view = view[written:]
            os.fsync(fd)
            if os.fstat(fd).st_size != size:
                raise OSError(5, "the file is not the size written")
        except OSError:
            os.close(fd)
            temp.unlink(missing_ok=True)  # never rename a short file over a good one
            raise
        os.close(fd)
        os.replace(temp, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)
    except OSError as exc:
        raise StorageError(f"cannot write {target}: {exc.strerror}") from None


def write_json_atomic(path: str | os.PathLike[str], value: Any, mode: int = 0o644) -> None:
    write_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode(), mode)


def read_json(path: str | os.PathLike[str]) -> Any:
    """The JSON document at ``path``; StorageError if it cannot be read or parsed."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise StorageError(f"{path} is not valid JSON: {exc}") from None

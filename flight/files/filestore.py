"""A filestore that reaches one directory and nothing else: what cfdp-py reads and writes through.

Names come from the other end of the link (a Metadata PDU, a proxy put request), so each one is
checked before it touches the disk: no absolute path, no ``..``, no symlink on the way, nothing
outside ``root/area``. A refusal is a :class:`PathRefused` (a PermissionError, which cfdp-py turns
into a Filestore Rejection fault that it reports to the sender) and is counted. The files are data:
this module only reads and writes octets; nothing here or in the service ever executes, imports or
unpickles them.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from cfdppy.filestore import NativeFilestore
from spacepackets.cfdp import ChecksumType, FilestoreResponseStatusCode

from flight.counters import Counters
from flight.files.errors import PathRefused

MAX_NAME = 1024  # octets of a whole name
MAX_PART = 255  # octets of one component


class _Checked(type(Path())):  # type: ignore[misc]
    """A path resolve() produced: NativeFilestore's methods call each other with it, and it passes."""


class RestrictedStore(NativeFilestore):
    """Every name is relative to ``root/area``; ``counters`` counts the refusals by reason."""

    def __init__(self, root: Path, area: str, counters: Counters) -> None:
        super().__init__()
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()
        self.base = self.root / area if area else self.root
        self.base.mkdir(parents=True, exist_ok=True)
        self.counters = counters

    def resolve(self, name: str | os.PathLike[str]) -> Path:
        """The real path of ``name`` under the base; PathRefused (counted) for anything else."""
        if isinstance(name, _Checked):
            return name
        try:
            self._check(os.fspath(name))
        except PathRefused as exc:
            self.counters.inc("paths_refused")
            self.counters.inc(f"refused_{exc.reason}")
            raise
        return _Checked(self.base.joinpath(*PurePosixPath(os.fspath(name)).parts))

    def _check(self, text: str) -> None:
        if not text or "\x00" in text or len(text.encode(errors="replace")) > MAX_NAME:
            raise PathRefused("name", f"file name {text[:80]!r} is empty, too long or holds a NUL")
        if text.startswith(("/", "\\")) or (len(text) > 1 and text[1] == ":"):
            raise PathRefused("absolute", f"absolute file name {text[:80]!r}: names are relative to the filestore")
        parts = PurePosixPath(text).parts
        if not parts:  # "." or "./": the base directory itself, not a file in it
            raise PathRefused("name", f"file name {text[:80]!r} names no file")
        if any(p in ("..", ".") or "\\" in p for p in parts):
            raise PathRefused("traversal", f"file name {text[:80]!r} steps outside its directory")
        if any(len(p.encode(errors="replace")) > MAX_PART for p in parts):
            raise PathRefused("name", f"a component of {text[:80]!r} is longer than {MAX_PART} octets")
        # A symlink anywhere on the way (planted, or left by an earlier transfer) could lead outside.
        here = self.base
        for part in parts:
            here = here / part
            if here.is_symlink():
                raise PathRefused("symlink", f"{text[:80]!r} passes through a symbolic link")
            if not here.exists():
                break

    # --- what cfdp-py calls: every name through resolve() ---------------------------------------

    def read_data(self, file: Path, offset: int | None, read_len: int | None = None) -> bytes:
        return super().read_data(self.resolve(file), offset, read_len)

    def file_size(self, file: Path) -> int:
        return super().file_size(self.resolve(file))

    def file_exists(self, path: Path) -> bool:
        return super().file_exists(self.resolve(path))

    def is_directory(self, path: Path) -> bool:
        return super().is_directory(self.resolve(path))

    def truncate_file(self, file: Path) -> None:
        super().truncate_file(self.resolve(file))

    def write_data(self, file: Path, data: bytes, offset: int | None) -> None:
        super().write_data(self.resolve(file), data, offset)

    def create_file(self, file: Path) -> FilestoreResponseStatusCode:
        return super().create_file(self.resolve(file))

    def delete_file(self, file: Path) -> FilestoreResponseStatusCode:
        return super().delete_file(self.resolve(file))

    def rename_file(self, old_file: Path, new_file: Path) -> FilestoreResponseStatusCode:
        return super().rename_file(self.resolve(old_file), self.resolve(new_file))

    def replace_file(self, replaced_file: Path, source_file: Path) -> FilestoreResponseStatusCode:
        return super().replace_file(self.resolve(replaced_file), self.resolve(source_file))

    def create_directory(self, dir_name: Path) -> FilestoreResponseStatusCode:
        return super().create_directory(self.resolve(dir_name))

    def remove_directory(self, dir_name: Path, recursive: bool = False) -> FilestoreResponseStatusCode:
        return super().remove_directory(self.resolve(dir_name), recursive)

    def list_directory(self, dir_name: Path, target_file: Path, recursive: bool = False
                       ) -> FilestoreResponseStatusCode:
        return super().list_directory(self.resolve(dir_name), self.resolve(target_file), recursive)

    def calculate_checksum(self, checksum_type: ChecksumType, file_path: Path, size_to_verify: int,
                           segment_len: int = 4096) -> bytes:
        # Large reads: cfdp-py would otherwise read a whole file one PDU's worth at a time.
        return super().calculate_checksum(checksum_type, self.resolve(file_path), size_to_verify,
                                          max(segment_len, 1 << 16))

"""Typed errors of file transfer: every refusal names its reason, which is also the counter it bumps."""

from __future__ import annotations

from flight.link.errors import ZenithError


class FileTransferError(ZenithError):
    """A file transfer was refused or failed; ``reason`` is a short code used for counting."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PathRefused(FileTransferError, PermissionError):
    """A file name outside the filestore's reach (absolute, ``..``, a symlink, the wrong area).

    A PermissionError too, so that cfdp-py's handlers answer it with a Filestore Rejection fault
    (a Finished PDU to the sender) instead of letting it escape."""

    def __init__(self, reason: str, message: str) -> None:
        FileTransferError.__init__(self, reason, message)


class PduRejected(FileTransferError):
    """A PDU that did not decode, or that no transaction could take."""

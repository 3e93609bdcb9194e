"""Typed errors for every layer of the link.

Every decoder raises a subclass of :class:`LinkError` and nothing else, so that callers can reject
and count bad input with a single ``except`` and report which layer and which field was wrong.
"""

from __future__ import annotations


class ZenithError(Exception):
    """Root of every error Zenith raises on purpose."""


class LinkError(ZenithError):
    """Bad input at one layer of the link; ``layer`` and ``field`` name where."""

    layer = "link"

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{self.layer}.{field}: {reason}")


class TcFrameError(LinkError):
    layer = "tc_frame"


class TmFrameError(LinkError):
    layer = "tm_frame"


class ClcwError(LinkError):
    layer = "clcw"


class CltuError(LinkError):
    layer = "cltu"


class PacketError(LinkError):
    layer = "packet"


class TimeCodeError(LinkError):
    layer = "time"


class SdlsError(LinkError):
    """A frame failed ProcessSecurity; ``field`` is the reason code used for counting."""

    layer = "sdls"


class CaptureError(LinkError):
    layer = "capture"


class ConfigError(ZenithError):
    """A configuration or key file is missing, malformed or inconsistent."""


class CommandError(LinkError):
    """A telecommand that does not match the dictionary: unknown, or an argument out of type or range."""

    layer = "command"


class TelemetryError(LinkError):
    """A telemetry packet's source data that does not match the dictionary (housekeeping, events, reports)."""

    layer = "telemetry"


class DictionaryError(ZenithError):
    """The dictionary file itself is malformed; the message names the JSON path."""


class StorageError(ZenithError):
    """State on stable storage cannot be written, or read back as it was written."""

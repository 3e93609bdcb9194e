"""The link capture: one JSON line per frame fate, written as the emulator decides it.

Each line is exactly ``{"t": 1.25, "dir": "up", "hex": "2000...", "fate": "delivered"}``: ``t`` in
seconds since the emulator started, ``dir`` ``up`` (ground to flight) or ``down``, the frame as
it left the link (after corruption) in lowercase hex, and one of the fates of
:class:`hil.link.faults.Fate`. The file is line-buffered, so a capture cut short by a crash loses
at most the line being written, and :func:`read_capture` says exactly which line that was.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TextIO

from flight.link.errors import CaptureError
from hil.link.faults import Fate

DIRECTIONS = ("up", "down")
KEYS = ("t", "dir", "hex", "fate")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")


@dataclass(frozen=True, slots=True)
class CaptureRecord:
    t: float
    direction: str
    frame: bytes
    fate: Fate

    def to_json(self) -> str:
        return json.dumps(
            {"t": self.t, "dir": self.direction, "hex": self.frame.hex(), "fate": self.fate.value}
        )


class CaptureLineError(CaptureError):
    """A bad capture line; ``line`` is its 1-based number, so callers can report or skip it."""

    def __init__(self, line: int, field: str, reason: str) -> None:
        self.line = line
        super().__init__(field, f"line {line}: {reason}")


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        t = float(value)
    except OverflowError:
        return None
    return t if math.isfinite(t) and t >= 0 else None


def parse_record(text: str, line: int = 1) -> CaptureRecord:
    """One capture line → a record, or :class:`CaptureError` naming the line and the field."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:  # int-too-long and deep nesting are not JSONDecodeErrors
        raise CaptureLineError(line, "json", f"not JSON ({exc.__class__.__name__})") from None
    if not isinstance(obj, dict):
        raise CaptureLineError(line, "json", "not a JSON object")
    missing = [key for key in KEYS if key not in obj]
    extra = sorted(str(key) for key in obj if key not in KEYS)
    if missing or extra:
        raise CaptureLineError(line, (missing or extra)[0], f"missing {missing}, unexpected {extra}")
    t = _seconds(obj["t"])
    if t is None:
        raise CaptureLineError(line, "t", f"{obj['t']!r:.40} is not a finite number of seconds >= 0")
    if obj["dir"] not in DIRECTIONS:
        raise CaptureLineError(line, "dir", f"{obj['dir']!r:.40} is not one of {DIRECTIONS}")
    frame_hex = obj["hex"]
    if not isinstance(frame_hex, str) or not _HEX.fullmatch(frame_hex):
        raise CaptureLineError(line, "hex", "not an even-length string of hex digits")
    if obj["fate"] not in tuple(Fate):
        raise CaptureLineError(line, "fate", f"{obj['fate']!r:.40} is not one of {[f.value for f in Fate]}")
    return CaptureRecord(t, obj["dir"], bytes.fromhex(frame_hex), Fate(obj["fate"]))


def read_capture(path: str | Path) -> Iterator[CaptureRecord]:
    """Every record of a capture file, in order; the first bad line raises :class:`CaptureError`."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the generator's last record
    except OSError as exc:
        raise CaptureError("file", f"cannot read {path}: {exc.strerror}") from None
    with stream:
        for number, raw in enumerate(stream, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise CaptureLineError(number, "json", "not UTF-8") from None
            yield parse_record(text, number)


class CaptureWriter:
    """Appends records to a new capture file; usable as a context manager."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.records = 0
        self._stream: TextIO = open(self.path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115  # closed in close()

    def write(self, t: float, direction: str, frame: bytes, fate: Fate) -> None:
        self.write_record(CaptureRecord(t, direction, frame, fate))

    def write_record(self, record: CaptureRecord) -> None:
        self._stream.write(record.to_json() + "\n")
        self.records += 1

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

"""The payload's link state on stable storage: FARM-1, the SDLS anti-replay values, and a journal.

Written (atomically, fsynced) after a frame is accepted and before any command in it is acted on, with
the accepted packets themselves as the journal; written again, with an empty journal, once they have
all been acted on. Read back at start: a restarted payload neither runs a recorded command again (the
replay window is where it was), nor acknowledges by a reset V(R) commands it never received, nor loses
the commands of a frame it had accepted (they are in the journal, and run first). A command cut short
by the crash itself runs again: at least once, never lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flight.atomic_file import read_json, write_json_atomic
from flight.link.errors import StorageError
from flight.link.uplink_receiver import UplinkReceiver

FORMAT = "zenith-flight-link-state"


class LinkStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: dict[str, Any] | None = None
        self.writes = 0

    def restore(self, receiver: UplinkReceiver) -> list[bytes] | None:
        """Load the saved state into ``receiver``; the journaled packets, or None on a first start."""
        if not self.path.exists():
            return None
        doc = read_json(self.path)
        try:
            if doc["format"] != FORMAT:
                raise KeyError("format")
            for vcid, farm_state in doc["farms"].items():
                farm = receiver.farms.get(int(vcid))
                if farm is not None:
                    farm.load_state(farm_state)
            if receiver.sdls is not None:
                receiver.sdls.load_state(doc["sdls"])
            journal = [bytes.fromhex(text) for text in doc.get("journal", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StorageError(f"{self.path} is not a flight link state file ({exc})") from None
        self._saved = doc
        return journal

    def save(self, receiver: UplinkReceiver, journal: list[bytes]) -> None:
        """Write the state and the packets not yet acted on, if anything changed since the last write."""
        doc = {"format": FORMAT,
               "farms": {str(vcid): farm.state_dict() for vcid, farm in receiver.farms.items()},
               "sdls": receiver.sdls.state_dict() if receiver.sdls is not None else {},
               "journal": [packet.hex() for packet in journal]}
        if doc != self._saved:
            write_json_atomic(self.path, doc)
            self._saved = doc
            self.writes += 1

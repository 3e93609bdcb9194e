"""The payload's power mode, kept across restarts; safe mode sets it to OFF, the minimum."""

from __future__ import annotations

import enum

from flight.supervisor.state_db import StateDb

MODE_KEY = "power.mode"


class PowerMode(enum.IntEnum):
    """Codes of the dictionary's power.mode channel."""

    PERFORMANCE = 0
    BALANCED = 1
    ECLIPSE_SAFE = 2
    OFF = 3


class PowerState:
    def __init__(self, db: StateDb) -> None:
        self.db = db
        self.load()

    def load(self) -> None:
        """Read the mode (at start, and after a failed command's savepoint)."""
        self.mode = PowerMode[self.db.get(MODE_KEY, PowerMode.BALANCED.name)]

    def set(self, mode: PowerMode) -> None:
        """Inside a unit of work: the new mode is on disk with whatever caused it."""
        self.mode = mode
        self.db.put(MODE_KEY, mode.name)

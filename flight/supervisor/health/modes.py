"""Operating modes: nominal, and a safe mode that stops jobs, cuts power and takes only essential commands.

Entering safe mode runs the registered safing actions (the power state goes to its minimum here; the
job manager registers its own). A restart loop holds safe mode: it cannot be left until the operator
has cleared the restart record, so a fault that kills the supervisor cannot keep it cycling through
nominal operations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from flight.counters import Counters
from flight.dictionary.model import Command
from flight.supervisor.state_db import StateDb

MODE_KEY = "health.mode"
HOLD_KEY = "health.safe_hold"


class Mode(enum.IntEnum):
    """Codes of the dictionary's health.mode channel."""

    NOMINAL = 0
    SAFE = 1


class Modes:
    def __init__(self, db: StateDb) -> None:
        self.db = db
        self.load()
        self.counters = Counters("health")
        self._safing: list[Callable[[str], None]] = []

    def load(self) -> None:
        """Read the mode and the hold (at start, and after a failed command's savepoint)."""
        self.mode = Mode[self.db.get(MODE_KEY, Mode.NOMINAL.name)]
        self.hold: str | None = self.db.get(HOLD_KEY)  # why safe mode cannot be left yet

    def on_safe(self, action: Callable[[str], None]) -> None:
        """Run ``action(reason)`` on every entry into safe mode (inside the entering unit of work)."""
        self._safing.append(action)

    def allows(self, command: Command) -> bool:
        return self.mode is Mode.NOMINAL or command.essential

    def enter_safe(self, reason: str, hold: str | None = None) -> bool:
        """Inside a unit of work; False when already safe (the actions still run: they are idempotent)."""
        entered = self.mode is not Mode.SAFE
        self.mode = Mode.SAFE
        self.db.put(MODE_KEY, self.mode.name)
        if hold is not None:
            self.hold = hold
            self.db.put(HOLD_KEY, hold)
        for action in self._safing:
            action(reason)
        if entered:
            self.counters.inc("safe_entries")
        return entered

    def exit_safe(self) -> None:
        self.mode = Mode.NOMINAL
        self.db.put(MODE_KEY, self.mode.name)

    def release_hold(self) -> None:
        self.hold = None
        self.db.put(HOLD_KEY, None)

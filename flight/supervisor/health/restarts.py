"""The restart record: every supervisor start, kept on disk, so a fault cannot cause an endless reset loop.

At each start the boot is recorded; if more than ``health.max_restarts`` restarts (starts after a life
that did not end cleanly) fall within
``health.restart_window`` seconds, the supervisor comes up in safe mode and holds it there until
the operator clears the record (RESTARTS_CLEAR).
"""

from __future__ import annotations

from collections.abc import Callable

from flight.counters import Counters
from flight.supervisor.state_db import StateDb

BOOTS_KEY = "health.boots"
RUNNING_KEY = "health.running"  # set at start, cleared by a clean stop: found set, the last life was cut
KEPT_BOOTS = 1000


class RestartRecord:
    def __init__(self, db: StateDb, window: Callable[[], float], max_restarts: Callable[[], int]) -> None:
        self.db = db
        self.window = window
        self.max_restarts = max_restarts
        self.load()
        self.counters = Counters("health")

    def load(self) -> None:
        """Read the boot count (at start, and after a failed command's savepoint)."""
        self.boots = int(self.db.get(BOOTS_KEY, 0))

    def boot(self, now: float) -> int:
        """Inside a unit of work: record this start; the number of restarts within the window.

        Only a start after a life that did not stop cleanly (a kill, a crash, the watchdog) is a
        restart: an operator stopping and starting the supervisor is not a reset loop.
        """
        self.boots += 1
        restart = bool(self.db.get(RUNNING_KEY, False))
        self.db.put(BOOTS_KEY, self.boots)
        self.db.put(RUNNING_KEY, True)
        self.db.conn.execute("INSERT INTO boots (time, restart) VALUES (?, ?)", (now, int(restart)))
        self.db.conn.execute("DELETE FROM boots WHERE id <= (SELECT MAX(id) FROM boots) - ?", (KEPT_BOOTS,))
        return self.recent(now)

    def recent(self, now: float) -> int:
        return self.db.conn.execute("SELECT COUNT(*) FROM boots WHERE restart = 1 AND time > ?",
                                    (now - self.window(),)).fetchone()[0]

    def stopped_cleanly(self) -> None:
        """Inside a unit of work, as the last thing before a deliberate exit."""
        self.db.put(RUNNING_KEY, False)

    def looping(self, recent: int) -> bool:
        return recent > self.max_restarts()

    def clear(self) -> None:
        self.db.conn.execute("DELETE FROM boots")

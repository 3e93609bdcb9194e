"""The command journal: every telecommand is on disk before it is acknowledged, until it has run.

Packets go in with the uplink state that accepted them (one unit of work), so the CLCW that tells
the ground "received" is never sent for a command that is not yet safe. Each is taken out in the
unit of work that runs it, so after a kill at any instant a command has either run (effects, reports
and removal committed together) or is still here, and runs after the restart: exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight.counters import Counters
from flight.supervisor.state_db import StateDb


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    packet: bytes
    source: str


class Journal:
    def __init__(self, db: StateDb) -> None:
        self.db = db
        self.counters = Counters("journal")

    def add(self, packet: bytes, source: str, received: float) -> int:
        cur = self.db.conn.execute("INSERT INTO journal (received, source, packet) VALUES (?, ?, ?)",
                                   (received, source, packet))
        self.counters.inc("added")
        assert cur.lastrowid is not None
        return cur.lastrowid

    def pending(self, limit: int | None = None) -> list[Entry]:
        rows = self.db.conn.execute("SELECT id, packet, source FROM journal ORDER BY id LIMIT ?",
                                    (-1 if limit is None else limit,))
        return [Entry(*row) for row in rows]

    def done(self, entry: Entry) -> None:
        self.db.conn.execute("DELETE FROM journal WHERE id = ?", (entry.id,))
        self.counters.inc("done")

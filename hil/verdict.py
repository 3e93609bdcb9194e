"""Judging a bench run from the records themselves: the flight's onboard store and the ground's archive.

What a bench claims (every command ran once, the archive is complete) is checked here against the
payload's own store, read-only after the run, not against what the ground believes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from flight.link.pus import parse_tm
from flight.link.timecode import CucFormat
from flight.supervisor.supervisor import COUNTERS_KEY
from ground.archive import Archive

COMPLETION = (1, 7)


@dataclass(frozen=True, slots=True)
class FlightRecord:
    """What the payload stored: each packet as (apid, seq, time), the completion reports per request ID,
    and its counters as last committed (by service)."""

    packets: frozenset[tuple[int, int, float]]
    completions: Counter[bytes]
    completion_order: tuple[bytes, ...]  # request IDs in the order their completion reports were made
    counters: dict[str, dict[str, int]]

    @classmethod
    def read(cls, path: Path, time_format: CucFormat) -> FlightRecord:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            packets = set()
            completions: Counter[bytes] = Counter()
            order = []
            for (raw,) in db.execute("SELECT packet FROM store ORDER BY id"):
                tm = parse_tm(raw, time_format.length)
                packets.add((tm.apid, tm.seq_count, round(time_format.decode(bytes(tm.timestamp)), 4)))
                if (tm.service, tm.message_subtype) == COMPLETION:
                    request = bytes(tm.source_data[:4])
                    completions[request] += 1
                    order.append(request)
            row = db.execute("SELECT value FROM kv WHERE key = ?", (COUNTERS_KEY,)).fetchone()
        finally:
            db.close()
        return cls(frozenset(packets), completions, tuple(order), json.loads(row[0]) if row else {})

    def missing_from(self, archive: Archive, until: float | None = None) -> set[tuple[int, int, float]]:
        """Packets the payload made before the newest one the archive holds (or ``until``, a time at
        which the bench saw the archive complete), that the archive lacks.

        Later ones were still on their way when the run stopped: not holes.
        """
        archived = {(apid, seq, round(t, 4)) for apid, seq, t in archive.query("SELECT apid, seq, time FROM packets")}
        newest = max((t for _, _, t in archived), default=0.0) if until is None else until
        return {p for p in self.packets if p[2] <= newest} - archived

"""The supervisor's stable storage: one SQLite database (WAL) for everything that must survive a kill.

One file, so that one transaction can cover everything a unit of work changes: FARM-1 and SDLS state,
the command journal, the schedule, parameters, counters, packet sequence counts and the onboard
store. A command's effects, its reports and the journal entry that says it ran are committed
together or not at all, which is what makes execution exactly once across a SIGKILL.

``synchronous=FULL`` fsyncs the WAL at every commit: a committed unit survives power loss, not only
a process kill.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flight.link.errors import StorageError

SCHEMA_VERSION = 3
# From version N to N+1.
MIGRATIONS = {
    1: ("ALTER TABLE boots ADD COLUMN restart INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE playback ADD COLUMN taken INTEGER NOT NULL DEFAULT 0"),
    2: (),  # the jobs table is new: the schema script creates it
}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL, source TEXT NOT NULL, packet BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS schedule (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, name TEXT NOT NULL, packet BLOB NOT NULL,
    inserted REAL NOT NULL);
CREATE INDEX IF NOT EXISTS schedule_time ON schedule (time);
CREATE TABLE IF NOT EXISTS parameters (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS boots (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, restart INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS store (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, apid INTEGER NOT NULL, seq INTEGER NOT NULL,
    packet BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS store_apid_seq ON store (apid, seq);
CREATE INDEX IF NOT EXISTS store_time ON store (time);
CREATE TABLE IF NOT EXISTS playback_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ref BLOB NOT NULL, total INTEGER NOT NULL, sent INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS playback (
    id INTEGER PRIMARY KEY AUTOINCREMENT, store_id INTEGER NOT NULL, request INTEGER NOT NULL,
    taken INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, settings TEXT NOT NULL, state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0, step INTEGER NOT NULL DEFAULT 0,
    loss REAL, val_loss REAL, created REAL NOT NULL, reason TEXT NOT NULL DEFAULT '');
"""


class StateDb:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), never implicit.
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA busy_timeout=5000")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, *MIGRATIONS, SCHEMA_VERSION):
                raise StorageError(f"{self.path}: state schema version {version}, this supervisor reads "
                                   f"{SCHEMA_VERSION}")
            if version and version < SCHEMA_VERSION:
                # Keep what a state of an older supervisor holds (journal, schedule, store, FARM-1 and
                # anti-replay values): it is the spacecraft's memory, not a cache.
                self.conn.execute("BEGIN IMMEDIATE")
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                self.conn.execute("COMMIT")
            self.conn.executescript(_SCHEMA)
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a usable state database: {exc}") from None
        self.in_transaction = False

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: committed (and fsynced) on normal exit, rolled back on any exception."""
        if self.in_transaction:
            raise StorageError("transactions do not nest")
        self.conn.execute("BEGIN IMMEDIATE")
        self.in_transaction = True
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error:
                # A commit that failed (disk full, I/O error) must not leave the transaction open.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
        finally:
            self.in_transaction = False

    def get(self, key: str, default: Any = None) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = "
                          "excluded.value", (key, json.dumps(value, sort_keys=True)))

    def close(self) -> None:
        self.conn.close()

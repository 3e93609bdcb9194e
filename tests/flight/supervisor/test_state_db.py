"""The state database: schema versioning, refusal of files it cannot use, and atomic transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.link.errors import StorageError
from flight.supervisor.state_db import SCHEMA_VERSION, StateDb


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDb]:
    state = StateDb(tmp_path / "state.db")
    yield state
    state.close()


def test_a_new_file_gets_the_schema_wal_and_full_sync(db: StateDb) -> None:
    conn = db.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"kv", "journal", "schedule", "parameters", "boots", "store", "playback_requests", "playback"} <= tables


def test_values_survive_closing_and_reopening(tmp_path: Path) -> None:
    db = StateDb(tmp_path / "state.db")
    with db.transaction():
        db.put("a", {"nested": [1, 2.5, "x", None]})
        db.put("b", 1)
        db.put("b", 2)  # an update, not a second row
    db.close()
    again = StateDb(tmp_path / "state.db")
    try:
        assert again.get("a") == {"nested": [1, 2.5, "x", None]}
        assert again.get("b") == 2
        assert again.get("missing", "default") == "default"
    finally:
        again.close()


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION + 1}"):
        StateDb(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"this is a text file, not SQLite\n" * 200)
    with pytest.raises(StorageError, match="not a usable state database"):
        StateDb(path)
    assert path.read_bytes().startswith(b"this is a text file")  # left as it was


def test_transactions_do_not_nest(db: StateDb) -> None:
    with db.transaction():
        db.put("outer", 1)
        with pytest.raises(StorageError, match="do not nest"), db.transaction():
            db.put("inner", 1)
        assert db.in_transaction  # the refused inner one did not end the outer one
    assert not db.in_transaction
    assert db.get("outer") == 1
    assert db.get("inner") is None


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyboardInterrupt()])
def test_any_exception_rolls_the_whole_transaction_back(db: StateDb, error: BaseException) -> None:
    with db.transaction():
        db.put("kept", 1)
    with pytest.raises(type(error)), db.transaction():
        db.put("kept", 2)
        db.put("lost", 1)
        db.conn.execute("INSERT INTO boots (time) VALUES (1.0)")
        raise error
    assert not db.in_transaction
    assert db.get("kept") == 1
    assert db.get("lost") is None
    assert db.conn.execute("SELECT COUNT(*) FROM boots").fetchone()[0] == 0
    with db.transaction():  # and the database is usable again
        db.put("after", True)
    assert db.get("after") is True


def test_a_committed_transaction_is_visible_to_another_connection(db: StateDb) -> None:
    other = StateDb(db.path)
    try:
        with db.transaction():
            db.put("x", 1)
            assert other.get("x") is None  # not before the commit
        assert other.get("x") == 1
    finally:
        other.close()


def test_a_version_1_state_is_migrated_and_keeps_what_it_held(tmp_path) -> None:
    import sqlite3

    from flight.supervisor.state_db import SCHEMA_VERSION, StateDb

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE journal (id INTEGER PRIMARY KEY AUTOINCREMENT, received REAL NOT NULL, source TEXT NOT NULL,
                              packet BLOB NOT NULL);
        CREATE TABLE boots (id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL);
        CREATE TABLE playback (id INTEGER PRIMARY KEY AUTOINCREMENT, store_id INTEGER NOT NULL,
                               request INTEGER NOT NULL);
        INSERT INTO kv VALUES ('health.boots', '3');
        INSERT INTO journal (received, source, packet) VALUES (1.0, 'ground', x'1810c000');
        INSERT INTO boots (time) VALUES (5.0);
        INSERT INTO playback (store_id, request) VALUES (7, 1);
        PRAGMA user_version = 1;
    """)
    old.close()
    db = StateDb(path)
    assert db.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.get("health.boots") == 3
    assert db.conn.execute("SELECT packet FROM journal").fetchall() == [(b"\x18\x10\xc0\x00",)]
    assert db.conn.execute("SELECT time, restart FROM boots").fetchall() == [(5.0, 0)]
    assert db.conn.execute("SELECT store_id, taken FROM playback").fetchall() == [(7, 0)]
    db.close()

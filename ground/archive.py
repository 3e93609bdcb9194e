"""The ground archive: every telemetry packet received, decoded, and every command sent, in one SQLite file.

The station is the only writer; the CLI, the web console and scripts read the same file while it
writes (``Archive(path, readonly=True)``). WAL mode lets readers see each committed batch without
blocking the writer; ``synchronous=FULL`` fsyncs the WAL at every commit, so a batch the station has
ingested survives a power cut, not only a crash. ``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`:
a file of another version, or no SQLite file at all, is refused with a :class:`StorageError`.

Tables (times are seconds since 1970: ``time`` is the packet's CUC time stamp, ``received`` and
``sent`` are ground time):

- ``packets(id, apid, seq, service, subtype, time, received, vcid, raw)``: every PUS TM packet,
  ``UNIQUE(apid, seq, time)``. That key tells a duplicate (link duplication, a playback of what
  realtime already brought) from the next packet with the same 14-bit count after a wrap.
- ``hk(channel, time, packet_id, value)``: one row per channel value of a TM[3,25] report, keyed
  ``(channel, time, packet_id)`` and stored WITHOUT ROWID, so the table is its own (channel, time)
  index. ``value`` is the decoded value (enum label, number, 0/1 for booleans); NULL stands for NaN
  because SQLite stores NaN as NULL.
- ``events(id, packet_id, time, event_id, name, severity, message, arguments)``: TM[5,1..4], severity
  is the subtype, ``arguments`` JSON.
- ``commands(id, name, arguments, apid, seq, request_id, sent, source)``: every telecommand the
  ground sent; ``request_id`` is the TC's first four octets as an integer, ``source`` who sent it
  ("operator", "gapfill", "script", ...).
- ``verification(id, command_id, packet_id, request_id, stage, ok, code, field, step, time,
  received)``: TM[1,x] reports; ``command_id`` is the most recent command with the report's request
  ID, NULL when none is known.
- ``reports(packet_id, time, service, subtype, body)``: TM[11,10], TM[15,13], TM[20,2] as JSON.
- ``state(key, value)``: station state that must survive a restart (JSON values).
- ``gap_next``, ``gap_missing``, ``gap_ahead``: the gap tracker's state (see ``ground.gap_tracker``);
  they live here so that one schema version covers the whole file.

JSON columns hold ``bytes`` as hex strings and map keys as strings.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from spacepackets.ecss import PusTm
from spacepackets.ecss.pus_1_verification import ManagedParamsVerification, Service1Tm

from flight.counters import Counters
from flight.dictionary import Dictionary, load_dictionary
from flight.dictionary.model import Severity
from flight.dictionary.packing import REPORT_SUBTYPES, unpack_event, unpack_record, unpack_report
from flight.link.errors import LinkError, StorageError, TelemetryError
from flight.link.pus import is_idle, parse_tm

SCHEMA_VERSION = 1
BUSY_TIMEOUT = 10.0  # seconds a reader or writer waits for the other's lock before giving up
_SCHEMA = """
CREATE TABLE packets (
    id INTEGER PRIMARY KEY, apid INTEGER NOT NULL, seq INTEGER NOT NULL, service INTEGER NOT NULL,
    subtype INTEGER NOT NULL, time REAL NOT NULL, received REAL NOT NULL, vcid INTEGER NOT NULL,
    raw BLOB NOT NULL, UNIQUE (apid, seq, time));
CREATE TABLE hk (
    channel TEXT NOT NULL, time REAL NOT NULL, packet_id INTEGER NOT NULL REFERENCES packets (id), value,
    PRIMARY KEY (channel, time, packet_id)) WITHOUT ROWID;
CREATE TABLE events (
    id INTEGER PRIMARY KEY, packet_id INTEGER NOT NULL REFERENCES packets (id), time REAL NOT NULL,
    event_id INTEGER NOT NULL, name TEXT NOT NULL, severity INTEGER NOT NULL, message TEXT NOT NULL,
    arguments TEXT NOT NULL);
CREATE TABLE commands (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, arguments TEXT NOT NULL, apid INTEGER NOT NULL,
    seq INTEGER NOT NULL, request_id INTEGER NOT NULL, sent REAL NOT NULL, source TEXT NOT NULL);
CREATE INDEX commands_request_id ON commands (request_id);
CREATE TABLE verification (
    id INTEGER PRIMARY KEY, command_id INTEGER REFERENCES commands (id),
    packet_id INTEGER NOT NULL REFERENCES packets (id), request_id INTEGER NOT NULL, stage TEXT NOT NULL,
    ok INTEGER NOT NULL, code INTEGER, field TEXT, step INTEGER, time REAL NOT NULL, received REAL NOT NULL);
CREATE INDEX verification_command ON verification (command_id);
CREATE TABLE reports (
    packet_id INTEGER PRIMARY KEY REFERENCES packets (id), time REAL NOT NULL, service INTEGER NOT NULL,
    subtype INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX reports_kind ON reports (service, subtype, packet_id);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE gap_next (apid INTEGER PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE gap_missing (
    apid INTEGER NOT NULL, seq INTEGER NOT NULL, found REAL NOT NULL, requested REAL,
    attempts INTEGER NOT NULL, PRIMARY KEY (apid, seq)) WITHOUT ROWID;
CREATE TABLE gap_ahead (apid INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (apid, seq)) WITHOUT ROWID;
"""

# TM[1,x]: the subtype names the stage and the outcome.
STAGES = {1: ("acceptance", True), 2: ("acceptance", False), 3: ("start", True), 4: ("start", False),
          5: ("progress", True), 6: ("progress", False), 7: ("completion", True), 8: ("completion", False)}
_STAGE_ORDER = "CASE stage WHEN 'acceptance' THEN 0 WHEN 'start' THEN 1 WHEN 'progress' THEN 2 ELSE 3 END"
_VERIFICATION_LAYOUT = ManagedParamsVerification(bytes_step_id=1, bytes_err_code=1)
_INT64_MAX = 2**63 - 1
_SEVERITIES = frozenset(s.value for s in Severity)  # TM[5,x]: the subtype is the severity


class StoredPacket(NamedTuple):
    """A packet stored for the first time: what the gap tracker needs (VC 0 is realtime)."""

    apid: int
    seq: int
    vcid: int


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What one batch did; ``stored`` is what the gap tracker should observe."""

    stored: tuple[StoredPacket, ...] = ()  # in arrival order
    duplicates: int = 0
    rejected: int = 0  # not PUS TM packets at all: nothing stored
    undecoded: int = 0  # stored, but the source data did not decode (counted in ``rejected_telemetry``)

    @property
    def new(self) -> int:
        return len(self.stored)


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    packet_id: int
    time: float
    event_id: int
    name: str
    severity: Severity
    message: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: int
    name: str
    arguments: dict[str, Any]
    apid: int
    seq: int
    request_id: int
    sent: float
    source: str


@dataclass(frozen=True, slots=True)
class Stage:
    """One verification report about a command."""

    command_id: int | None
    stage: str  # acceptance, start, progress, completion
    ok: bool
    code: int | None  # failure code (flight.supervisor.verification.FailureCode), failures only
    field: str | None  # the offending field's name, failures only
    step: int | None  # progress reports only
    time: float
    received: float


@dataclass(frozen=True, slots=True)
class ReportRecord:
    packet_id: int
    time: float
    service: int
    subtype: int
    body: Any


@dataclass(frozen=True, slots=True)
class _Packet:
    """A packet decoded before the transaction opens, so that the write lock is held only to write.

    ``kind`` names the table its decoded rows go to; ``values`` are those rows' columns, less the
    packet's ID and time: (channel, value) pairs for "hk", one row for the others.
    """

    apid: int
    seq: int
    service: int
    subtype: int
    time: float
    vcid: int
    raw: bytes
    kind: str | None = None  # hk, event, verification, report; None: nothing decoded
    values: Any = None
    undecoded: bool = False


def _to_json(value: Any) -> str:
    """JSON text for a decoded value; raises TelemetryError for what JSON cannot hold."""
    try:
        return json.dumps(_jsonable(value))
    except RecursionError:  # msgpack nests deeper than Python's recursion limit
        raise TelemetryError("record", "nested too deep to store") from None


def _jsonable(value: Any) -> Any:
    # flight.dictionary.types.json_value does not descend into lists, and records nest both ways.
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, dict):
        return {_json_key(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _json_key(key: Any) -> str:
    return key.hex() if isinstance(key, bytes | bytearray) else key if isinstance(key, str) else str(key)


class Archive:
    """The archive file, opened for writing (the station) or for reading (everyone else)."""

    def __init__(self, path: Path | str, dictionary: Dictionary | None = None, *, readonly: bool = False,
                 busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = Path(path)
        self.dictionary = dictionary if dictionary is not None else load_dictionary()
        self.readonly = readonly
        self.counters = Counters("archive")
        self._time = self.dictionary.mission.tm_time
        self._wide_channels = {c.name for c in self.dictionary.telemetry if c.type.name == "u64"}
        try:
            if readonly:
                # mode=ro: a reader can never create, migrate or write the file by mistake.
                self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                             timeout=busy_timeout, isolation_level=None)
            else:
                # isolation_level=None: transactions are ours (BEGIN IMMEDIATE), never implicit.
                self._conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open the archive: {exc}") from None
        try:
            self._open()
        except sqlite3.Error as exc:
            self._conn.close()
            raise StorageError(f"{self.path} is not a usable archive: {exc}") from None
        except StorageError:
            self._conn.close()
            raise

    def _open(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if self.readonly:
            self._check_version(version)
            return
        if self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0] != "wal":
            raise StorageError(f"{self.path}: the archive needs WAL mode, which this file system refuses")
        self._conn.execute("PRAGMA synchronous=FULL")
        with self.transaction() as conn:
            # Checked again under the write lock: another station may have created it meanwhile.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and not conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        # executescript would COMMIT first; one statement at a time stays in this transaction.
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            else:
                self._check_version(version)

    def _check_version(self, version: int) -> None:
        if version != SCHEMA_VERSION:
            what = "not a Zenith archive" if version == 0 else f"archive schema version {version}"
            raise StorageError(f"{self.path}: {what}; this station reads archive schema version {SCHEMA_VERSION}")

    # --- writing ------------------------------------------------------------------------------

    def ingest(self, packets: Iterable[tuple[bytes, int]], received: float) -> IngestResult:
        """Store a batch of packets (each with the VC it came on) in one transaction.

        Garbage never raises: what is not a PUS TM packet is counted and skipped; a packet whose
        source data does not decode is stored all the same, without decoded rows, so that the gap
        tracker does not ask for it again and again. Only a storage failure raises (StorageError).
        """
        decoded: list[_Packet] = []
        rejected = idle = 0
        for raw, vcid in packets:
            raw = bytes(raw)
            if len(raw) >= 2 and is_idle(raw):
                idle += 1
                continue
            try:
                decoded.append(self._decode(raw, vcid))
            except LinkError:
                rejected += 1
        stored: list[StoredPacket] = []
        duplicates = unmatched = 0
        if not decoded:  # nothing to write: spare the fsync
            self._count(rejected=rejected, idle=idle)
            return IngestResult(rejected=rejected)
        with self.transaction() as conn:
            hk: list[tuple[Any, ...]] = []
            events: list[tuple[Any, ...]] = []
            reports: list[tuple[Any, ...]] = []
            for packet in decoded:
                cursor = conn.execute(
                    "INSERT INTO packets (apid, seq, service, subtype, time, received, vcid, raw) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (apid, seq, time) DO NOTHING",
                    (packet.apid, packet.seq, packet.service, packet.subtype, packet.time, received,
                     packet.vcid, packet.raw))
                if not cursor.rowcount:
                    duplicates += 1
                    continue
                packet_id = cursor.lastrowid
                stored.append(StoredPacket(packet.apid, packet.seq, packet.vcid))
                if packet.kind == "hk":
                    hk.extend((channel, packet.time, packet_id, value) for channel, value in packet.values)
                elif packet.kind == "event":
                    events.append((packet_id, packet.time, *packet.values))
                elif packet.kind == "report":
                    reports.append((packet_id, packet.time, packet.service, packet.subtype, packet.values))
                elif packet.kind == "verification":
                    unmatched += not self._store_verification(conn, packet_id, packet, received)
            conn.executemany("INSERT INTO hk (channel, time, packet_id, value) VALUES (?, ?, ?, ?)", hk)
            conn.executemany("INSERT INTO events (packet_id, time, event_id, name, severity, message, arguments) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", events)
            conn.executemany("INSERT INTO reports (packet_id, time, service, subtype, body) VALUES (?, ?, ?, ?, ?)",
                             reports)
        # Counted once committed: a batch that failed to store has changed nothing.
        undecoded = sum(p.undecoded for p in decoded)
        self._count(packets=len(stored), duplicates=duplicates, rejected=rejected, undecoded=undecoded,
                    unmatched=unmatched, idle=idle)
        return IngestResult(tuple(stored), duplicates, rejected, undecoded)

    def _count(self, packets: int = 0, duplicates: int = 0, rejected: int = 0, undecoded: int = 0,
               unmatched: int = 0, idle: int = 0) -> None:
        for name, count in (("packets", packets), ("duplicates", duplicates), ("rejected_packet", rejected),
                            ("rejected_telemetry", undecoded), ("unmatched_verification", unmatched),
                            ("idle", idle)):
            if count:
                self.counters.inc(name, count)

    def _store_verification(self, conn: sqlite3.Connection, packet_id: int, packet: _Packet,
                            received: float) -> bool:
        """Link the report to the latest command with its request ID; False when there is none."""
        request_id, *rest = packet.values
        # Request IDs repeat once the TC sequence count wraps: the latest command is the live one.
        row = conn.execute("SELECT id FROM commands WHERE request_id = ? ORDER BY id DESC LIMIT 1",
                           (request_id,)).fetchone()
        command_id = row[0] if row else None
        conn.execute("INSERT INTO verification (command_id, packet_id, request_id, stage, ok, code, field, step, "
                     "time, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (command_id, packet_id, request_id, *rest, packet.time, received))
        return command_id is not None

    def _decode(self, raw: bytes, vcid: int) -> _Packet:
        """The packet's header fields and its decoded rows; raises a LinkError for a packet to reject."""
        tm = parse_tm(raw, self._time.length)
        head = (tm.apid, tm.seq_count, tm.service, tm.message_subtype, self._time.decode(bytes(tm.timestamp)),
                vcid, raw)
        try:
            kind, values = self._decode_source(tm)
        except TelemetryError:
            return _Packet(*head, undecoded=True)
        return _Packet(*head, kind=kind, values=values)

    def _decode_source(self, tm: PusTm) -> tuple[str | None, Any]:
        service, subtype, data = tm.service, tm.message_subtype, bytes(tm.source_data)
        if (service, subtype) == (3, 25):
            _, values = unpack_report(self.dictionary, data)
            if self._wide_channels:
                # SQLite integers are 64-bit signed: a u64 above that is kept as the nearest float.
                values = {channel: float(value) if channel in self._wide_channels and value > _INT64_MAX
                          else value for channel, value in values.items()}
            return "hk", list(values.items())
        if service == 5 and subtype in _SEVERITIES:
            event, arguments = unpack_event(self.dictionary, data)
            return "event", (event.id, event.name, subtype, event.render(arguments), _to_json(arguments))
        if service == 1 and subtype in STAGES:
            return "verification", _verification(tm, subtype)
        if (service, subtype) in REPORT_SUBTYPES:
            return "report", _to_json(unpack_record(data))
        if (service, subtype) == (17, 2) and data:
            raise TelemetryError("source_data", f"a ping answer carries no data, got {len(data)} octets")
        return None, None

    def record_command(self, name: str, arguments: Mapping[str, Any], apid: int, seq: int, request_id: int,
                       sent: float, source: str = "operator") -> int:
        """Journal a telecommand; record it before it leaves, so that its first report finds it.

        ``request_id`` is the TC's first four octets as an integer,
        ``int.from_bytes(flight.link.pus.request_id(tc), "big")``. Returns the command's ID.
        """
        with self.transaction() as conn:
            cursor = conn.execute("INSERT INTO commands (name, arguments, apid, seq, request_id, sent, source) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                  (name, _to_json(dict(arguments)), apid, seq, request_id, sent, source))
        return cursor.lastrowid

    def get_state(self, key: str, default: Any = None) -> Any:
        row = self._read_one("SELECT value FROM state WHERE key = ?", (key,))
        return json.loads(row[0]) if row else default

    def set_state(self, key: str, value: Any) -> None:
        """Committed and fsynced before it returns: e.g. a TC sequence count is saved before it is used."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO state (key, value) VALUES (?, ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    # --- reading --------------------------------------------------------------------------------

    def latest(self, channels: list[str] | None = None) -> dict[str, tuple[float, Any]]:
        """The newest (time, value) of each channel (of every channel archived when None); a channel
        without values is left out. Newest by packet time: a playback of old data does not hide
        what realtime brought since."""
        names = self._channels() if channels is None else channels
        out = {}
        for name in names:
            row = self._read_one("SELECT time, value FROM hk WHERE channel = ? "
                                 "ORDER BY time DESC, packet_id DESC LIMIT 1", (name,))
            if row:
                out[name] = (row[0], self._hk_value(name, row[1]))
        return out

    def _channels(self) -> list[str]:
        # The distinct channel names by skip-scan of the (channel, time) key: one probe per channel,
        # where SELECT DISTINCT would read every row.
        rows = self.query("WITH RECURSIVE names (channel) AS (SELECT min(channel) FROM hk UNION ALL "
                          "SELECT (SELECT min(channel) FROM hk WHERE channel > names.channel) FROM names "
                          "WHERE names.channel IS NOT NULL) SELECT channel FROM names WHERE channel IS NOT NULL")
        return [row[0] for row in rows]

    def values(self, channel: str, since: float | None = None, until: float | None = None,
               limit: int | None = None) -> list[tuple[float, Any]]:
        """(time, value) of one channel with since <= time <= until, oldest first; with ``limit``, the
        newest ``limit`` of them (still oldest first)."""
        rows = self.query("SELECT time, value FROM hk WHERE channel = ? AND time >= ? AND time <= ? "
                          "ORDER BY time DESC, packet_id DESC LIMIT ?",
                          (channel, -math.inf if since is None else since, math.inf if until is None else until,
                           -1 if limit is None else limit))
        return [(time, self._hk_value(channel, value)) for time, value in reversed(rows)]

    def _hk_value(self, channel: str, value: Any) -> Any:
        if value is None:
            return math.nan  # see the module docstring: NULL is how SQLite keeps NaN
        kind = self.dictionary.channel(channel)
        return bool(value) if kind is not None and kind.type.name == "bool" else value

    def events(self, after_id: int = 0, limit: int | None = None,
               min_severity: Severity | int | None = None) -> list[EventRecord]:
        """Events in arrival order after ``after_id``, so that a console can follow with the last ID."""
        rows = self.query("SELECT id, packet_id, time, event_id, name, severity, message, arguments FROM events "
                          "WHERE id > ? AND severity >= ? ORDER BY id LIMIT ?",
                          (after_id, 0 if min_severity is None else int(min_severity), -1 if limit is None else limit))
        return [EventRecord(*row[:5], Severity(row[5]), row[6], json.loads(row[7])) for row in rows]

    def commands(self, limit: int | None = None) -> list[CommandRecord]:
        """The latest ``limit`` commands (all when None), oldest first."""
        rows = self.query(f"SELECT {_COMMAND_COLUMNS} FROM commands ORDER BY id DESC LIMIT ?",
                          (-1 if limit is None else limit,))
        return [_command(row) for row in reversed(rows)]

    def command_by_id(self, command_id: int) -> CommandRecord | None:
        row = self._read_one(f"SELECT {_COMMAND_COLUMNS} FROM commands WHERE id = ?", (command_id,))
        return _command(row) if row else None

    def stages(self, command_id: int) -> list[Stage]:
        """A command's verification reports in the order they happened on board (stage order where
        the time stamps tie)."""
        rows = self.query("SELECT command_id, stage, ok, code, field, step, time, received FROM verification "
                          f"WHERE command_id = ? ORDER BY time, {_STAGE_ORDER}, step, id", (command_id,))
        return [Stage(row[0], row[1], bool(row[2]), *row[3:]) for row in rows]

    def reports(self, service: int, subtype: int, after_packet_id: int = 0) -> list[ReportRecord]:
        rows = self.query("SELECT packet_id, time, service, subtype, body FROM reports "
                          "WHERE service = ? AND subtype = ? AND packet_id > ? ORDER BY packet_id",
                          (service, subtype, after_packet_id))
        return [ReportRecord(*row[:4], json.loads(row[4])) for row in rows]

    def high_water(self) -> tuple[int, int]:
        """The newest packet ID and the newest command ID: every row the archive gains (values, events,
        reports, verification stages, commands) moves one of them, so a follower that sees both
        unchanged has nothing new to read."""
        row = self._read_one("SELECT (SELECT COALESCE(MAX(id), 0) FROM packets), "
                             "(SELECT COALESCE(MAX(id), 0) FROM commands)", ())
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def packet_count(self) -> int:
        return self.query("SELECT count(*) FROM packets")[0][0]

    def sequence_counts(self, apid: int) -> list[int]:
        return [row[0] for row in self.query("SELECT seq FROM packets WHERE apid = ? ORDER BY seq", (apid,))]

    def _read_one(self, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self.query(sql, parameters)
        return rows[0] if rows else None

    # --- transactions ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic, fsynced unit of writing; for the archive itself and for components that keep
        their own tables in it (the gap tracker). SQLite errors come out as StorageError."""
        conn = self._conn
        if conn.in_transaction:
            raise StorageError("archive transactions do not nest")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot write the archive: {exc}") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StorageError(f"{self.path}: archive write failed: {exc}") from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement, for queries this class does not offer."""
        try:
            return self._conn.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: query failed: {exc}") from None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


_COMMAND_COLUMNS = "id, name, arguments, apid, seq, request_id, sent, source"


def _command(row: tuple[Any, ...]) -> CommandRecord:
    return CommandRecord(row[0], row[1], json.loads(row[2]), *row[3:])


def _verification(tm: PusTm, subtype: int) -> tuple[int, str, bool, int | None, str | None, int | None]:
    """(request ID, stage, ok, failure code, failure field, step) of a TM[1,x] report."""
    try:
        report = Service1Tm.from_tm(tm, _VERIFICATION_LAYOUT)  # tm is parsed already: no second CRC pass
    except Exception as exc:  # spacepackets signals short source data with several exception types
        raise TelemetryError("verification", f"not a verification report: {exc}") from None
    stage, ok = STAGES[subtype]
    notice = report.failure_notice
    step = report.step_id.val if report.step_id is not None else None
    if notice is None:
        return report.tc_req_id.as_u32(), stage, ok, None, None, step
    # The supervisor cuts the field name at 64 octets, possibly inside a UTF-8 sequence.
    return report.tc_req_id.as_u32(), stage, ok, notice.code.val, notice.data.decode("utf-8", "replace"), step

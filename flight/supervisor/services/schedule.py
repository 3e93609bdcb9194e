"""PUS 11 time-based schedule: time-tagged telecommands, released on board when their time comes.

Activities are kept in the state database, so the schedule runs through loss of signal and through
restarts. A due activity is released into the command journal and removed from the schedule in the
same unit of work, then runs like any other command: exactly once, with its own PUS 1 reports.
Insert checks the embedded telecommand against the dictionary at once, so a bad one is refused at
uplink, not discovered at release time in the middle of a pass gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flight.counters import Counters
from flight.dictionary import Dictionary, decode_app_data
from flight.dictionary.model import Command
from flight.dictionary.packing import pack_record
from flight.link.errors import CommandError, LinkError
from flight.link.pus import parse_tc
from flight.supervisor.journal import Journal
from flight.supervisor.state_db import StateDb

if TYPE_CHECKING:
    from flight.supervisor.dispatch import CommandContext, Dispatcher
    from flight.supervisor.services.events import EventReporter
    from flight.supervisor.telemetry import Telemetry

SOURCE = "schedule"


class Schedule:
    def __init__(self, db: StateDb, dictionary: Dictionary, journal: Journal) -> None:
        self.db = db
        self.dictionary = dictionary
        self.journal = journal
        self.counters = Counters("schedule")
        self.load()

    def load(self) -> None:
        """Forget the cached next release time: the schedule changed (or a failed command rolled back)."""
        self._next_known = False
        self._next: float | None = None

    def pending(self) -> int:
        return self.db.conn.execute("SELECT COUNT(*) FROM schedule").fetchone()[0]

    def next_time(self) -> float | None:
        """When the next activity is due; asked at every turn of the loop, so kept until the schedule changes."""
        if not self._next_known:
            self._next = self.db.conn.execute("SELECT MIN(time) FROM schedule").fetchone()[0]
            self._next_known = True
        return self._next

    def insert(self, time: float, packet: bytes, now: float) -> int:
        name = self._command_name(packet, "command")
        cur = self.db.conn.execute("INSERT INTO schedule (time, name, packet, inserted) VALUES (?, ?, ?, ?)",
                                   (time, name, packet, now))
        self.counters.inc("inserted")
        self.load()
        assert cur.lastrowid is not None
        return cur.lastrowid

    def activities(self) -> list[tuple[int, float, str, bytes]]:
        return list(self.db.conn.execute("SELECT id, time, name, packet FROM schedule ORDER BY time, id"))

    def release_due(self, now: float, events: EventReporter) -> int:
        """Inside a unit of work: move every due activity into the journal, in time order."""
        due = self.db.conn.execute("SELECT id, name, packet FROM schedule WHERE time <= ? ORDER BY time, id",
                                   (now,)).fetchall()
        for activity, name, packet in due:
            self.journal.add(packet, SOURCE, now)
            self.db.conn.execute("DELETE FROM schedule WHERE id = ?", (activity,))
            self.counters.inc("executed")
            events.raise_event("SCHEDULE_RELEASED", activity=activity, command=name)
        self.load()
        return len(due)

    def _command_name(self, packet: bytes, where: str) -> str:
        try:
            tc = parse_tc(packet)
            decoded = decode_app_data(self.dictionary, tc.service, tc.message_subtype, tc.app_data)
        except LinkError as exc:
            raise CommandError(where, f"not a valid telecommand: {exc}") from None
        if decoded.command.apid != tc.apid:  # dispatch would refuse it at release: refuse it now
            raise CommandError(where, f"{decoded.command.name} is served on APID {decoded.command.apid}, "
                                      f"not {tc.apid}")
        return decoded.command.name

    # --- commands -------------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher, telemetry: Telemetry, apid: int) -> None:
        def insert(ctx: CommandContext) -> None:
            self.insert(ctx.arguments["time"], ctx.arguments["command"], telemetry.clock.now())

        def delete(ctx: CommandContext) -> None:
            self.db.conn.execute("DELETE FROM schedule WHERE id = ?", (ctx.arguments["activity"],))
            self.counters.inc("deleted")
            self.load()

        def shift(ctx: CommandContext) -> None:
            self.db.conn.execute("UPDATE schedule SET time = MAX(0, time + ?)", (ctx.arguments["offset"],))
            self.load()

        def report(_ctx: CommandContext) -> None:
            rows = [[activity, time, name, packet] for activity, time, name, packet in self.activities()]
            telemetry.emit(apid, 11, 10, pack_record(rows))

        dispatcher.register("SCHEDULE_INSERT", insert, self._check_insert)
        dispatcher.register("SCHEDULE_DELETE", delete, self._check_delete)
        dispatcher.register("SCHEDULE_SHIFT", shift)
        dispatcher.register("SCHEDULE_LIST", report)

    def _check_insert(self, command: Command, arguments: dict[str, Any]) -> None:
        self._command_name(arguments["command"], f"{command.name}.command")

    def _check_delete(self, command: Command, arguments: dict[str, Any]) -> None:
        row = self.db.conn.execute("SELECT 1 FROM schedule WHERE id = ?", (arguments["activity"],)).fetchone()
        if row is None:
            raise CommandError(f"{command.name}.activity", f"no scheduled activity {arguments['activity']}")

"""PUS 3 housekeeping: periodic TM[3,25] reports of the dictionary's structures.

Each structure is enabled or disabled, and has a collection interval, by command; both survive a
restart. A report samples every channel at the moment it is made. After a stall (or a supervisor
that was down) a report goes out once, not once per missed interval.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flight.counters import Counters
from flight.dictionary.model import Command, Dictionary, HousekeepingReport
from flight.dictionary.packing import pack_report
from flight.link.errors import CommandError
from flight.supervisor.clock import Clock
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import Telemetry

if TYPE_CHECKING:
    from flight.supervisor.dispatch import CommandContext, Dispatcher

STATE_KEY = "hk.structures"


class Housekeeping:
    def __init__(self, db: StateDb, dictionary: Dictionary, telemetry: Telemetry, clock: Clock, apid: int,
                 sample: Callable[[], dict[str, Any]]) -> None:
        self.db = db
        self.dictionary = dictionary
        self.telemetry = telemetry
        self.clock = clock
        self.apid = apid
        self.sample = sample
        self.counters = Counters("hk")
        self.load()
        now = clock.now()
        self._due = {r.sid: now for r in dictionary.housekeeping}

    def load(self) -> None:
        """Read each structure's enabled flag and interval (at start, and after a failed command's savepoint)."""
        saved = self.db.get(STATE_KEY, {})
        reports = self.dictionary.housekeeping
        self.enabled = {r.sid: saved.get(str(r.sid), [r.enabled])[0] for r in reports}
        self.interval = {r.sid: saved.get(str(r.sid), [r.enabled, r.interval])[1] for r in reports}

    def due(self) -> bool:
        now = self.clock.now()
        return any(self.enabled[sid] and now >= at for sid, at in self._due.items())

    def tick(self, values: dict[str, Any] | None = None) -> bool:
        """Inside a unit of work: send the reports that are due (of ``values``, when already sampled);
        whether any went."""
        now = self.clock.now()
        sent = False
        for report in self.dictionary.housekeeping:
            if self.enabled[report.sid] and now >= self._due[report.sid]:
                values = values if values is not None else self.sample()
                self._send(report, values)
                self._due[report.sid] = now + self.interval[report.sid]
                sent = True
        return sent

    def _send(self, report: HousekeepingReport, values: dict[str, Any]) -> None:
        self.telemetry.emit(self.apid, 3, 25, pack_report(report, values))
        self.counters.inc("reports")

    def _save(self) -> None:
        self.db.put(STATE_KEY, {str(sid): [self.enabled[sid], self.interval[sid]] for sid in self.enabled})

    # --- commands -------------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher) -> None:
        def enable(ctx: CommandContext, on: bool) -> None:
            sid = ctx.arguments["report"]
            self.enabled[sid] = on
            self._due[sid] = self.clock.now()
            self._save()

        def set_interval(ctx: CommandContext) -> None:
            sid = ctx.arguments["report"]
            self.interval[sid] = ctx.arguments["interval"]
            self._due[sid] = min(self._due[sid], self.clock.now() + self.interval[sid])
            self._save()

        def report_now(ctx: CommandContext) -> None:
            report = self.dictionary.report(ctx.arguments["report"])
            assert report is not None  # checked at acceptance
            self._send(report, self.sample())

        dispatcher.register("HK_ENABLE", lambda ctx: enable(ctx, True), self._check)
        dispatcher.register("HK_DISABLE", lambda ctx: enable(ctx, False), self._check)
        dispatcher.register("HK_SET_INTERVAL", set_interval, self._check)
        dispatcher.register("HK_REPORT_NOW", report_now, self._check)

    def _check(self, command: Command, arguments: dict[str, Any]) -> None:
        if self.dictionary.report(arguments["report"]) is None:
            raise CommandError(f"{command.name}.report", f"no housekeeping structure {arguments['report']}")

"""PUS 20 on-board parameters: get and set, checked against the dictionary, kept across restarts.

A value is checked at acceptance (unknown name, wrong type or out of range is a bad argument, with
the field named), stored in the unit of work that sets it, and announced by PARAMETER_CHANGED.
Services read parameters through :meth:`get`, so a change applies at once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flight.counters import Counters
from flight.dictionary.model import Command, Dictionary, Parameter
from flight.dictionary.packing import pack_record
from flight.link.errors import CommandError, StorageError
from flight.supervisor.state_db import StateDb

if TYPE_CHECKING:
    from flight.supervisor.dispatch import CommandContext, Dispatcher
    from flight.supervisor.services.events import EventReporter
    from flight.supervisor.telemetry import Telemetry


class Parameters:
    def __init__(self, db: StateDb, dictionary: Dictionary) -> None:
        self.db = db
        self.dictionary = dictionary
        self.counters = Counters("params")
        self.load()

    def load(self) -> None:
        """Read the values from the database (at start, and after a failed command's savepoint)."""
        values = {p.name: p.default for p in self.dictionary.parameters}
        for name, text in self.db.conn.execute("SELECT name, value FROM parameters"):
            parameter = self.dictionary.parameter(name)
            if parameter is None:
                continue  # a parameter a newer dictionary dropped: ignore, keep the row
            try:
                values[name] = parameter.type.check(json.loads(text), name)
            except (ValueError, CommandError) as exc:
                raise StorageError(f"stored parameter {name} is invalid: {exc}") from None
        self._values = values

    def get(self, name: str) -> Any:
        return self._values[name]

    def set(self, name: str, value: Any) -> Any:
        """Inside a unit of work; returns the checked value."""
        parameter = self._parameter(name, "name")
        checked = parameter.type.check(value, "value")
        self._values[name] = checked
        self.db.conn.execute("INSERT INTO parameters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                             "SET value = excluded.value", (name, json.dumps(checked)))
        self.counters.inc("set")
        return checked

    def _parameter(self, name: str, where: str) -> Parameter:
        parameter = self.dictionary.parameter(name)
        if parameter is None:
            raise CommandError(where, f"no parameter {name!r}")
        return parameter

    # --- commands -------------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher, telemetry: Telemetry, events: EventReporter, apid: int) -> None:
        def get(ctx: CommandContext) -> None:
            name = ctx.arguments["name"]
            telemetry.emit(apid, 20, 2, pack_record([name, self.get(name)]))

        def set_(ctx: CommandContext) -> None:
            name = ctx.arguments["name"]
            value = self.set(name, ctx.arguments["value"])
            events.raise_event("PARAMETER_CHANGED", name=name, value=str(value))

        dispatcher.register("PARAM_GET", get, self._check)
        dispatcher.register("PARAM_SET", set_, self._check)

    def _check(self, command: Command, arguments: dict[str, Any]) -> None:
        parameter = self._parameter(arguments["name"], f"{command.name}.name")
        if "value" in arguments:
            parameter.type.check(arguments["value"], f"{command.name}.value")

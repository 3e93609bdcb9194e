"""PUS 17 test: the are-you-alive connection test, and a mission test that floods events on purpose."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flight.counters import Counters

if TYPE_CHECKING:
    from flight.supervisor.dispatch import CommandContext, Dispatcher
    from flight.supervisor.services.events import EventReporter
    from flight.supervisor.telemetry import Telemetry


class TestService:
    __test__ = False  # not a pytest class, whatever its name says

    def __init__(self, telemetry: Telemetry, events: EventReporter) -> None:
        self.telemetry = telemetry
        self.events = events
        self.counters = Counters("test")

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register("PING", self._ping)
        dispatcher.register("TEST_EVENTS", self._flood)

    def _ping(self, ctx: CommandContext) -> None:
        self.telemetry.emit(ctx.ref.apid, 17, 2)
        self.counters.inc("pings")

    def _flood(self, ctx: CommandContext) -> None:
        for n in range(ctx.arguments["count"]):
            self.events.raise_event("TEST_EVENT", n=n)

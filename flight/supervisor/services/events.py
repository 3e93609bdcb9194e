"""PUS 5 event reporting: severities, enable/disable by event ID, and flood suppression.

A repeating fault must not fill the downlink: each event ID may send ``events.flood_limit`` reports
per ``events.flood_window`` seconds; the rest are counted, and one EVENTS_SUPPRESSED report says
how many were held back once the window closes. A disabled event is still counted, never sent.
Which events are disabled survives a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flight.counters import Counters
from flight.dictionary.model import Command, Dictionary, Event
from flight.dictionary.packing import pack_event
from flight.link.errors import CommandError
from flight.supervisor.clock import Clock
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import Telemetry

if TYPE_CHECKING:
    from flight.supervisor.dispatch import Dispatcher

DISABLED_KEY = "events.disabled"
SUPPRESSION_REPORT = "EVENTS_SUPPRESSED"


@dataclass
class _Window:
    start: float
    sent: int = 0
    held: int = 0


class EventReporter:
    def __init__(self, db: StateDb, dictionary: Dictionary, telemetry: Telemetry, clock: Clock, apid: int,
                 flood_limit: Callable[[], int], flood_window: Callable[[], float]) -> None:
        self.db = db
        self.dictionary = dictionary
        self.telemetry = telemetry
        self.clock = clock
        self.apid = apid
        self.flood_limit = flood_limit
        self.flood_window = flood_window
        self.load()
        self.counters = Counters("events")
        self._windows: dict[int, _Window] = {}
        self.recent: list[tuple[str, dict[str, Any]]] = []  # for logs and tests; trimmed

    def load(self) -> None:
        """Read which events are disabled (at start, and after a failed command's savepoint)."""
        self.disabled: set[int] = set(self.db.get(DISABLED_KEY, []))

    def raise_event(self, name: str, /, **arguments: Any) -> None:
        """Report an event (inside a unit of work), unless disabled or flooding."""
        event = self.dictionary.event(name)
        if event is None:
            raise KeyError(f"{name} is not an event of the dictionary")
        if event.id in self.disabled:
            self.counters.inc("disabled")
            return
        now = self.clock.now()
        window = self._windows.get(event.id)
        if window is None or now - window.start >= self.flood_window():
            if window is not None:
                self._summarise(event, window)
            window = self._windows[event.id] = _Window(now)
        if window.sent >= self.flood_limit():
            window.held += 1
            self.counters.inc("suppressed")
            return
        window.sent += 1
        self._send(event, arguments)

    def tick(self) -> None:
        """Close the windows that have ended, reporting what each held back (inside a unit)."""
        now, width = self.clock.now(), self.flood_window()
        for event_id, window in list(self._windows.items()):
            if now - window.start >= width:
                del self._windows[event_id]
                event = self.dictionary.event(event_id)
                if event is not None:
                    self._summarise(event, window)

    def due(self) -> bool:
        width = self.flood_window()
        now = self.clock.now()
        return any(w.held and now - w.start >= width for w in self._windows.values())

    def _summarise(self, event: Event, window: _Window) -> None:
        if window.held:
            summary = self.dictionary.event(SUPPRESSION_REPORT)
            assert summary is not None
            self._send(summary, {"event": event.name, "count": window.held, "window": self.flood_window()})

    def _send(self, event: Event, arguments: dict[str, Any]) -> None:
        self.telemetry.emit(self.apid, 5, int(event.severity), pack_event(event, arguments))
        self.counters.inc("generated")
        self.recent.append((event.name, arguments))
        del self.recent[:-100]

    # --- commands -------------------------------------------------------------------------------

    def register(self, dispatcher: Dispatcher) -> None:
        dispatcher.register("EVENT_ENABLE", lambda ctx: self._set(ctx.arguments["event"], True), self._check)
        dispatcher.register("EVENT_DISABLE", lambda ctx: self._set(ctx.arguments["event"], False), self._check)

    def _check(self, command: Command, arguments: dict[str, Any]) -> None:
        if self.dictionary.event(arguments["event"]) is None:
            raise CommandError(f"{command.name}.event", f"no event {arguments['event']}")

    def _set(self, event_id: int, enabled: bool) -> None:
        if enabled:
            self.disabled.discard(event_id)
        else:
            self.disabled.add(event_id)
        self.db.put(DISABLED_KEY, sorted(self.disabled))

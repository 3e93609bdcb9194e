"""PUS 8 function management: the entry point for the payload's functions (PUS TC[8,1]).

A function is a dictionary command with service 8, subtype 1 and a function ID. The core functions
(NOOP, RESET_COUNTERS, LINK_TEST, safe mode, the restart record) are added by the supervisor; the job
manager, SEU protection and the power governor add theirs here too, so each gets its dictionary check
and its count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flight.counters import Counters
from flight.dictionary.model import FUNCTION_MANAGEMENT

if TYPE_CHECKING:
    from flight.supervisor.dispatch import Check, CommandContext, Dispatcher, Handler


class FunctionManagement:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.counters = Counters("functions")

    def add(self, name: str, handler: Handler, check: Check | None = None) -> None:
        """Serve the dictionary's PUS 8,1 function ``name``."""
        command = self.dispatcher.dictionary.command(name)
        if command is None or (command.service, command.subtype) != FUNCTION_MANAGEMENT:
            raise KeyError(f"{name} is not a PUS 8,1 function of the dictionary")

        def perform(ctx: CommandContext) -> object:
            result = handler(ctx)
            self.counters.inc("performed")
            return result

        self.dispatcher.register(name, perform, check)

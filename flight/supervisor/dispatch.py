"""Command dispatch: every telecommand, from the ground, the schedule or a health response, runs here.

Checks come in order, each with its PUS 1 failure reason: the packet (malformed), the dictionary
(unknown command, bad argument with the field named), the command's own acceptance check (a
parameter's type, an event that does not exist), then the mode (not allowed in safe mode). An
accepted command starts, runs, and completes, or fails with an execution error; its effects are
made inside a savepoint, so a failed command leaves nothing half done. A handler may return
:data:`DEFERRED` to complete later itself (a playback completes when its last packet has gone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from spacepackets.ecss.pus_1_verification import RequestId

from flight.counters import Counters
from flight.dictionary import Dictionary, decode_app_data
from flight.dictionary.model import Command
from flight.dictionary.types import json_value
from flight.link.errors import CommandError, LinkError
from flight.link.pus import packet_apid, parse_tc
from flight.supervisor.health.modes import Modes
from flight.supervisor.services.events import EventReporter
from flight.supervisor.state_db import StateDb
from flight.supervisor.verification import QUIET, FailureCode, RequestRef, Verifier

log = logging.getLogger(__name__)
ONBOARD_SOURCES = frozenset({"health"})  # commands the supervisor makes itself: reported by events, not PUS 1


class CommandFailed(Exception):
    """Raised by a handler: the command was accepted but could not be carried out."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class _Deferred:
    def __repr__(self) -> str:
        return "DEFERRED"


DEFERRED = _Deferred()


@dataclass
class CommandContext:
    ref: RequestRef
    command: Command
    arguments: dict[str, Any]
    source: str  # ground, schedule, health
    verifier: Verifier

    def progress(self, step: int) -> None:
        self.verifier.progress(self.ref, step)


Handler = Callable[[CommandContext], object]
Check = Callable[[Command, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one telecommand, for logs and tests."""

    apid: int
    sequence_count: int
    name: str | None
    source: str
    arguments: dict[str, Any] = field(default_factory=dict)
    failure: FailureCode | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"apid": self.apid, "sequence_count": self.sequence_count, "name": self.name,
                "source": self.source, "arguments": json_value(self.arguments),
                "failure": self.failure.name.lower() if self.failure else None, "reason": self.reason}


class Dispatcher:
    def __init__(self, db: StateDb, dictionary: Dictionary, verifier: Verifier, events: EventReporter,
                 modes: Modes) -> None:
        self.db = db
        self.dictionary = dictionary
        self.verifier = verifier
        self.events = events
        self.modes = modes
        self.counters = Counters("cmd")
        self._handlers: dict[str, tuple[Handler, Check | None]] = {}
        # Called after a failed handler's savepoint is rolled back: what services keep in memory
        # must be read again from the database, or it would keep the failed command's effects.
        self.reload: list[Callable[[], None]] = []

    def register(self, name: str, handler: Handler, check: Check | None = None) -> None:
        """Serve a dictionary command; ``check`` validates its arguments further, at acceptance."""
        if self.dictionary.command(name) is None:
            raise KeyError(f"{name} is not a command of the dictionary")
        if name in self._handlers:
            raise KeyError(f"{name} already has a handler")
        self._handlers[name] = (handler, check)

    def unserved(self) -> list[str]:
        return [c.name for c in self.dictionary.commands if c.name not in self._handlers]

    def dispatch(self, packet: bytes, source: str) -> Outcome:
        """Run one telecommand inside the caller's unit of work."""
        try:
            tc = parse_tc(packet)
        except LinkError as exc:
            apid = packet_apid(packet) or 0
            if len(packet) >= 4:  # a request ID can still be read: tell the ground what became of it
                # ... on the mission's own APID: the garbage's may be idle (0x7FF) or one nobody reads.
                core = self.dictionary.mission.apids.get("core", 0)
                self._reject(RequestRef(bytes(packet[:4]), core, 0), FailureCode.MALFORMED_PACKET, exc.field,
                             "?", str(exc))
            else:
                self.counters.inc("rejected")
            return Outcome(apid, 0, None, source, failure=FailureCode.MALFORMED_PACKET, reason=str(exc))
        quiet = QUIET if source in ONBOARD_SOURCES else 0
        ref = RequestRef(RequestId.from_pus_tc(tc).pack(), tc.apid, tc.pus_tc_sec_header.ack_flags | quiet)
        try:
            decoded = decode_app_data(self.dictionary, tc.service, tc.message_subtype, tc.app_data)
            if decoded.command.apid != tc.apid:
                # Addressed to another application: not ours to run, and its reports would go out on
                # an APID nobody reads (0x7FF is idle); the refusal goes on the command's own.
                ref = replace(ref, apid=decoded.command.apid)
                raise CommandError("apid", f"{decoded.command.name} is served on APID {decoded.command.apid}, "
                                           f"not {tc.apid}")
            handler, check = self._handlers.get(decoded.command.name, (None, None))
            if check is not None:
                check(decoded.command, decoded.arguments)
        except CommandError as exc:
            code = FailureCode.UNKNOWN_COMMAND if exc.field in ("opcode", "apid") else FailureCode.BAD_ARGUMENT
            self._reject(ref, code, exc.field, f"PUS {tc.service},{tc.message_subtype}", str(exc))
            return Outcome(tc.apid, tc.seq_count, None, source, failure=code, reason=str(exc))
        command, arguments = decoded.command, decoded.arguments
        outcome = Outcome(tc.apid, tc.seq_count, command.name, source, arguments)
        if not self.modes.allows(command):
            self.counters.inc("not_allowed")
            reason = f"{command.name} is not allowed in {self.modes.mode.name} mode"
            self._reject(ref, FailureCode.NOT_ALLOWED, "mode", command.name, reason)
            return replace(outcome, failure=FailureCode.NOT_ALLOWED, reason=reason)
        self.counters.inc("accepted")
        self.verifier.accepted(ref)
        if handler is None:
            return self._fail(outcome, ref, "handler", "no handler on board")
        self.verifier.started(ref)
        context = CommandContext(ref, command, arguments, source, self.verifier)
        try:
            with self.verifier.telemetry.savepoint("command"):
                result = handler(context)
        except CommandFailed as exc:
            self._reload()
            return self._fail(outcome, ref, exc.field, exc.reason)
        except Exception as exc:  # a handler bug fails its command, never the supervisor
            self._reload()
            log.exception("handler of %s raised", command.name)
            return self._fail(outcome, ref, "handler", f"{type(exc).__name__}: {exc}")
        if result is not DEFERRED:
            self.complete(ref)
        return outcome

    def _reload(self) -> None:
        """After a failed handler's savepoint is undone: what services keep in memory is read again."""
        for reload in self.reload:
            reload()

    def complete(self, ref: RequestRef) -> None:
        self.counters.inc("completed")
        self.verifier.completed(ref)

    def _fail(self, outcome: Outcome, ref: RequestRef, field_name: str, reason: str) -> Outcome:
        self.counters.inc("failed")
        self.verifier.completion_failed(ref, FailureCode.EXECUTION_ERROR, field_name)
        self.events.raise_event("COMMAND_FAILED", command=outcome.name or "?", reason=reason[:200])
        return replace(outcome, failure=FailureCode.EXECUTION_ERROR, reason=reason)

    def _reject(self, ref: RequestRef, code: FailureCode, field_name: str, what: str, reason: str) -> None:
        self.counters.inc("rejected")
        self.verifier.acceptance_failed(ref, code, field_name)
        self.events.raise_event("COMMAND_REJECTED", command=what, reason=reason[:200])

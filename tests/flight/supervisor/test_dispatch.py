"""Command dispatch: every command served, checks in order with their PUS 1 reason codes, savepoints."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from flight.link.pus import build_tc
from flight.supervisor.dispatch import Dispatcher
from flight.supervisor.verification import ACK_ACCEPTANCE, ACK_COMPLETION, ACK_START, FailureCode

from ._harness import (
    ACCEPT_FAILED,
    ACCEPTED,
    COMPLETED,
    CORE,
    DICTIONARY,
    FAILED,
    STARTED,
    Harness,
    Verdict,
    events,
    verdicts,
)


def fn(function_id: int, arguments: list[Any] | None = None) -> bytes:
    """PUS 8,1 application data: the function ID, then the msgpack array of arguments."""
    return function_id.to_bytes(2, "big") + (msgpack.packb(arguments) if arguments is not None else b"")


def test_every_dictionary_command_has_a_handler(harness: Harness) -> None:
    assert harness.supervisor.dispatcher.unserved() == []


def test_unserved_lists_what_nobody_registered(harness: Harness) -> None:
    s = harness.supervisor
    bare = Dispatcher(s.db, DICTIONARY, s.verifier, s.events, s.modes)
    assert bare.unserved() == [c.name for c in DICTIONARY.commands]
    bare.register("PING", lambda ctx: None)
    assert "PING" not in bare.unserved()
    with pytest.raises(KeyError, match="already has a handler"):
        bare.register("PING", lambda ctx: None)
    with pytest.raises(KeyError, match="not a command"):
        bare.register("SELF_DESTRUCT", lambda ctx: None)


@pytest.mark.parametrize(("flags", "expected"), [
    (0, []),
    (ACK_ACCEPTANCE, [ACCEPTED]),
    (ACK_START, [STARTED]),
    (ACK_COMPLETION, [COMPLETED]),
    (ACK_ACCEPTANCE | ACK_COMPLETION, [ACCEPTED, COMPLETED]),
    (0b1111, [ACCEPTED, STARTED, COMPLETED]),
])
def test_success_reports_obey_the_ack_flags(harness: Harness, flags: int, expected: list[int]) -> None:
    tc = harness.command("NOOP", ack=flags)
    [outcome] = harness.uplink(tc)
    assert outcome.failure is None and outcome.name == "NOOP" and outcome.source == "ground"
    assert [v.subtype for v in verdicts(harness.downlink(), tc)] == expected
    assert harness.counter("cmd.accepted") == harness.counter("cmd.completed") == 1


@pytest.mark.parametrize("flags", [0, 0b1111])
def test_failures_are_reported_whatever_the_ack_flags(harness: Harness, flags: int) -> None:
    tc = build_tc(CORE, 8, 1, fn(999), seq_count=5, ack_flags=flags)
    harness.uplink(tc)
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.UNKNOWN_COMMAND, "opcode")]


@pytest.mark.parametrize("tc", [
    build_tc(CORE, 8, 1, fn(999)),  # no such function
    build_tc(CORE, 200, 1),  # no such service
    build_tc(CORE, 17, 99),  # no such subtype
], ids=["function", "service", "subtype"])
def test_an_unknown_opcode_is_unknown_command_naming_the_opcode(harness: Harness, tc: bytes) -> None:
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.UNKNOWN_COMMAND
    tms = harness.downlink()
    assert verdicts(tms, tc) == [Verdict(ACCEPT_FAILED, FailureCode.UNKNOWN_COMMAND, "opcode")]
    assert harness.counter("cmd.rejected") == 1 and harness.counter("cmd.accepted") == 0
    [(_, rejected)] = events(tms, "COMMAND_REJECTED")
    assert "no command for PUS" in rejected["reason"]


PARAM_SET = (20, 3)
BAD_ARGUMENTS = {
    "wrong type": (PARAM_SET, msgpack.packb(["events.flood_limit", "many"]), "PARAM_SET.value"),
    "float for an integer": (PARAM_SET, msgpack.packb(["events.flood_limit", 2.5]), "PARAM_SET.value"),
    "below the minimum": (PARAM_SET, msgpack.packb(["events.flood_limit", 0]), "PARAM_SET.value"),
    "above the maximum": (PARAM_SET, msgpack.packb(["store.max_packets", 2**32]), "PARAM_SET.value"),
    "unknown parameter": (PARAM_SET, msgpack.packb(["no.such", 1]), "PARAM_SET.name"),
    "truncated msgpack": (PARAM_SET, msgpack.packb(["events.flood_limit", 3])[:-3], "PARAM_SET"),
    "too few arguments": (PARAM_SET, msgpack.packb(["events.flood_limit"]), "PARAM_SET"),
    "not an array": (PARAM_SET, msgpack.packb({"name": "events.flood_limit"}), "PARAM_SET"),
    "arguments to a command without": ((17, 1), msgpack.packb([1]), "PING"),
    "out of range interval": ((3, 31), msgpack.packb([1, 0.01]), "HK_SET_INTERVAL.interval"),
    "enum code unknown": ((8, 1), fn(2, [99]), "RESET_COUNTERS.service"),
    "string too long": ((8, 1), fn(10, ["x" * 65]), "SAFE_MODE_ENTER.reason"),
    "function ID cut short": ((8, 1), b"\x00", "function_id"),
}


@pytest.mark.parametrize(("opcode", "app_data", "field"), BAD_ARGUMENTS.values(), ids=BAD_ARGUMENTS.keys())
def test_bad_arguments_are_rejected_naming_the_field(harness: Harness, opcode: tuple[int, int], app_data: bytes,
                                                     field: str) -> None:
    tc = build_tc(CORE, *opcode, app_data, seq_count=9)
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.BAD_ARGUMENT
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.BAD_ARGUMENT, field)]
    assert harness.supervisor.parameters.get("events.flood_limit") == 20  # nothing ran
    assert harness.db.conn.execute("SELECT COUNT(*) FROM parameters").fetchone()[0] == 0


def corrupt_crc(packet: bytes) -> bytes:
    return packet[:-1] + bytes([packet[-1] ^ 0xFF])


def as_telemetry(packet: bytes) -> bytes:
    return bytes([packet[0] & ~0x10]) + packet[1:]


def without_secondary_header(packet: bytes) -> bytes:
    return bytes([packet[0] & ~0x08]) + packet[1:]


@pytest.mark.parametrize(("damage", "field"), [
    (corrupt_crc, "pus"), (as_telemetry, "packet_type"), (without_secondary_header, "secondary_header_flag"),
])
def test_a_malformed_packet_is_reported_as_such(harness: Harness, damage: Any, field: str) -> None:
    tc = damage(harness.command("PING"))
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.MALFORMED_PACKET and outcome.name is None
    assert verdicts(harness.downlink(), tc) == [Verdict(ACCEPT_FAILED, FailureCode.MALFORMED_PACKET, field)]
    assert harness.counter("cmd.rejected") == 1 and harness.counter("test.pings") == 0


def test_a_packet_too_short_for_a_request_id_is_counted_without_a_report(harness: Harness) -> None:
    s = harness.supervisor
    harness.downlink()
    with s.unit():
        outcome = s.dispatcher.dispatch(b"\x18\x10\xc0", "ground")
    assert outcome.failure is FailureCode.MALFORMED_PACKET
    assert harness.counter("cmd.rejected") == 1
    assert harness.downlink() == []  # no request ID to report on


def test_safe_mode_refuses_non_essential_commands_and_runs_essential_ones(harness: Harness) -> None:
    harness.ok("SAFE_MODE_ENTER", {"reason": "test"})
    harness.downlink()
    insert = harness.command("SCHEDULE_INSERT", {"time": 2e9, "command": harness.command("NOOP")})
    flood = harness.command("TEST_EVENTS", {"count": 1})
    for tc in (insert, flood):
        [outcome] = harness.uplink(tc)
        assert outcome.failure is FailureCode.NOT_ALLOWED
    tms = harness.downlink()
    for tc in (insert, flood):
        assert verdicts(tms, tc) == [Verdict(ACCEPT_FAILED, FailureCode.NOT_ALLOWED, "mode")]
    assert harness.counter("cmd.not_allowed") == 2
    assert harness.supervisor.schedule.pending() == 0
    assert events(tms, "TEST_EVENT") == []
    ping = harness.command("PING")
    harness.uplink(ping)
    assert [v.subtype for v in verdicts(harness.downlink(), ping)] == [ACCEPTED, STARTED, COMPLETED]
    harness.ok("SAFE_MODE_EXIT")
    assert harness.send("TEST_EVENTS", {"count": 1}).failure is None


def raising_on(harness: Harness, monkeypatch: pytest.MonkeyPatch, event: str, error: BaseException,
               after: int = 0) -> None:
    """Make raising ``event`` fail with ``error`` once it has been raised ``after`` times."""
    original = harness.supervisor.events.raise_event
    seen = [0]

    def raise_event(name: str, /, **arguments: Any) -> None:
        if name == event:
            seen[0] += 1
            if seen[0] > after:
                raise error
        original(name, **arguments)

    monkeypatch.setattr(harness.supervisor.events, "raise_event", raise_event)


def test_a_handler_that_raises_fails_its_command_and_its_database_effects_are_rolled_back(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    raising_on(harness, monkeypatch, "PARAMETER_CHANGED", RuntimeError("a handler bug"))
    tc = harness.command("PARAM_SET", {"name": "events.flood_limit", "value": 3})
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.EXECUTION_ERROR and "a handler bug" in outcome.reason
    tms = harness.downlink()
    assert verdicts(tms, tc) == [Verdict(ACCEPTED), Verdict(STARTED),
                                 Verdict(FAILED, FailureCode.EXECUTION_ERROR, "handler")]
    [(_, failed)] = events(tms, "COMMAND_FAILED")
    assert failed["command"] == "PARAM_SET" and "RuntimeError: a handler bug" in failed["reason"]
    assert harness.db.conn.execute("SELECT COUNT(*) FROM parameters").fetchone()[0] == 0
    assert harness.supervisor.parameters.get("events.flood_limit") == 20  # memory agrees with the database
    assert harness.counter("cmd.failed") == 1 and harness.counter("cmd.completed") == 0


def test_telemetry_of_a_failed_handler_is_neither_stored_nor_sent_and_leaves_no_gap(
        harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.downlink()
    before = harness.stored()
    raising_on(harness, monkeypatch, "TEST_EVENT", RuntimeError("third time unlucky"), after=2)
    [outcome] = harness.uplink(harness.command("TEST_EVENTS", {"count": 5}))
    assert outcome.failure is FailureCode.EXECUTION_ERROR
    sent = harness.downlink()
    assert events(sent, "TEST_EVENT") == []  # the two made before the failure went with it
    stored = harness.stored()[len(before):]
    assert [tm.raw for tm in stored] == [tm.raw for tm in sent]  # nothing sent that is not stored
    core = [tm.seq for tm in before + stored if tm.apid == CORE]
    assert core == list(range(len(core)))  # and the sequence counts have no hole
    assert harness.supervisor.store.count == len(before) + len(stored)


def test_outcomes_are_json_for_the_log(harness: Harness) -> None:
    outcome = harness.send("LINK_TEST", {"payload": b"\x00\xff"})
    assert json.loads(json.dumps(outcome.as_dict())) == {
        "apid": CORE, "sequence_count": 0, "name": "LINK_TEST", "source": "ground",
        "arguments": {"payload": "00ff"}, "failure": None, "reason": ""}
    bad = harness.send("PARAM_GET", {"name": "no.such"})
    assert bad.as_dict()["failure"] == "bad_argument"


@pytest.mark.parametrize("apid", [CORE + 1, 0x7FF, 300])
def test_a_command_for_another_apid_is_refused_and_reported_on_its_own(harness: Harness, apid: int) -> None:
    tc = build_tc(apid, 17, 1, seq_count=3)  # PING, addressed elsewhere
    [outcome] = harness.uplink(tc)
    assert outcome.failure is FailureCode.UNKNOWN_COMMAND
    tms = harness.downlink()
    assert verdicts(tms, tc) == [Verdict(ACCEPT_FAILED, FailureCode.UNKNOWN_COMMAND, "apid")]
    assert {tm.apid for tm in tms if tm.service == 1} == {CORE}
    assert not [tm for tm in tms if tm.service == 17]  # it did not run


def test_the_supervisors_own_commands_send_no_verification_reports(harness: Harness) -> None:
    harness.downlink()
    own = build_tc(CORE, 8, 1, fn(1), seq_count=0)  # NOOP with the request ID of a ground command
    with harness.supervisor.unit():
        outcome = harness.supervisor.dispatcher.dispatch(own, "health")
    assert outcome.failure is None and outcome.name == "NOOP"
    assert [tm for tm in harness.downlink() if tm.service == 1] == []
    assert harness.counter("verification.onboard_unreported") == 3  # acceptance, start, completion

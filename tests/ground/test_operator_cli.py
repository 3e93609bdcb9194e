"""``ground station|send|tlm|events|history|schedule`` end to end, and the typed ``key=value`` arguments.

The commands run in this process (``ground.cli.main``) against one stack shared by the module.
"""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flight.dictionary import load_dictionary
from flight.dictionary.model import Argument
from flight.dictionary.types import TYPE_NAMES, ValueType
from flight.link.errors import CommandError
from flight.mission_config import load_mission
from ground.api import StationClient
from ground.cli import main
from ground.iv_state import new_key_file
from ground.operator_cli import octets_from_hex, parse_arguments, parse_value
from ground.station import Station
from ground.station_config import ground_settings
from hil.ports import free_base_port
from hil.stack import Stack, StackOptions, mission_text

DICTIONARY = load_dictionary()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(StackOptions(out=tmp_path_factory.mktemp("cli"))) as stack, stack.client() as gs:
        # Something for every listing: housekeeping, events of two severities, a failed command.
        assert gs.send("TEST_EVENTS", count=3, timeout=20).completed
        assert not gs.send("PARAM_SET", name="no.such.parameter", value=1, timeout=20).ok
        gs.send("HK_REPORT_NOW", report=1, timeout=20)
        gs.await_tlm("cmd.completed", lambda n: n >= 1, timeout=10)
        gs.assert_event("COMMAND_REJECTED", timeout=10)
        yield stack


@pytest.fixture(scope="module")
def gs(stack: Stack) -> Iterator[StationClient]:
    with stack.client() as client:
        yield client


@pytest.fixture
def config(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "200")  # rich tables at full width, not folded to 80 columns
    return str(stack.mission_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def command_count(gs: StationClient) -> int:
    return gs.archive.query("SELECT COUNT(*) FROM commands")[0][0]


# --- ground send ---------------------------------------------------------------------------------


def test_send_prints_the_three_stages_and_exits_0(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "PING")
    assert code == 0
    assert out.splitlines() == ["PING: acceptance ok", "PING: start ok", "PING: completion ok"]


def test_send_with_typed_arguments(capsys: pytest.CaptureFixture[str], config: str, gs: StationClient) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "PARAM_SET", "name=events.flood_limit", "value=0x20")
    assert code == 0 and "PARAM_SET: completion ok" in out
    assert gs.history(1)[0][0].arguments == {"name": "events.flood_limit", "value": 32}


def test_a_failure_report_exits_1_and_names_the_field(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "PARAM_SET", "name=no.such.parameter", "value=1")
    assert code == 1
    assert "PARAM_SET: acceptance FAILED: bad argument (PARAM_SET.name)" in out


@pytest.mark.parametrize(("arguments", "named"), [
    (["NO_SUCH_COMMAND"], "unknown command 'NO_SUCH_COMMAND'"),
    (["TEST_EVENTS", "count=many"], "TEST_EVENTS.count: 'many' is not a u16"),
    (["TEST_EVENTS", "count"], "TEST_EVENTS.count: arguments are key=value"),
    (["TEST_EVENTS", "number=3"], "TEST_EVENTS.number: unknown argument (known: count)"),
    (["TEST_EVENTS", "count=0"], "TEST_EVENTS.count: 0 is below the minimum 1"),
    (["HK_SET_INTERVAL", "report=1", "interval=soon"], "HK_SET_INTERVAL.interval: 'soon' is not a f32"),
    (["LINK_TEST", "payload=xyz"], "LINK_TEST.payload: 'xyz' is not a bytes"),
    (["HK_SET_INTERVAL", "report=1"], "HK_SET_INTERVAL.interval: missing argument"),
])
def test_a_mistake_exits_2_before_anything_is_sent(capsys: pytest.CaptureFixture[str], config: str,
                                                   gs: StationClient, arguments: list[str], named: str) -> None:
    before = command_count(gs)
    code, out, err = run(capsys, "send", "--config", config, *arguments)
    assert code == 2
    assert err.startswith("ground send: error: ") and named in err
    assert out == ""
    assert command_count(gs) == before


def test_send_json_prints_one_object_per_stage(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "--json", "NOOP")
    assert code == 0
    lines = json_lines(out)
    assert [(line["command"], line["stage"], line["ok"]) for line in lines] == \
        [("NOOP", "acceptance", True), ("NOOP", "start", True), ("NOOP", "completion", True)]
    assert all(isinstance(line["time"], float) and line["code"] is None for line in lines)


def test_send_json_failure(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "--json", "PARAM_SET", "name=no.such", "value=true")
    assert code == 1
    [line] = json_lines(out)
    assert (line["stage"], line["ok"], line["code"], line["field"]) == ("acceptance", False, 3, "PARAM_SET.name")


def test_send_wait_none_says_it_is_queued(capsys: pytest.CaptureFixture[str], config: str,
                                          gs: StationClient) -> None:
    code, out, _ = run(capsys, "send", "--config", config, "--wait", "none", "NOOP")
    assert code == 0
    assert out.startswith("NOOP: queued for uplink (command ")
    command_id = int(out.split("command ")[1].rstrip(")\n"))
    assert gs.archive.command_by_id(command_id).name == "NOOP"


def test_send_without_a_station_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "zenith.toml"
    path.write_text(f"base_port = {free_base_port()}\n")
    code, _, err = run(capsys, "send", "--config", str(path), "PING")
    assert code == 2
    assert "ground send: error: cannot read the operator token" in err


# --- the archive's listings --------------------------------------------------------------------------


def test_tlm_shows_the_latest_values_as_a_table(capsys: pytest.CaptureFixture[str], config: str,
                                                gs: StationClient) -> None:
    latest = gs.latest()  # before the command: reports that land meanwhile add channels, never take any away
    code, out, _ = run(capsys, "tlm", "--config", config)
    assert code == 0
    assert "telemetry" in out and "channel" in out and "units" in out
    assert latest  # the fixture asked for a housekeeping report
    for name in latest:
        assert name in out
    row = next(line for line in out.splitlines() if " health.mode " in line)
    assert "NOMINAL" in row


def test_tlm_json_gives_the_chosen_channels(capsys: pytest.CaptureFixture[str], config: str,
                                            gs: StationClient) -> None:
    channels = ["cmd.completed", "health.mode"]
    before = gs.latest(channels)  # reports keep landing: the command's values lie between these two reads
    code, out, _ = run(capsys, "tlm", "--config", config, "--json", *channels)
    after = gs.latest(channels)
    assert code == 0
    lines = json_lines(out)
    assert {line["channel"] for line in lines} == set(channels)
    for line in lines:
        name, t = line["channel"], line["time"]
        assert before[name][0] <= t <= after[name][0]
        assert gs.archive.values(name, since=t, until=t)[-1] == (t, line["value"])  # the archive's value then


def test_tlm_of_an_unknown_channel_exits_2(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, err = run(capsys, "tlm", "--config", config, "cmd.completed", "no.such.channel")
    assert code == 2 and out == ""
    assert "no telemetry channel 'no.such.channel'" in err


def test_events_limit_shows_the_newest(capsys: pytest.CaptureFixture[str], config: str, gs: StationClient) -> None:
    code, out, _ = run(capsys, "events", "--config", config, "--json", "--limit", "2")
    assert code == 0
    lines = json_lines(out)
    newest = gs.events()[-2:]
    assert [line["id"] for line in lines] == [e.id for e in newest]
    assert [(line["name"], line["severity"], line["message"]) for line in lines] == \
        [(e.name, e.severity.name.lower(), e.message) for e in newest]


def test_events_as_a_listing(capsys: pytest.CaptureFixture[str], config: str, gs: StationClient) -> None:
    code, out, _ = run(capsys, "events", "--config", config, "--limit", "100")
    assert code == 0
    events = gs.events()
    assert len(out.splitlines()) == len(events)
    assert "TEST_EVENT" in out and "test event 2" in out
    assert "COMMAND_REJECTED" in out and "LOW" in out


def test_events_severity_filters(capsys: pytest.CaptureFixture[str], config: str, gs: StationClient) -> None:
    code, out, _ = run(capsys, "events", "--config", config, "--json", "--severity", "low", "--limit", "1000")
    assert code == 0
    lines = json_lines(out)
    assert lines and all(line["severity"] != "info" for line in lines)
    assert [line["id"] for line in lines] == [e.id for e in gs.events() if e.severity.name != "INFO"]


def test_history_json_lists_commands_with_their_stages(capsys: pytest.CaptureFixture[str], config: str,
                                                       gs: StationClient) -> None:
    code, out, _ = run(capsys, "history", "--config", config, "--json", "--limit", "3")
    assert code == 0
    lines = json_lines(out)
    newest = gs.history(3)
    assert [(line["id"], line["name"], line["source"]) for line in lines] == \
        [(c.id, c.name, c.source) for c, _ in newest]
    assert [len(line["stages"]) for line in lines] == [len(stages) for _, stages in newest]


def test_history_table_shows_each_verification(capsys: pytest.CaptureFixture[str], config: str) -> None:
    code, out, _ = run(capsys, "history", "--config", config, "--limit", "1000")
    assert code == 0
    assert "command history" in out
    assert "TEST_EVENTS count=3" in out and "acceptance ok, start ok, completion ok" in out
    assert "acceptance FAILED: bad argument (PARAM_SET.name)" in out


# --- ground schedule -----------------------------------------------------------------------------


def _activities(capsys: pytest.CaptureFixture[str], config: str) -> list[dict[str, Any]]:
    code, out, _ = run(capsys, "schedule", "list", "--config", config, "--json")
    assert code == 0
    return json_lines(out)


def test_schedule_add_list_and_delete(capsys: pytest.CaptureFixture[str], config: str, gs: StationClient) -> None:
    before = {a["activity"] for a in _activities(capsys, config)}
    asked = time.time()
    code, out, _ = run(capsys, "schedule", "add", "--config", config, "--in", "3600", "NOOP")
    assert code == 0 and "completion ok" in out
    insert, stages = gs.history(1)[0]
    assert insert.name == "SCHEDULE_INSERT" and stages[-1].stage == "completion"
    # On the spacecraft clock as housekeeping reports it: at rate 1, the ground's own within the link delay.
    assert asked + 3600 - 1.0 <= insert.arguments["time"] <= time.time() + 3600 + 1.0
    inner = gs.history(2)[0][0]
    assert (inner.name, inner.source) == ("NOOP", "schedule")

    added = [a for a in _activities(capsys, config) if a["activity"] not in before]
    assert len(added) == 1
    activity = added[0]
    assert activity["command"] == "NOOP"
    assert activity["time"] == pytest.approx(insert.arguments["time"], abs=1e-3)

    code, out, _ = run(capsys, "schedule", "list", "--config", config)
    assert code == 0
    row = next(line for line in out.splitlines() if f" {activity['activity']} " in line)
    assert "NOOP" in row

    code, out, _ = run(capsys, "schedule", "delete", "--config", config, str(activity["activity"]))
    assert code == 0 and "SCHEDULE_DELETE: completion ok" in out
    assert activity["activity"] not in {a["activity"] for a in _activities(capsys, config)}


def test_schedule_add_at_a_time_with_arguments(capsys: pytest.CaptureFixture[str], config: str,
                                               gs: StationClient) -> None:
    at = time.time() + 7200.25
    code, _, _ = run(capsys, "schedule", "add", "--config", config, "--at", repr(at), "TEST_EVENTS", "count=2")
    assert code == 0
    assert gs.history(1)[0][0].arguments["time"] == at
    inner = gs.history(2)[0][0]
    assert (inner.name, inner.arguments) == ("TEST_EVENTS", {"count": 2})
    mine = [a for a in _activities(capsys, config) if a["time"] == pytest.approx(at, abs=1e-3)]
    assert [a["command"] for a in mine] == ["TEST_EVENTS"]
    code, _, _ = run(capsys, "schedule", "delete", "--config", config, str(mine[0]["activity"]))
    assert code == 0


def test_schedule_add_checks_the_command_before_sending(capsys: pytest.CaptureFixture[str], config: str,
                                                        gs: StationClient) -> None:
    before = command_count(gs)
    code, _, err = run(capsys, "schedule", "add", "--config", config, "--in", "60", "TEST_EVENTS", "count=x")
    assert code == 2 and "TEST_EVENTS.count" in err
    assert command_count(gs) == before


# --- against a station with no link: every wait times out -------------------------------------------


@pytest.fixture
def lonely_station(tmp_path: Path) -> Iterator[Path]:
    """A station with nobody at the other end of its link, run in a thread (which its archive needs)."""
    new_key_file(tmp_path / "keys.json")
    path = tmp_path / "zenith.toml"
    path.write_text(mission_text(free_base_port(), StackOptions(out=tmp_path)))
    mission = load_mission(path)
    ready, stop = threading.Event(), threading.Event()

    def serve() -> None:
        station = Station(mission, DICTIONARY, ground_settings(mission), out=io.StringIO())
        ready.set()
        try:
            while not stop.is_set():
                station.step(0.01)
        finally:
            station.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield path
    stop.set()
    thread.join()


def test_a_timeout_exits_1(capsys: pytest.CaptureFixture[str], lonely_station: Path) -> None:
    code, out, _ = run(capsys, "send", "--config", str(lonely_station), "--timeout", "0.2", "PING")
    assert code == 1
    assert "timeout:" in out and "no report" in out
    code, out, _ = run(capsys, "send", "--config", str(lonely_station), "--json", "--timeout", "0.2", "PING")
    assert code == 1
    assert "no report" in json_lines(out)[0]["timeout"]


# --- ground station ------------------------------------------------------------------------------


def test_ground_station_runs_for_its_duration(tmp_path: Path) -> None:
    new_key_file(tmp_path / "keys.json")
    path = tmp_path / "zenith.toml"
    path.write_text(mission_text(free_base_port(), StackOptions(out=tmp_path)))
    done = subprocess.run([sys.executable, "-m", "ground.cli", "station", "--config", str(path), "--duration",
                           "0.3"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ground: station up")
    assert "counters" in json.loads(done.stdout.splitlines()[-1])
    assert stat.S_IMODE((tmp_path / "ground.token").stat().st_mode) == 0o600
    assert (tmp_path / "ground-archive.db").exists()


# --- key=value → typed values --------------------------------------------------------------------

GOOD: dict[str, list[tuple[str, Any]]] = {
    "u8": [("42", 42), ("0x2A", 42), ("0b101", 5), ("0o17", 15), ("255", 255)],
    "u16": [("65535", 65535), ("0xffff", 65535)],
    "u32": [("0x10", 16)],
    "u64": [("18446744073709551615", 2**64 - 1)],
    "i8": [("-3", -3), ("-0x10", -16)],
    "i16": [("-32768", -32768)],
    "i32": [(" 7 ", 7)],
    "i64": [("1_000", 1000)],
    "f32": [("1.5", 1.5), ("1e3", 1000.0), ("-2", -2.0)],
    "f64": [("0.1", 0.1), ("1800000000.25", 1800000000.25)],
    "bool": [("true", True), ("TRUE", True), ("1", True), ("false", False), ("False", False), ("0", False)],
    "bytes": [("00ff", b"\x00\xff"), ("DEAD beef", b"\xde\xad\xbe\xef"), ("", b"")],
    "string": [("hello world", "hello world"), ("a=b", "a=b"), ("42", "42")],
    "enum": [("ALL", "ALL"), ("FARM", "FARM")],
    "scalar": [("50", 50), ("0x10", 16), ("-7", -7), ("1.5", 1.5), ("true", True), ("False", False),
               ("events.flood_limit", "events.flood_limit")],
}
BAD: dict[str, list[str]] = {
    "u8": ["4.5", "", "forty", "0x"], "u16": ["1e3"], "u32": ["0xZZ"], "u64": ["--1"], "i8": ["- 3"],
    "i16": ["1.0"], "i32": ["true"], "i64": ["nan"], "f32": ["fast", ""], "f64": ["1,5"],
    "bool": ["yes", "2", ""], "bytes": ["abc", "0g", "0x00"],
}


def _argument(kind: str) -> Argument:
    values = {"ALL": 0, "FARM": 3} if kind == "enum" else {}
    return Argument("x", ValueType(kind, values=values))


def test_the_tables_cover_every_dictionary_type() -> None:
    assert set(GOOD) == set(TYPE_NAMES)
    used = {a.type.name for c in DICTIONARY.commands for a in c.arguments}
    assert used <= set(GOOD)


@pytest.mark.parametrize(("kind", "text", "value"), [(k, t, v) for k, cases in GOOD.items() for t, v in cases])
def test_parse_value_reads_each_type(kind: str, text: str, value: Any) -> None:
    parsed = parse_value(_argument(kind), text, f"CMD.{kind}")
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize(("kind", "text"), [(k, t) for k, texts in BAD.items() for t in texts])
def test_parse_value_names_the_argument_when_wrong(kind: str, text: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_value(_argument(kind), text, "CMD.arg")
    assert caught.value.field == "CMD.arg"
    assert repr(text) in str(caught.value) and kind in str(caught.value)


def test_parse_arguments_types_every_argument_by_the_dictionary() -> None:
    assert parse_arguments(DICTIONARY, "PARAM_SET", ["name=events.flood_limit", "value=50"]) == \
        {"name": "events.flood_limit", "value": 50}
    assert parse_arguments(DICTIONARY, "HK_SET_INTERVAL", ["report=0x1", "interval=0.5"]) == \
        {"report": 1, "interval": 0.5}
    assert parse_arguments(DICTIONARY, "LINK_TEST", ["payload=c0ffee"]) == {"payload": b"\xc0\xff\xee"}
    assert parse_arguments(DICTIONARY, "RESET_COUNTERS", ["service=FARM"]) == {"service": "FARM"}
    assert parse_arguments(DICTIONARY, "SAFE_MODE_ENTER", ["reason=a=b c"]) == {"reason": "a=b c"}
    assert parse_arguments(DICTIONARY, "PING", []) == {}


@pytest.mark.parametrize(("name", "items", "field"), [
    ("NO_SUCH", [], "name"),
    ("TEST_EVENTS", ["count"], "TEST_EVENTS.count"),
    ("TEST_EVENTS", ["cnt=1"], "TEST_EVENTS.cnt"),
    ("TEST_EVENTS", ["count=1", "count=x"], "TEST_EVENTS.count"),
    ("PING", ["x=1"], "PING.x"),
])
def test_parse_arguments_names_what_is_wrong(name: str, items: list[str], field: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_arguments(DICTIONARY, name, items)
    assert caught.value.field == field


def test_octets_from_hex_turns_only_bytes_arguments_and_names_a_bad_one() -> None:
    insert = DICTIONARY.command("SCHEDULE_INSERT")
    assert insert is not None
    assert octets_from_hex(insert, {"time": 1.0, "command": "0a1B"}) == {"time": 1.0, "command": b"\x0a\x1b"}
    assert octets_from_hex(insert, {"time": 1.0, "command": b"\x01"}) == {"time": 1.0, "command": b"\x01"}
    with pytest.raises(CommandError, match="SCHEDULE_INSERT.command"):
        octets_from_hex(insert, {"time": 1.0, "command": "zz"})

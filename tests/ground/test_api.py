"""The scripting API against a running stack: commands through the station, everything read from the archive."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.dictionary import load_dictionary
from flight.link.errors import ConfigError, StorageError, ZenithError
from flight.link.pus import build_tc
from flight.mission_config import load_mission
from flight.supervisor.verification import FailureCode
from ground import api
from ground.api import AssertionFailed, CommandTimeout, StationClient
from ground.archive import Stage
from ground.control import StationError
from hil.stack import Stack, StackOptions

pytestmark = pytest.mark.integration
CORE = load_dictionary().mission.apids["core"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(StackOptions(out=tmp_path_factory.mktemp("api"))) as stack:
        yield stack


@pytest.fixture(scope="module")
def gs(stack: Stack) -> Iterator[StationClient]:
    with stack.client() as client:
        yield client


def _newest_event_id(gs: StationClient) -> int:
    return gs.archive.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0]


# --- commanding ----------------------------------------------------------------------------------


def test_wait_completed_follows_every_stage_in_order(gs: StationClient) -> None:
    seen: list[Stage] = []
    result = gs.send("PING", wait="completed", timeout=20, on_stage=seen.append)
    assert result.ok and result.completed
    assert [s.stage for s in result.stages] == ["acceptance", "start", "completion"]
    assert seen == result.stages  # each stage reported once, as it arrived
    assert all(s.command_id == result.command_id for s in result.stages)
    assert gs.archive.command_by_id(result.command_id).name == "PING"


def test_wait_accepted_returns_once_accepted(gs: StationClient) -> None:
    result = gs.send("NOOP", wait="accepted", timeout=20)
    assert result.ok
    assert result.stages[0].stage == "acceptance" and result.stages[0].ok


def test_wait_none_returns_at_once_with_the_command_recorded(gs: StationClient) -> None:
    result = gs.send("NOOP", wait="none")
    assert result.stages == [] and result.ok and not result.completed
    record = gs.archive.command_by_id(result.command_id)
    assert record is not None and record.name == "NOOP"


def test_a_failure_report_ends_the_wait_with_the_field(gs: StationClient) -> None:
    result = gs.send("PARAM_SET", name="no.such.parameter", value=1, wait="completed", timeout=15)
    assert not result.ok and not result.completed
    assert result.failure is not None
    assert (result.failure.stage, result.failure.code, result.failure.field) == \
        ("acceptance", int(FailureCode.BAD_ARGUMENT), "PARAM_SET.name")


def test_positional_and_keyword_arguments_merge(gs: StationClient) -> None:
    result = gs.send("PARAM_SET", {"name": "events.flood_limit"}, value=25, timeout=20)
    assert result.completed
    assert gs.archive.command_by_id(result.command_id).arguments == {"name": "events.flood_limit", "value": 25}


@pytest.mark.parametrize(("command", "arguments", "field"), [
    ("NO_SUCH_COMMAND", {}, "name"),
    ("TEST_EVENTS", {"count": 0}, "TEST_EVENTS.count"),
    ("PING", {"unexpected": 1}, "PING.unexpected"),
])
def test_the_station_refuses_what_the_dictionary_refuses(gs: StationClient, command: str,
                                                         arguments: dict, field: str) -> None:
    before = len(gs.archive.commands())
    with pytest.raises(StationError) as caught:
        gs.send(command, arguments)
    assert caught.value.field == field
    assert len(gs.archive.commands()) == before


def test_an_unknown_wait_is_a_value_error(gs: StationClient) -> None:
    before = len(gs.archive.commands())
    with pytest.raises(ValueError, match="wait"):
        gs.send("PING", wait="forever")
    with pytest.raises(ValueError, match="wait"):
        gs.send_raw(build_tc(CORE, 17, 1), wait="forever")
    assert len(gs.archive.commands()) == before  # checked before anything was sent


def test_at_gives_the_scheduled_commands_id(gs: StationClient) -> None:
    result = gs.send("NOOP", at=time.time() + 86400, timeout=20)
    assert result.completed  # the insertion completed
    assert result.scheduled_id is not None and result.scheduled_id != result.command_id
    assert gs.archive.command_by_id(result.command_id).name == "SCHEDULE_INSERT"
    inner = gs.archive.command_by_id(result.scheduled_id)
    assert (inner.name, inner.source) == ("NOOP", "schedule")


def test_send_raw_follows_an_unchecked_packet(gs: StationClient) -> None:
    result = gs.send_raw(build_tc(CORE, 17, 1, seq_count=12000), timeout=20)
    assert (result.name, result.completed) == ("RAW", True)
    bad = gs.send_raw(build_tc(CORE, 77, 1, seq_count=12001), timeout=20)
    assert bad.failure is not None
    assert (bad.failure.code, bad.failure.field) == (int(FailureCode.UNKNOWN_COMMAND), "opcode")


# --- telemetry and events -----------------------------------------------------------------------


def test_await_tlm_returns_the_first_value_that_meets_the_predicate(gs: StationClient) -> None:
    gs.send("HK_REPORT_NOW", report=1, timeout=20)
    assert gs.await_tlm("health.mode", lambda mode: mode == "NOMINAL", timeout=10) == "NOMINAL"
    now = gs.await_tlm("cmd.completed", lambda n: n >= 1, timeout=10)
    since = time.time()
    for _ in range(2):
        gs.send("NOOP", timeout=20)
    gs.send("HK_REPORT_NOW", report=1, timeout=20)
    assert gs.await_tlm("cmd.completed", lambda n: n >= now + 2, timeout=10, since=since) >= now + 2
    # ``since`` leaves out what came before it: an old value meets this predicate, no value after it does.
    assert gs.await_tlm("cmd.completed", lambda n: n <= now, timeout=10, since=0.0) <= now
    with pytest.raises(AssertionFailed):  # by default, the archive's past is not searched
        gs.await_tlm("cmd.completed", lambda n: n <= now, timeout=0.3)
    with pytest.raises(AssertionFailed):
        gs.await_tlm("cmd.completed", lambda n: n <= now, timeout=0.3, since=time.time() + 3600)


def test_await_tlm_fails_when_no_value_meets_the_predicate(gs: StationClient) -> None:
    with pytest.raises(AssertionFailed, match=r"cmd\.completed.*last:"):
        gs.await_tlm("cmd.completed", lambda n: n < 0, timeout=0.3)


def test_an_unknown_channel_is_an_error_at_once(gs: StationClient) -> None:
    with pytest.raises(ZenithError, match="no.such.channel") as caught:
        gs.await_tlm("no.such.channel", timeout=5)
    assert not isinstance(caught.value, AssertionFailed)


def test_assert_event_matches_arguments_and_after_id(gs: StationClient) -> None:
    before = _newest_event_id(gs)
    assert gs.send("PARAM_SET", name="events.flood_limit", value=30, timeout=20).completed
    event = gs.assert_event("PARAMETER_CHANGED", timeout=10, after_id=before, name="events.flood_limit")
    assert event.id > before
    assert event.arguments["name"] == "events.flood_limit"
    # The same event, but not with other arguments, and not after itself.
    with pytest.raises(AssertionFailed, match="PARAMETER_CHANGED"):
        gs.assert_event("PARAMETER_CHANGED", timeout=0.3, after_id=before, name="events.flood_window")
    with pytest.raises(AssertionFailed):
        gs.assert_event("PARAMETER_CHANGED", timeout=0.3, after_id=event.id, name="events.flood_limit")
    assert event in gs.events(after_id=before)


def test_an_unknown_event_is_an_error_at_once(gs: StationClient) -> None:
    with pytest.raises(ZenithError, match="NO_SUCH_EVENT") as caught:
        gs.assert_event("NO_SUCH_EVENT", timeout=5)
    assert not isinstance(caught.value, AssertionFailed)


def test_history_lists_the_newest_commands_with_their_stages(gs: StationClient) -> None:
    first = gs.send("PING", timeout=20)
    second = gs.send("NOOP", timeout=20)
    history = gs.history(limit=2)
    assert [(c.id, c.name) for c, _ in history] == [(first.command_id, "PING"), (second.command_id, "NOOP")]
    assert history[1][1] == second.stages
    assert len(gs.history(limit=None)) == len(gs.archive.commands())


def test_status_says_the_station_is_in_contact(gs: StationClient) -> None:
    gs.send("PING", timeout=20)
    status = gs.status()
    assert status["in_contact"] is True
    assert status["fop_state"] == "ACTIVE"
    assert status["counters"]["station.commands_sent"] >= 1
    assert 0 < status["packets"] <= gs.archive.packet_count()


# --- connecting ----------------------------------------------------------------------------------


def test_connect_takes_a_path_or_a_mission_and_closes_the_client(stack: Stack) -> None:
    with api.connect(str(stack.mission_path)) as client:
        assert client.status()["counters"]["control.requests"] >= 1
    with pytest.raises(StorageError):
        client.archive.packet_count()  # closed with the block
    with api.connect(stack.mission) as client:
        assert client.send("PING", timeout=20).completed


def test_connect_without_a_running_station_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "zenith.toml"
    path.write_text("base_port = 6100\n")
    with pytest.raises(ConfigError, match="token"), api.connect(path):
        pass
    with pytest.raises(ConfigError, match="token"):
        StationClient(load_mission(path))


# --- a link that delivers nothing -----------------------------------------------------------------


def test_a_wait_that_nothing_can_end_is_a_command_timeout(tmp_path: Path) -> None:
    with Stack(StackOptions(out=tmp_path, faults={"loss": "1"})) as stack, stack.client() as client:
        with pytest.raises(CommandTimeout, match=r"PING \(command \d+\): no report after 0.5 s"):
            client.send("PING", wait="accepted", timeout=0.5)
        with pytest.raises(CommandTimeout):
            client.send_raw(build_tc(CORE, 17, 1, seq_count=100), wait="completed", timeout=0.3)
        # The client still works: the station records and queues what it is given.
        queued = client.send("NOOP", wait="none")
        assert client.archive.command_by_id(queued.command_id).name == "NOOP"
        assert client.status()["uplink_pending"] >= 1

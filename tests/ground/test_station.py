"""The ground station as a component: a real Station on free ports, its control socket, its archive.

No emulator and no payload: requests are handled and recorded, frames queue for an uplink nobody
reads, and a test plays the downlink itself (TM frames from the flight's own multiplexer) to see
contact, loss of signal and the gap-fill requests.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq

from flight.dictionary import decode_app_data, load_dictionary
from flight.link.clcw import Clcw
from flight.link.errors import CommandError
from flight.link.pus import build_tc, build_tm, parse_tc, request_id
from flight.link.tmframe import TmChannelFormat
from flight.link.vcmux import VirtualChannelMux
from flight.mission_config import MissionFile, load_mission
from ground.control import StationError, read_token
from ground.iv_state import new_key_file
from ground.station import Station
from ground.station_config import control_endpoint, ground_settings
from hil.ports import free_base_port
from hil.stack import StackOptions, mission_text

DICTIONARY = load_dictionary()
CORE = DICTIONARY.mission.apids["core"]
LINK = DICTIONARY.mission.apids["link"]  # no command of ours uses it: raw packets do
CUC = DICTIONARY.mission.tm_time


def write_mission(out: Path, ground_toml: str = "") -> MissionFile:
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "keys.json").exists():
        new_key_file(out / "keys.json")
    path = out / "zenith.toml"
    path.write_text(mission_text(free_base_port(), StackOptions(out=out, ground_toml=ground_toml)))
    return load_mission(path)


class Ground:
    """A Station and an operator's REQ socket on its control endpoint, with the token."""

    def __init__(self, mission: MissionFile) -> None:
        self.mission = mission
        self.out = io.StringIO()
        self.station = Station(mission, DICTIONARY, ground_settings(mission), out=self.out)
        settings = ground_settings(mission)
        self.token = read_token(mission.resolve(settings.token_file))
        self.ctx = zmq.Context()
        self.req = self.ctx.socket(zmq.REQ)
        self.req.setsockopt(zmq.LINGER, 0)
        self.req.connect(control_endpoint(mission, settings))

    def ask(self, op: str, token: str | None = None, **fields: Any) -> dict[str, Any]:
        """One request through the control socket, served by the station's own loop."""
        self.req.send(msgpack.packb({"token": token or self.token, "op": op, **fields}, use_bin_type=True))
        deadline = time.monotonic() + 10
        while not self.req.poll(0):
            assert time.monotonic() < deadline, "the station never answered"
            self.station.step(0.01)
        return msgpack.unpackb(self.req.recv(), raw=False)

    def commands(self) -> list[tuple[Any, ...]]:
        return self.station.archive.query("SELECT id, name, apid, seq, request_id, source FROM commands ORDER BY id")

    def close(self) -> None:
        if not self.req.closed:
            self.req.close()
            self.ctx.term()
            self.station.close()


@pytest.fixture
def make_ground(tmp_path: Path) -> Iterator[Callable[..., Ground]]:
    made: list[Ground] = []

    def make(ground_toml: str = "", out: Path = tmp_path) -> Ground:
        mission = write_mission(out, ground_toml) if not (out / "zenith.toml").exists() \
            else load_mission(out / "zenith.toml")
        made.append(Ground(mission))
        return made[-1]

    yield make
    for ground in made:
        ground.close()


@pytest.fixture
def ground(make_ground: Callable[..., Ground]) -> Ground:
    return make_ground()


# --- commanding ----------------------------------------------------------------------------------


def test_send_records_the_command_and_queues_it(ground: Ground) -> None:
    reply = ground.ask("send", name="PARAM_SET", arguments={"name": "events.flood_limit", "value": 50})
    assert reply == {"ok": True, "command_id": 1, "scheduled_id": None}
    record = ground.station.archive.command_by_id(1)
    assert record is not None
    assert (record.name, record.arguments, record.source) == ("PARAM_SET", {"name": "events.flood_limit",
                                                                            "value": 50}, "operator")
    assert ground.station.link.sender.pending == 1
    assert ground.station.counters["commands_sent"] == 1


@pytest.mark.parametrize(("name", "arguments", "field"), [
    ("NO_SUCH_COMMAND", {}, "name"),
    ("TEST_EVENTS", {"count": 0}, "TEST_EVENTS.count"),
    ("TEST_EVENTS", {"count": "many"}, "TEST_EVENTS.count"),
    ("HK_SET_INTERVAL", {"report": 1}, "HK_SET_INTERVAL.interval"),
    ("PING", {"extra": 1}, "PING.extra"),
    ("RESET_COUNTERS", {"service": "EVERYTHING"}, "RESET_COUNTERS.service"),
    ("LINK_TEST", {"payload": "not bytes"}, "LINK_TEST.payload"),
])
def test_send_checks_the_command_against_the_dictionary_and_records_nothing_when_wrong(
        ground: Ground, name: str, arguments: dict[str, Any], field: str) -> None:
    reply = ground.ask("send", name=name, arguments=arguments)
    assert reply["ok"] is False
    assert reply["field"] == field
    assert field in reply["error"]
    assert ground.commands() == []
    assert ground.station.link.sender.pending == 0
    assert ground.station.counters["commands_sent"] == 0
    with pytest.raises(CommandError) as caught:
        ground.station.send(name, arguments)
    assert caught.value.field == field


@pytest.mark.parametrize(("request_fields", "field"), [
    ({}, "name"),
    ({"name": 17}, "name"),
    ({"name": "PING", "arguments": [1, 2]}, "arguments"),
    ({"name": "PING", "at": "tomorrow"}, "at"),
])
def test_a_malformed_send_request_names_the_field(ground: Ground, request_fields: dict[str, Any],
                                                  field: str) -> None:
    reply = ground.ask("send", **request_fields)
    assert (reply["ok"], reply["field"]) == (False, field)
    assert ground.commands() == []


def test_an_unknown_op_is_refused(ground: Ground) -> None:
    reply = ground.ask("launch")
    assert (reply["ok"], reply["field"]) == (False, "op")


def test_a_request_without_the_token_sends_nothing(ground: Ground) -> None:
    reply = ground.ask("send", token="guess", name="SAFE_MODE_ENTER", arguments={"reason": "x"})
    assert (reply["ok"], reply["field"]) == (False, "token")
    assert ground.commands() == []
    assert ground.station.housekeeping()["control.unauthorized"] == 1


def test_at_wraps_the_command_in_schedule_insert_and_records_both(ground: Ground) -> None:
    at = 2_000_000_000.5
    reply = ground.ask("send", name="TEST_EVENTS", arguments={"count": 3}, at=at, source="script")
    assert reply["ok"] is True
    archive = ground.station.archive
    inner, outer = archive.command_by_id(reply["scheduled_id"]), archive.command_by_id(reply["command_id"])
    assert inner is not None and outer is not None
    assert (inner.name, inner.arguments, inner.source) == ("TEST_EVENTS", {"count": 3}, "schedule")
    assert (outer.name, outer.source) == ("SCHEDULE_INSERT", "script")
    assert outer.arguments["time"] == at
    # The time-tagged packet inside is the one recorded as the inner command (its reports will find it).
    packet = bytes.fromhex(outer.arguments["command"])
    assert int.from_bytes(request_id(packet), "big") == inner.request_id
    tc = parse_tc(packet)
    assert (tc.apid, tc.seq_count) == (inner.apid, inner.seq)
    assert decode_app_data(DICTIONARY, tc.service, tc.message_subtype, bytes(tc.app_data)).arguments == {"count": 3}
    assert ground.station.link.sender.pending == 1  # one frame goes up: the insertion


@pytest.mark.parametrize(("name", "arguments", "at", "field"), [
    ("NOOP", {}, -5.0, "SCHEDULE_INSERT.time"),  # the insertion is wrong, the command is fine
    ("TEST_EVENTS", {"count": 0}, 2e9, "TEST_EVENTS.count"),
    ("LINK_TEST", {"payload": bytes(960)}, 2e9, "SCHEDULE_INSERT.command"),  # fine alone, too long inside
])
def test_a_refused_time_tagged_command_records_nothing(ground: Ground, name: str, arguments: dict[str, Any],
                                                       at: float, field: str) -> None:
    reply = ground.ask("send", name=name, arguments=arguments, at=at)
    assert (reply["ok"], reply["field"]) == (False, field)
    assert ground.commands() == []
    assert ground.station.link.sender.pending == 0


@pytest.mark.parametrize("at", [None, 2e9])
def test_a_command_too_long_for_a_frame_is_refused_before_it_is_recorded(ground: Ground, at: float | None) -> None:
    # A link whose frames hold less (a segment header, a longer MAC) than the dictionary allows for.
    ground.station.link.sender.max_packet_length = 100
    with pytest.raises(StationError) as caught:
        ground.station.send("LINK_TEST", {"payload": bytes(200)}, at=at)
    assert caught.value.field == "packet"
    assert ground.commands() == []
    assert ground.station.link.sender.pending == 0
    assert ground.ask("send", name="LINK_TEST", arguments={"payload": bytes(50)}, at=at)["ok"]


def test_send_raw_records_raw_with_the_packets_own_apid_and_count(ground: Ground) -> None:
    packet = build_tc(LINK, 17, 1, seq_count=1234)
    reply = ground.ask("send_raw", packet=packet)
    assert reply["ok"] is True
    record = ground.station.archive.command_by_id(reply["command_id"])
    assert record is not None
    assert (record.name, record.apid, record.seq, record.source) == ("RAW", LINK, 1234, "raw")
    assert record.arguments == {"packet": packet.hex()}
    assert record.request_id == int.from_bytes(request_id(packet), "big")
    assert ground.station.link.sender.pending == 1
    assert ground.station.counters["raw_sent"] == 1


@pytest.mark.parametrize("packet", [b"", b"\x18\x10\xc0", "1810c0000001", None, bytes(2000)],
                         ids=["empty", "short", "text", "none", "too long"])
def test_send_raw_refuses_what_is_not_a_packet_or_does_not_fit(ground: Ground, packet: Any) -> None:
    reply = ground.ask("send_raw", packet=packet)
    assert (reply["ok"], reply["field"]) == (False, "packet")
    assert ground.commands() == []
    assert ground.station.link.sender.pending == 0


def test_the_tc_sequence_counts_continue_from_the_archive_after_a_restart(
        make_ground: Callable[..., Ground], tmp_path: Path) -> None:
    def core_counts(ground: Ground) -> list[int]:
        return [seq for _, _, apid, seq, _, _ in ground.commands() if apid == CORE]

    first = make_ground()
    for name in ("PING", "NOOP", "PING"):
        assert first.ask("send", name=name)["ok"]
    assert core_counts(first) == [0, 1, 2]
    first.close()
    second = make_ground(out=tmp_path)  # a new station on the same archive
    assert second.ask("send", name="STORE_STATUS")["ok"]
    assert core_counts(second) == [0, 1, 2, 3]
    assert second.ask("send_raw", packet=build_tc(CORE, 17, 1, seq_count=16383))["ok"]  # the last before the wrap
    second.close()
    third = make_ground(out=tmp_path)
    assert third.ask("send", name="PING")["ok"]
    assert core_counts(third) == [0, 1, 2, 3, 16383, 0]
    # Until the count wraps, request IDs (APID and count) stay unique across restarts: a report cannot
    # find an older command of the same ID.
    ids = [row[4] for row in third.commands()][:5]
    assert len(ids) == len(set(ids))


def test_status_reports_the_link_the_archive_and_the_counters(ground: Ground) -> None:
    ground.ask("send", name="PING")
    ground.ask("send", token="nope", name="PING")
    reply = ground.ask("ping")
    assert reply["ok"] is True
    status = reply["status"]
    assert set(status) == {"in_contact", "uplink_pending", "fop_state", "missing", "packets", "counters", "fop",
                           "clcw", "gap_fill"}
    assert status["in_contact"] is False  # nothing heard: no emulator, no payload
    assert status["clcw"] is None and status["fop"]["window"] >= 1
    assert status["gap_fill"] == {"holes": 0, "outages_waiting": 0}
    assert status["uplink_pending"] == 1
    assert status["fop_state"] == ground.station.link.sender.fop.state.name
    assert (status["missing"], status["packets"]) == (0, 0)
    counters = status["counters"]
    assert counters["station.commands_sent"] == 1
    assert counters["control.unauthorized"] == 1
    assert counters["control.requests"] == 2  # the send and this ping
    assert status == {**ground.station.status(), "counters": counters}


# --- contact, loss of signal and gap fill, with a downlink played by the test ------------------------


class Downlink:
    """The payload's side of the downlink: TM frames from the flight's multiplexer onto the ground's socket."""

    def __init__(self, mission: MissionFile) -> None:
        link = mission.link
        self.mux = VirtualChannelMux(TmChannelFormat(link.spacecraft_id, link.tm.frame_length, link.tm.ocf,
                                                     link.tm.fecf), ocf_source=Clcw(0).pack)
        self.ctx = zmq.Context()
        self.socket = self.ctx.socket(zmq.PUSH)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind(mission.ports.ground_downlink().address)

    def packet(self, seq: int, t: float, vcid: int = 0) -> None:
        self.mux.push(vcid, build_tm(CORE, 17, 2, b"", CUC.encode(t), seq))

    def frame(self) -> None:
        self.socket.send(self.mux.next_frame())

    def close(self) -> None:
        self.socket.close()
        self.ctx.term()

    def __enter__(self) -> Downlink:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _step_until(ground: Ground, done: Callable[[], bool], downlink: Downlink | None = None,
                timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        if downlink is not None:
            downlink.frame()
        ground.station.step(0.01)


def _requests(ground: Ground, name: str) -> list[dict[str, Any]]:
    return [ground.station.archive.command_by_id(row[0]).arguments
            for row in ground.commands() if row[1] == name and row[5] == "gapfill"]


def test_contact_los_and_gap_fill_requests_only_while_in_contact(make_ground: Callable[..., Ground]) -> None:
    ground = make_ground("los_after = 0.5\ngap_settle = 0\ngap_retry = 0.3\ngap_check = 0.05\n")
    with Downlink(ground.mission) as downlink:
        t0 = time.time()
        for seq in (0, 1, 5):  # 2, 3 and 4 were lost
            downlink.packet(seq, t0 + seq)
        _step_until(ground, lambda: ground.station.in_contact, downlink)
        assert "AOS" in ground.out.getvalue()
        _step_until(ground, lambda: ground.station.archive.packet_count() == 3, downlink)
        assert ground.station.tracker.missing_count() == 3
        _step_until(ground, lambda: len(_requests(ground, "STORE_PLAYBACK_SEQ")) >= 2, downlink)  # and again
        assert _requests(ground, "STORE_PLAYBACK_SEQ")[0] == {"apid": CORE, "first": 2, "count": 3}
        assert ground.station.counters["gap_requests"] >= 2
        # The downlink goes quiet: loss of signal, and no more requests while it lasts.
        _step_until(ground, lambda: not ground.station.in_contact)
        assert "LOS" in ground.out.getvalue()
        assert (ground.station.counters["aos"], ground.station.counters["los"]) == (1, 1)
        asked = len(_requests(ground, "STORE_PLAYBACK_SEQ"))
        quiet_until = time.monotonic() + 0.8  # longer than gap_retry
        while time.monotonic() < quiet_until:
            ground.station.step(0.01)
        assert len(_requests(ground, "STORE_PLAYBACK_SEQ")) == asked
        # A playback of the lost packets completes the archive; contact comes back with it.
        for seq in (2, 3, 4):
            downlink.packet(seq, t0 + seq, vcid=1)
        _step_until(ground, lambda: ground.station.tracker.missing_count() == 0, downlink)
        assert ground.station.in_contact and ground.station.counters["aos"] == 2
        assert ground.ask("ping")["status"]["missing"] == 0


def test_holes_close_together_are_asked_for_in_one_command(make_ground: Callable[..., Ground]) -> None:
    ground = make_ground("gap_settle = 0\ngap_check = 0.05\ngap_merge = 3\n")
    with Downlink(ground.mission) as downlink:
        t0 = time.time()
        for seq in (0, 2, *range(4, 9), 20):  # 1 and 3 lost, one count apart; 9..19 lost, five further on
            downlink.packet(seq, t0 + seq)
        _step_until(ground, lambda: len(_requests(ground, "STORE_PLAYBACK_SEQ")) >= 2, downlink)
        assert _requests(ground, "STORE_PLAYBACK_SEQ")[:2] == [{"apid": CORE, "first": 1, "count": 3},
                                                                {"apid": CORE, "first": 9, "count": 11}]
        assert "(3, 2 holes)" in ground.out.getvalue()


def test_without_gap_fill_the_station_asks_for_nothing(make_ground: Callable[..., Ground]) -> None:
    ground = make_ground("gap_fill = false\ngap_settle = 0\ngap_check = 0.05\n")
    with Downlink(ground.mission) as downlink:
        t0 = time.time()
        for seq in (0, 4):
            downlink.packet(seq, t0 + seq)
        _step_until(ground, lambda: ground.station.tracker.missing_count() == 3, downlink)
        until = time.monotonic() + 0.3
        while time.monotonic() < until:
            downlink.frame()
            ground.station.step(0.01)
        assert ground.station.in_contact
        assert _requests(ground, "STORE_PLAYBACK_SEQ") == []


@pytest.mark.parametrize("parts", [[b"\xc1garbage"], [b"one", b"two"]], ids=["garbage", "multipart"])
def test_a_malformed_control_request_is_refused_and_the_station_goes_on(ground: Ground, parts: list[bytes]) -> None:
    sock = ground.ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(control_endpoint(ground.mission, ground_settings(ground.mission)))
    try:
        sock.send_multipart(parts)
        deadline = time.monotonic() + 10
        while not sock.poll(0):
            assert time.monotonic() < deadline
            ground.station.step(0.01)
        assert msgpack.unpackb(sock.recv())["field"] == "request"
    finally:
        sock.close()
    assert ground.ask("send", name="PING")["ok"] is True
    assert ground.station.housekeeping()["control.malformed"] == 1


def test_an_outage_too_long_for_sequence_counts_is_asked_for_by_time(make_ground: Callable[..., Ground]) -> None:
    ground = make_ground("gap_settle = 0\ngap_check = 0.05\n")
    with Downlink(ground.mission) as downlink:
        t0 = time.time()
        for seq in (0, 1):
            downlink.packet(seq, t0 + seq)
        _step_until(ground, lambda: ground.station.archive.packet_count() == 2, downlink)
        downlink.packet(9001, t0 + 5000.0)  # thousands of packets later: counts cannot tell what was lost
        _step_until(ground, lambda: bool(_requests(ground, "STORE_PLAYBACK_TIME")), downlink)
        [asked] = _requests(ground, "STORE_PLAYBACK_TIME")  # times as the CUC carries them (2^-16 s)
        assert asked["start"] == pytest.approx(t0 + 1, abs=1e-4) and asked["end"] == pytest.approx(t0 + 5000, abs=1e-4)
        assert ground.station.counters["outages_found"] == 1
        assert ground.station.archive.get_state("station.outages") == []  # asked: nothing left to ask


def test_an_outage_not_yet_asked_for_survives_a_station_restart(make_ground: Callable[..., Ground],
                                                                tmp_path: Path) -> None:
    first = make_ground("gap_fill = false\n")  # found, but never asked for
    with Downlink(first.mission) as downlink:
        t0 = time.time()
        for seq in (0, 1):
            downlink.packet(seq, t0 + seq)
        _step_until(first, lambda: first.station.archive.packet_count() == 2, downlink)
        downlink.packet(9001, t0 + 5000.0)
        _step_until(first, lambda: first.station.counters["outages_found"] == 1, downlink)
    first.close()
    write_mission(tmp_path, "gap_settle = 0\ngap_check = 0.05\n")  # the same archive, gap fill on
    second = make_ground()
    with Downlink(second.mission) as downlink:
        _step_until(second, lambda: bool(_requests(second, "STORE_PLAYBACK_TIME")), downlink)


def test_a_hole_the_store_cannot_fill_is_given_up_after_its_attempts(make_ground: Callable[..., Ground]) -> None:
    ground = make_ground("gap_settle = 0\ngap_retry = 0.05\ngap_check = 0.02\ngap_attempts = 3\n")
    with Downlink(ground.mission) as downlink:
        t0 = time.time()
        for seq in (0, 2):  # 1 is lost, and no playback ever brings it
            downlink.packet(seq, t0 + seq)
        _step_until(ground, lambda: ground.station.counters["gaps_abandoned"] == 1, downlink)
        assert len(_requests(ground, "STORE_PLAYBACK_SEQ")) == 3
        assert ground.station.tracker.missing_count() == 0
        assert "gave up" in ground.out.getvalue()

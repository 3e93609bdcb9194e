"""The dictionary loader and model: the shipped zenith.json, and path-naming validation errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.dictionary import Dictionary, load_dictionary, parse_dictionary
from flight.dictionary.loader import default_dictionary_path
from flight.dictionary.model import FUNCTION_MANAGEMENT, Command, Severity
from flight.link.errors import DictionaryError
from flight.link.timecode import CucFormat

SHIPPED: dict[str, Any] = json.loads(default_dictionary_path().read_text())


def shipped() -> dict[str, Any]:
    return copy.deepcopy(SHIPPED)


def _index(doc: dict[str, Any], section: str, name: str) -> int:
    return next(i for i, entry in enumerate(doc[section]) if entry["name"] == name)


# --- the shipped dictionary -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def zd() -> Dictionary:
    return load_dictionary()


def test_shipped_dictionary_loads_from_package_and_from_path(zd: Dictionary, tmp_path) -> None:
    copy = tmp_path / "mission.json"
    copy.write_text(default_dictionary_path().read_text())
    again = load_dictionary(copy)
    assert [c.name for c in again.commands] == [c.name for c in zd.commands]
    assert parse_dictionary(shipped()).mission == zd.mission


def test_mission(zd: Dictionary) -> None:
    assert zd.mission.name == "Zenith"
    assert zd.mission.spacecraft_id == 42
    assert zd.mission.apids == {"core": 16, "link": 17, "cfdp": 18}


def test_tm_time_is_cuc_4_plus_2_with_p_field_0x2e(zd: Dictionary) -> None:
    fmt = zd.mission.tm_time
    assert fmt == CucFormat(4, 2)
    assert (fmt.coarse_octets, fmt.fine_octets, fmt.length) == (4, 2, 6)
    assert fmt.p_field == 0x2E
    assert int(SHIPPED["mission"]["tm_time"]["p_field"], 16) == 0x2E


def test_ping(zd: Dictionary) -> None:
    ping = zd.command("PING")
    assert ping is not None
    assert (ping.service, ping.subtype, ping.function_id) == (17, 1, None)
    assert ping.arguments == ()
    assert ping.apid == zd.mission.apids["core"]
    assert zd.command_for(17, 1) is ping


def test_noop_and_reset_counters_are_function_management(zd: Dictionary) -> None:
    noop, reset = zd.command("NOOP"), zd.command("RESET_COUNTERS")
    assert noop is not None and reset is not None
    assert (noop.service, noop.subtype) == FUNCTION_MANAGEMENT == (8, 1)
    assert (reset.service, reset.subtype) == (8, 1)
    assert noop.function_id == 1 and reset.function_id == 2
    assert noop.arguments == ()
    assert zd.command_for(8, 1, 1) is noop
    assert zd.command_for(8, 1, 2) is reset
    assert zd.command_for(8, 1) is None
    assert zd.command_for(8, 1, 4) is None
    (arg,) = reset.arguments
    assert arg.name == "service" and arg.type.name == "enum"
    assert arg.type.values == {"ALL": 0, "COMMANDS": 1, "TC_LINK": 2, "FARM": 3, "SDLS": 4, "TM_LINK": 5,
                               "CLTU": 6, "HOUSEKEEPING": 7, "EVENTS": 8, "SCHEDULE": 9, "STORE": 10,
                               "PARAMETERS": 11, "HEALTH": 12, "JOBS": 13}
    assert noop.opcode == (8, 1, 1)


def test_every_command_has_a_known_apid_and_unique_opcode(zd: Dictionary) -> None:
    assert len({c.opcode for c in zd.commands}) == len(zd.commands)
    assert all(c.apid in zd.mission.apids.values() for c in zd.commands)
    assert zd.command("NO_SUCH") is None


def test_safe_mode_keeps_the_commands_that_lead_out_of_it(zd: Dictionary) -> None:
    essential = {c.name for c in zd.commands if c.essential}
    assert {"PING", "NOOP", "SAFE_MODE_ENTER", "SAFE_MODE_EXIT", "RESTARTS_CLEAR", "HK_REPORT_NOW"} <= essential
    assert not essential & {"SCHEDULE_INSERT", "TEST_EVENTS"}


def test_param_set_takes_a_scalar(zd: Dictionary) -> None:
    param_set = zd.command("PARAM_SET")
    assert param_set is not None
    assert [(a.name, a.type.name) for a in param_set.arguments] == [("name", "string"), ("value", "scalar")]


def test_shipped_housekeeping_structures(zd: Dictionary) -> None:
    assert [(h.sid, h.name, h.interval, h.enabled) for h in zd.housekeeping] == [
        (1, "CORE", 2.0, True), (2, "LINK", 10.0, True), (3, "JOBS", 2.0, True), (4, "SEU", 2.0, True),
        (5, "POWER", 2.0, True)]
    assert zd.report(1) is zd.housekeeping[0] and zd.report(2) is zd.housekeeping[1]
    assert zd.report(0) is None and zd.report(6) is None
    for entry, report in zip(SHIPPED["housekeeping"], zd.housekeeping, strict=True):
        assert [c.name for c in report.channels] == entry["channels"]  # dictionary order is wire order
        assert all(c == zd.channel(c.name) for c in report.channels)


def test_every_channel_reaches_the_ground_in_a_report(zd: Dictionary) -> None:
    reported = {c.name for h in zd.housekeeping for c in h.channels}
    assert {c.name for c in zd.telemetry} - reported == set()


@pytest.mark.parametrize("name", [
    "cmd.accepted", "cmd.rejected",
    "tc.received", "tc.rejected", "tc.packets", "cltu.decoded", "cltu.corrected_bits",
    "farm.accepted_ad", "farm.accepted_bd", "farm.discarded_positive_window", "farm.discarded_negative_window",
    "farm.discarded_lockout_area", "farm.discarded_in_lockout", "farm.discarded_in_wait",
    "farm.discarded_buffer_full", "farm.discarded_invalid_bc", "farm.lockouts", "farm.unlock", "farm.set_vr",
    "farm.v_r", "farm.state",
    "sdls.verified", "sdls.rejected_bad_mac", "sdls.rejected_unknown_spi", "sdls.rejected_replay",
    "sdls.rejected_truncated", "sdls.rejected_wrong_sa", "sdls.rejected_unprotected",
    "tm_mux.frames", "tm_mux.idle_frames",
])
def test_housekeeping_channels(zd: Dictionary, name: str) -> None:
    channel = zd.channel(name)
    assert channel is not None, name
    assert channel.type.name in ("u8", "u32", "enum")


def test_channel_details(zd: Dictionary) -> None:
    state = zd.channel("farm.state")
    assert state is not None
    assert state.type.values == {"OPEN": 1, "WAIT": 2, "LOCKOUT": 3}
    assert state.limits.critical_values == ("LOCKOUT",)
    rejected = zd.channel("cmd.rejected")
    assert rejected is not None and rejected.limits.warning_high == 10
    assert zd.channel("farm.v_r").type.name == "u8"  # type: ignore[union-attr]
    assert len({c.id for c in zd.telemetry}) == len(zd.telemetry)
    assert zd.channel("nope") is None


def test_events_and_parameters(zd: Dictionary) -> None:
    lockout = zd.event("FARM_LOCKOUT")
    assert lockout is not None and zd.event(2) is lockout
    assert lockout.severity is Severity.MEDIUM
    assert lockout.render({"vcid": 0, "ns": 7, "vr": 3}) == "FARM-1 entered Lockout on VC 0 (N(S) 7, V(R) 3)"
    assert zd.event("COUNTERS_RESET").severity is Severity.INFO  # type: ignore[union-attr]
    assert zd.event(99) is None and zd.event("NOPE") is None
    restarts = zd.parameter("health.max_restarts")
    assert restarts is not None and restarts.default == 5 and restarts.type.name == "u8"
    assert (restarts.type.minimum, restarts.type.maximum) == (1, 100)
    interval = zd.parameter("link.tm_frame_interval")
    assert interval is not None and interval.type.name == "f32" and interval.default == 0.05
    assert zd.parameter("nope") is None


def test_load_errors(tmp_path) -> None:
    with pytest.raises(DictionaryError, match="cannot read"):
        load_dictionary(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DictionaryError, match="not valid JSON"):
        load_dictionary(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(SHIPPED))
    assert load_dictionary(good).command("PING") is not None


# --- broken variants: the error names the JSON path ----------------------------------------------


def _set(path: list[Any], value: Any):
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def _del(path: list[Any]):
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


def _append(path: list[Any], value_from: list[Any] | None = None, patch: dict[str, Any] | None = None):
    """Append a copy of the entry at ``value_from`` (patched) to the list at ``path``."""
    def mutate(doc: dict[str, Any]) -> None:
        node = doc
        for key in path:
            node = node[key]
        source = doc
        for key in value_from or []:
            source = source[key]
        entry = copy.deepcopy(source)
        entry.update(patch or {})
        node.append(entry)
    return mutate


R = _index(SHIPPED, "commands", "RESET_COUNTERS")
RESET = ["commands", R]
RESET_ARG = ["commands", R, "arguments", 0]
W = _index(SHIPPED, "parameters", "health.max_restarts")
P_INT = _index(SHIPPED, "parameters", "link.tm_frame_interval")
WINDOW = ["parameters", W]
INTERVAL = ["parameters", P_INT]
E = _index(SHIPPED, "events", "FARM_LOCKOUT")
C = _index(SHIPPED, "events", "COUNTERS_RESET")
LOCKOUT = ["events", E]
TM_TIME = ["mission", "tm_time"]
T_STATE = _index(SHIPPED, "telemetry", "farm.state")
T_VR = _index(SHIPPED, "telemetry", "farm.v_r")
T_REJ = _index(SHIPPED, "telemetry", "cmd.rejected")
T_MODE = _index(SHIPPED, "telemetry", "health.mode")
H = _index(SHIPPED, "housekeeping", "CORE")
CORE = ["housekeeping", H]
H_MODE = SHIPPED["housekeeping"][H]["channels"].index("health.mode")


def _report_channel(channel: dict[str, Any], slot: int = 3):
    """Add ``channel`` to the telemetry and put it in slot ``slot`` of the CORE report."""
    def mutate(doc: dict[str, Any]) -> None:
        doc["telemetry"].append({"id": max(c["id"] for c in doc["telemetry"]) + 1, **channel})
        doc["housekeeping"][H]["channels"][slot] = channel["name"]
    return mutate


BROKEN = [
    # top level
    ("not an object", lambda d: d.clear() or d.update({"format": []}), "format: expected str"),
    ("format", _set(["format"], "fprime"), "format"),
    ("format missing", _del(["format"]), "format: missing"),
    ("version", _set(["version"], 2), "version"),
    ("version type", _set(["version"], "1"), "version: expected int"),
    ("version bool", _set(["version"], True), "version: expected int, got bool"),
    ("commands type", _set(["commands"], {}), "commands: expected list"),
    ("command not object", _set(["commands", 1], 5), "commands[1]: expected an object"),
    # mission
    ("mission missing", _del(["mission"]), "mission: missing"),
    ("mission type", _set(["mission"], []), "mission: expected dict"),
    ("mission name", _del(["mission", "name"]), "mission.name: missing"),
    ("spacecraft id", _set(["mission", "spacecraft_id"], 1024), "mission.spacecraft_id: 1024 out of 0..1023"),
    ("spacecraft id type", _set(["mission", "spacecraft_id"], 4.2), "mission.spacecraft_id: expected int"),
    ("tm_time code", _set([*TM_TIME, "code"], "CDS"), "mission.tm_time.code"),
    ("tm_time coarse", _set([*TM_TIME, "coarse_octets"], 5), "mission.tm_time"),
    ("tm_time fine type", _set([*TM_TIME, "fine_octets"], "2"), "mission.tm_time.fine_octets: expected int"),
    ("tm_time too long", lambda d: d["mission"]["tm_time"].update(coarse_octets=4, fine_octets=3),
     "mission.tm_time"),
    ("p_field mismatch", _set([*TM_TIME, "p_field"], "0x2F"), "mission.tm_time.p_field"),
    ("p_field type", _set([*TM_TIME, "p_field"], 46), "mission.tm_time.p_field: expected str"),
    ("p_field missing", _del([*TM_TIME, "p_field"]), "mission.tm_time.p_field: missing"),
    ("apid range", _set(["mission", "apids", "core"], 0x7FF), "mission.apids.core: 2047 out of 0..2046"),
    ("apid type", _set(["mission", "apids", "link"], "17"), "mission.apids.link: expected int"),
    # commands
    ("command name missing", _del(["commands", 0, "name"]), "commands[0].name: missing"),
    ("command name chars", _set(["commands", 0, "name"], "PING ME"), "commands[0].name"),
    ("command name empty", _set(["commands", 0, "name"], ""), "commands[0].name"),
    ("command service missing", _del(["commands", 0, "service"]), "commands[0].service: missing"),
    ("command service type", _set(["commands", 0, "service"], "17"), "commands[0].service: expected int"),
    ("command service range", _set(["commands", 0, "service"], 0), "commands[0].service: 0 out of 1..255"),
    ("command subtype range", _set(["commands", 0, "subtype"], 256), "commands[0].subtype: 256 out of 1..255"),
    ("unknown apid", _set(["commands", 0, "apid"], "payload"), "commands[0].apid: 'payload' is not in mission.apids"),
    ("apid number", _set(["commands", 0, "apid"], 16), "commands[0].apid: expected str"),
    ("function_id missing on 8,1", _del([*RESET, "function_id"]), f"commands[{R}].function_id"),
    ("function_id elsewhere", _set(["commands", 0, "function_id"], 3), "commands[0].function_id"),
    ("function_id range", _set([*RESET, "function_id"], 0x10000), f"commands[{R}].function_id: 65536 out of"),
    ("function_id type", _set([*RESET, "function_id"], "2"), f"commands[{R}].function_id: expected int"),
    ("duplicate command name", _append(["commands"], ["commands", 0], {"service": 17, "subtype": 3}),
     "commands: name 'PING' is used twice"),
    ("duplicate opcode", _append(["commands"], ["commands", 0], {"name": "PING2"}),
     "commands: service/subtype/function_id (17, 1, None) is used twice"),
    ("duplicate function id", _set(["commands", 1, "function_id"], 2),
     "commands: service/subtype/function_id (8, 1, 2) is used twice"),
    ("arguments type", _set([*RESET, "arguments"], {}), f"commands[{R}].arguments: expected list"),
    ("argument name", _del([*RESET_ARG, "name"]), f"commands[{R}].arguments[0].name: missing"),
    ("argument type missing", _del([*RESET_ARG, "type"]), f"commands[{R}].arguments[0].type: missing"),
    ("argument type unknown", _set([*RESET_ARG, "type"], "uint8"), f"commands[{R}].arguments[0].type: unknown type 'uint8'"),
    ("argument type not str", _set([*RESET_ARG, "type"], 8), f"commands[{R}].arguments[0].type: expected str"),
    ("enum without values", _del([*RESET_ARG, "values"]), f"commands[{R}].arguments[0].values"),
    ("enum empty values", _set([*RESET_ARG, "values"], {}), f"commands[{R}].arguments[0].values"),
    ("enum values type", _set([*RESET_ARG, "values"], ["ALL"]), f"commands[{R}].arguments[0].values: expected dict"),
    ("enum code not int", _set([*RESET_ARG, "values"], {"ALL": "0"}), f"commands[{R}].arguments[0].values"),
    ("enum code bool", _set([*RESET_ARG, "values"], {"ALL": True}), f"commands[{R}].arguments[0].values"),
    ("enum codes repeat", _set([*RESET_ARG, "values"], {"ALL": 0, "ANY": 0}), f"commands[{R}].arguments[0].values"),
    ("values on non-enum", lambda d: d["commands"][R]["arguments"][0].update(type="u8"),
     f"commands[{R}].arguments[0].values: only enums have values"),
    ("duplicate argument", _append([*RESET, "arguments"], RESET_ARG),
     f"commands[{R}].arguments: name 'service' is used twice"),
    ("argument units type", _set([*RESET_ARG, "units"], 5), f"commands[{R}].arguments[0].units: expected str"),
    ("max_length range", _set([*RESET_ARG, "max_length"], -1), f"commands[{R}].arguments[0].max_length"),
    ("description type", _set(["commands", 0, "description"], None), "commands[0].description: expected str"),
    ("essential type", _set(["commands", 0, "essential"], "yes"), "commands[0].essential: expected bool, got str"),
    ("essential int", _set(["commands", 0, "essential"], 1), "commands[0].essential: expected bool, got int"),
    ("essential null", _set(["commands", 0, "essential"], None), "commands[0].essential: expected bool"),
    # telemetry
    ("channel id missing", _del(["telemetry", 0, "id"]), "telemetry[0].id: missing"),
    ("channel id range", _set(["telemetry", 0, "id"], -1), "telemetry[0].id: -1 out of 0..65535"),
    ("channel type", _set(["telemetry", 0, "type"], "u31"), "telemetry[0].type: unknown type 'u31'"),
    ("duplicate channel name", _set(["telemetry", 1, "name"], "cmd.accepted"),
     "telemetry: name 'cmd.accepted' is used twice"),
    ("duplicate channel id", _set(["telemetry", 1, "id"], 1), "telemetry: id 1 is used twice"),
    ("min above max", lambda d: d["telemetry"][0].update(min=10, max=5), "telemetry[0]: min 10 is above max 5"),
    ("min below type", lambda d: d["telemetry"][0].update(min=-1), "telemetry[0].min: -1 does not fit u32"),
    ("max above u8", lambda d: d["telemetry"][T_VR].update(max=256), f"telemetry[{T_VR}].max: 256 does not fit u8"),
    ("min type", lambda d: d["telemetry"][0].update(min="0"), "telemetry[0].min: expected int or float"),
    ("limits type", _set(["telemetry", T_REJ, "limits"], []), f"telemetry[{T_REJ}].limits: expected dict"),
    ("unknown limit", _set(["telemetry", T_REJ, "limits"], {"red_high": 3}),
     f"telemetry[{T_REJ}].limits: unknown limit 'red_high'"),
    ("limit type", _set(["telemetry", T_REJ, "limits"], {"warning_high": "10"}),
     f"telemetry[{T_REJ}].limits.warning_high: expected int or float"),
    ("critical value not in enum", _set(["telemetry", T_STATE, "limits", "critical_values"], ["BROKEN"]),
     f"telemetry[{T_STATE}].limits.critical_values: 'BROKEN' is not a value of the enum"),
    ("critical values type", _set(["telemetry", T_STATE, "limits", "critical_values"], "LOCKOUT"),
     f"telemetry[{T_STATE}].limits.critical_values: expected list"),
    ("critical values on a number", _set(["telemetry", 0, "limits"], {"critical_values": ["HIGH"]}),
     "telemetry[0].limits.critical_values"),
    # events
    ("event severity", _set([*LOCKOUT, "severity"], "fatal"), f"events[{E}].severity"),
    ("event severity type", _set([*LOCKOUT, "severity"], 3), f"events[{E}].severity: expected str"),
    ("event format missing", _del([*LOCKOUT, "format"]), f"events[{E}].format: missing"),
    ("event placeholder without argument", _set([*LOCKOUT, "format"], "lockout on {vcid} at {ns}, {vr}, {when}"),
     f"events[{E}].format: placeholders"),
    ("event argument without placeholder", _set([*LOCKOUT, "format"], "lockout on {vcid}"), f"events[{E}].format: placeholders"),
    ("event positional placeholder", _set(["events", C, "format"], "reset {}"), f"events[{C}].format"),
    ("event format syntax", _set(["events", C, "format"], "reset {service"), f"events[{C}].format"),
    ("event id duplicate", _set(["events", E, "id"], 1), "events: id 1 is used twice"),
    ("event name duplicate", _set(["events", E, "name"], "COMMAND_REJECTED"), "events: name 'COMMAND_REJECTED' is used twice"),
    ("event argument type", _set([*LOCKOUT, "arguments", 0, "type"], "int"), f"events[{E}].arguments[0].type"),
    # parameters
    ("parameter default above max", _set([*WINDOW, "default"], 101), f"parameters[{W}].default: 101 is above the maximum 100"),
    ("parameter default below min", _set([*WINDOW, "default"], 0), f"parameters[{W}].default: 0 is below the minimum 1"),
    ("parameter default type", _set([*WINDOW, "default"], "10"), f"parameters[{W}].default: expected integer"),
    ("parameter default missing", _del([*WINDOW, "default"]), f"parameters[{W}].default"),
    ("parameter float default", _set([*INTERVAL, "default"], 20.0), f"parameters[{P_INT}].default"),
    ("parameter max beyond u8", _set([*WINDOW, "max"], 300), f"parameters[{W}].max: 300 does not fit u8"),
    ("parameter min above max", _set([*WINDOW, "min"], 101), f"parameters[{W}]: min 101 is above max 100"),
    ("parameter duplicate id", _set([*INTERVAL, "id"], 3), "parameters: id 3 is used twice"),
    ("parameter name", _set([*INTERVAL, "name"], "link/interval"), f"parameters[{P_INT}].name"),
    # housekeeping
    ("housekeeping type", _set(["housekeeping"], {}), "housekeeping: expected list"),
    ("report not object", _set(CORE, []), f"housekeeping[{H}]: expected an object"),
    ("report sid missing", _del([*CORE, "sid"]), f"housekeeping[{H}].sid: missing"),
    ("report sid zero", _set([*CORE, "sid"], 0), f"housekeeping[{H}].sid: 0 out of 1..65535"),
    ("report sid range", _set([*CORE, "sid"], 0x10000), f"housekeeping[{H}].sid: 65536 out of 1..65535"),
    ("report sid type", _set([*CORE, "sid"], "1"), f"housekeeping[{H}].sid: expected int, got str"),
    ("report sid bool", _set([*CORE, "sid"], True), f"housekeeping[{H}].sid: expected int, got bool"),
    ("report name missing", _del([*CORE, "name"]), f"housekeeping[{H}].name: missing"),
    ("report name chars", _set([*CORE, "name"], "CORE HK"), f"housekeeping[{H}].name: 'CORE HK' must be"),
    ("report channels missing", _del([*CORE, "channels"]), f"housekeeping[{H}].channels: missing"),
    ("report channels type", _set([*CORE, "channels"], "cmd.accepted"), f"housekeeping[{H}].channels: expected list"),
    ("report unknown channel", _set([*CORE, "channels", 3], "cmd.nope"),
     f"housekeeping[{H}].channels[3]: 'cmd.nope' is not a telemetry channel"),
    ("report channel by id", _set([*CORE, "channels", 3], 1), f"housekeeping[{H}].channels[3]: 1 is not a telemetry"),
    ("report channel unhashable", _set([*CORE, "channels", 3], ["cmd.accepted"]),
     f"housekeeping[{H}].channels[3]: ['cmd.accepted'] is not a telemetry channel"),
    ("report string channel", _report_channel({"name": "x.label", "type": "string"}),
     f"housekeeping[{H}].channels[3]: a string channel cannot go in a housekeeping report"),
    ("report bytes channel", _report_channel({"name": "x.blob", "type": "bytes"}, 0),
     f"housekeeping[{H}].channels[0]: a bytes channel cannot go in a housekeeping report"),
    ("report scalar channel", _report_channel({"name": "x.any", "type": "scalar"}),
     f"housekeeping[{H}].channels[3]: a scalar channel cannot go in a housekeeping report"),
    ("report enum code above an octet", _set(["telemetry", T_MODE, "values", "SAFE"], 256),
     f"housekeeping[{H}].channels[{H_MODE}]: enum codes of a reported channel must fit one octet"),
    ("report enum code negative", _set(["telemetry", T_MODE, "values", "NOMINAL"], -1),
     f"housekeeping[{H}].channels[{H_MODE}]: enum codes of a reported channel must fit one octet"),
    ("report channel twice", _set([*CORE, "channels", 3], "cmd.accepted"),
     f"housekeeping[{H}].channels: channel 'cmd.accepted' is used twice"),
    ("report interval missing", _del([*CORE, "interval"]), f"housekeeping[{H}].interval: missing"),
    ("report interval zero", _set([*CORE, "interval"], 0), f"housekeeping[{H}].interval: 0 out of (0, 86400]"),
    ("report interval negative", _set([*CORE, "interval"], -2.0), f"housekeeping[{H}].interval: -2.0 out of"),
    ("report interval above a day", _set([*CORE, "interval"], 86400.5), f"housekeeping[{H}].interval: 86400.5 out of"),
    ("report interval nan", _set([*CORE, "interval"], float("nan")), f"housekeeping[{H}].interval: nan out of"),
    ("report interval inf", _set([*CORE, "interval"], float("inf")), f"housekeeping[{H}].interval: inf out of"),
    ("report interval type", _set([*CORE, "interval"], "2"), f"housekeeping[{H}].interval: expected int or float"),
    ("report interval bool", _set([*CORE, "interval"], True), f"housekeeping[{H}].interval: expected int or float, got bool"),
    ("report enabled type", _set([*CORE, "enabled"], 1), f"housekeeping[{H}].enabled: expected bool, got int"),
    ("report sid duplicate", lambda d: [r.update(sid=7) for r in d["housekeeping"]], "housekeeping: sid 7 is used twice"),
    ("report name duplicate", lambda d: [r.update(name="HK") for r in d["housekeeping"]],
     "housekeeping: name 'HK' is used twice"),
]


@pytest.mark.parametrize(("mutate", "path"), [pytest.param(m, p, id=i) for i, m, p in BROKEN])
def test_broken_variants_name_the_path(mutate, path: str) -> None:
    doc = shipped()
    mutate(doc)
    with pytest.raises(DictionaryError) as info:
        parse_dictionary(doc)
    assert path in str(info.value), str(info.value)


def test_parameter_error_drops_the_command_prefix() -> None:
    doc = shipped()
    doc["parameters"][W]["default"] = 999
    with pytest.raises(DictionaryError) as info:
        parse_dictionary(doc)
    assert str(info.value).startswith(f"parameters[{W}].default:")


@pytest.mark.parametrize("doc", [None, [], "zenith", 1, True])
def test_document_must_be_an_object(doc: Any) -> None:
    with pytest.raises(DictionaryError, match="dictionary: expected an object"):
        parse_dictionary(doc)


def test_optional_sections_may_be_empty_or_absent() -> None:
    doc = shipped()
    for key in ("commands", "telemetry", "events", "parameters", "housekeeping"):
        del doc[key]
    d = parse_dictionary(doc)
    assert d.commands == d.telemetry == d.events == d.parameters == d.housekeeping == ()
    for key in ("commands", "telemetry", "events", "parameters", "housekeeping"):
        doc[key] = []
    d = parse_dictionary(doc)
    assert d.commands == d.telemetry == d.events == d.parameters == d.housekeeping == ()


def test_housekeeping_needs_the_telemetry_it_reports() -> None:
    doc = shipped()
    del doc["telemetry"]
    with pytest.raises(DictionaryError, match=r"housekeeping\[0\]\.channels\[0\]: 'cmd.accepted' is not a telemetry"):
        parse_dictionary(doc)


def test_enum_parameter_and_string_max_length() -> None:
    doc = shipped()
    unused = max(p["id"] for p in doc["parameters"]) + 1
    doc["parameters"].append({"id": unused, "name": "mode", "type": "enum", "values": {"A": 1, "B": 2}, "default": "B"})
    doc["parameters"].append({"id": unused + 1, "name": "label", "type": "string", "max_length": 3, "default": "abc"})
    d = parse_dictionary(doc)
    assert d.parameter("mode").default == "B"  # type: ignore[union-attr]
    assert d.parameter("label").default == "abc"  # type: ignore[union-attr]
    doc["parameters"][-1]["default"] = "abcd"
    label = len(doc["parameters"]) - 1
    with pytest.raises(DictionaryError, match=rf"parameters\[{label}\]\.default: 4 long, at most 3"):
        parse_dictionary(doc)


def test_essential_defaults_to_false() -> None:
    assert Command("X", 17, 1, 16).essential is False
    doc = shipped()
    ping = _index(doc, "commands", "PING")
    doc["commands"][ping]["essential"] = True
    assert parse_dictionary(doc).command("PING").essential is True  # type: ignore[union-attr]
    del doc["commands"][ping]["essential"]
    assert parse_dictionary(doc).command("PING").essential is False  # type: ignore[union-attr]


def test_report_defaults_and_edges() -> None:
    doc = shipped()
    doc["telemetry"][T_MODE]["values"] = {"NOMINAL": 0, "SAFE": 255}  # the octet's both ends
    doc["housekeeping"] = [
        {"sid": 1, "name": "A", "channels": ["health.mode", "farm.v_r", "cmd.accepted"], "interval": 86400},
        {"sid": 0xFFFF, "name": "B", "channels": ["cmd.accepted"], "interval": 0.001, "enabled": False},
    ]
    a, b = parse_dictionary(doc).housekeeping
    assert (a.sid, a.name, a.enabled, a.interval) == (1, "A", True, 86400.0)
    assert type(a.interval) is float
    assert [c.name for c in a.channels] == ["health.mode", "farm.v_r", "cmd.accepted"]
    assert (b.sid, b.name, b.enabled, b.interval) == (0xFFFF, "B", False, 0.001)


def _with_scalar_parameter(default: Any, **extra: Any) -> tuple[dict[str, Any], int]:
    doc = shipped()
    unused = max(p["id"] for p in doc["parameters"]) + 1
    doc["parameters"].append({"id": unused, "name": "x.any", "type": "scalar", "default": default, **extra})
    return doc, len(doc["parameters"]) - 1


@pytest.mark.parametrize("default", [0, -5, 2**64 - 1, 0.5, -1e300, True, False, "", "abc"])
def test_scalar_parameter_takes_any_number_bool_or_string(default: Any) -> None:
    doc, _ = _with_scalar_parameter(default)
    value = parse_dictionary(doc).parameter("x.any").default  # type: ignore[union-attr]
    assert value == default and type(value) is type(default)


@pytest.mark.parametrize(("default", "reason"), [
    (b"1", "expected a number, bool or string, got bytes"), ([1], "got list"), ({"a": 1}, "got dict"),
    (None, "got NoneType"), (float("nan"), "nan is not a finite f64"), (float("inf"), "inf is not a finite f64"),
    (2**64, "does not fit u64"), ("abcd", "4 long, at most 3"),
])
def test_scalar_parameter_rejects_the_rest(default: Any, reason: str) -> None:
    doc, i = _with_scalar_parameter(default, max_length=3)
    with pytest.raises(DictionaryError) as info:
        parse_dictionary(doc)
    assert str(info.value).startswith(f"parameters[{i}].default: ") and reason in str(info.value)


# --- bugs --------------------------------------------------------------------------------------------


def test_non_hex_p_field_is_a_dictionary_error() -> None:
    doc = shipped()
    doc["mission"]["tm_time"]["p_field"] = "0xZZ"
    with pytest.raises(DictionaryError, match=r"mission\.tm_time\.p_field"):
        parse_dictionary(doc)


def test_unhashable_critical_value_is_a_dictionary_error() -> None:
    doc = shipped()
    doc["telemetry"][T_STATE]["limits"]["critical_values"] = [["LOCKOUT"]]
    with pytest.raises(DictionaryError, match=rf"telemetry\[{T_STATE}\]\.limits\.critical_values"):
        parse_dictionary(doc)


def test_huge_integer_float_default_is_a_dictionary_error() -> None:
    doc = shipped()
    doc["parameters"][P_INT]["default"] = 10**400
    with pytest.raises(DictionaryError, match=rf"parameters\[{P_INT}\]\.default"):
        parse_dictionary(doc)


def test_event_format_with_invalid_conversion_is_rejected() -> None:
    doc = shipped()
    doc["events"][C]["format"] = "counters reset: {service!z}"
    with pytest.raises(DictionaryError, match=rf"events\[{C}\]\.format"):
        parse_dictionary(doc)


def test_enum_code_beyond_msgpack_range_is_rejected() -> None:
    doc = shipped()
    doc["commands"][R]["arguments"][0]["values"]["HUGE"] = 2**64
    with pytest.raises(DictionaryError, match=rf"commands\[{R}\]\.arguments\[0\]\.values"):
        parse_dictionary(doc)


# --- property tests ----------------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
KEYS = st.sampled_from(["format", "version", "mission", "commands", "telemetry", "events", "parameters",
                        "housekeeping", "name", "type", "values", "apid", "service", "subtype", "tm_time", "apids",
                        "id", "sid", "channels", "interval", "enabled", "essential"])
NEAR = st.fixed_dictionaries(
    {"format": st.just("zenith-dictionary"), "version": st.just(1)},
    optional={"mission": JSON, "commands": JSON, "telemetry": JSON, "events": JSON, "parameters": JSON,
              "housekeeping": JSON},
)


def _parse_or_dictionary_error(doc: Any) -> None:
    try:
        result = parse_dictionary(doc)
    except DictionaryError:
        return
    assert isinstance(result, Dictionary)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON | st.dictionaries(KEYS, JSON, max_size=6) | NEAR)
def test_arbitrary_json_raises_only_dictionary_error(doc: Any) -> None:
    _parse_or_dictionary_error(doc)


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))] or [path]
    return [path]


LEAVES = [p for p in _leaves(SHIPPED) if p]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(LEAVES), JSON)
def test_mutated_shipped_document_raises_only_dictionary_error(path: tuple, value: Any) -> None:
    doc = shipped()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    _parse_or_dictionary_error(doc)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_deleting_any_key_raises_only_dictionary_error(data: st.DataObject) -> None:
    paths = sorted({p[:n] for p in LEAVES for n in range(1, len(p) + 1) if isinstance(p[n - 1], str)}, key=repr)
    path = data.draw(st.sampled_from(paths))
    doc = shipped()
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    _parse_or_dictionary_error(doc)

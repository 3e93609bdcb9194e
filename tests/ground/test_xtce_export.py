"""`ground export xtce`: schema-valid XTCE that an independent reader decodes our own packets with,
and commands that, encoded from the XTCE alone, the payload's decoder takes for what they say."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

import pytest
import space_packet_parser as spp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lxml import etree

from flight.dictionary import load_dictionary
from flight.dictionary.commands import decode_app_data
from flight.dictionary.model import Channel, Command, Dictionary, HousekeepingReport
from flight.dictionary.packing import pack_event, pack_report
from flight.dictionary.types import INTEGER_RANGES
from flight.link.crc import append_crc
from flight.link.errors import ZenithError
from flight.link.pus import build_tm, parse_tc
from ground.xtce_export import ALIAS_NAMESPACE, export_xtce, xtce_name

ZD = load_dictionary()
NS = {"x": "http://www.omg.org/spec/XTCE/20180204"}
HK_APID = ZD.mission.apids["core"]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xtce") / "zenith.xml"
    path.write_text(export_xtce(ZD)[0])
    return path


@pytest.fixture(scope="module")
def reader(document: Path) -> spp.XtcePacketDefinition:
    return spp.load_xtce(document)


@pytest.fixture(scope="module")
def tree(document: Path) -> etree._ElementTree:
    return etree.parse(str(document))


def test_the_document_is_valid_against_the_xtce_1_2_schema(document: Path) -> None:
    # The schema bundled with space_packet_parser, offline: nothing is fetched.
    result = spp.validate_xtce(document, level="schema", print_results=False, raise_on_error=False,
                               allow_schema_download=False)
    assert result.valid, str(result)


def test_a_document_broken_against_the_schema_is_caught(tmp_path: Path, document: Path) -> None:
    """The check above can fail: a dotted name, which XTCE forbids, is refused."""
    dotted = next(c.name for r in ZD.housekeeping for c in r.channels if "." in c.name)
    broken = tmp_path / "broken.xml"
    broken.write_text(document.read_text().replace(f'name="{xtce_name(dotted)}"', f'name="{dotted}"', 1))
    assert f'name="{dotted}"' in broken.read_text()
    result = spp.validate_xtce(broken, level="schema", print_results=False, raise_on_error=False,
                               allow_schema_download=False)
    assert not result.valid


def _channel_values(report: HousekeepingReport, draw: st.DrawFn) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for channel in report.channels:
        kind = channel.type.name
        if kind in INTEGER_RANGES:
            values[channel.name] = draw(st.integers(*INTEGER_RANGES[kind]))
        elif kind == "f32":
            values[channel.name] = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
        elif kind == "f64":
            values[channel.name] = draw(st.floats(allow_nan=False, allow_infinity=False))
        elif kind == "bool":
            values[channel.name] = draw(st.booleans())
        else:
            values[channel.name] = draw(st.sampled_from(sorted(channel.type.values)))
    return values


def _tm(service: int, subtype: int, data: bytes, seq: int = 7, t: float = 1_764_000_000.5) -> bytes:
    return build_tm(HK_APID, service, subtype, data, ZD.mission.tm_time.encode(t), seq)


def _same(channel: Channel, sent: Any, got: Any) -> bool:
    kind = channel.type.name
    if kind == "bool":
        return bool(got) == sent
    if kind in ("f32", "f64"):
        return float(got) == sent  # drawn at the channel's own width: exact
    if kind == "enum":
        return str(got) == sent
    return int(got) == sent


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_housekeeping_report_decodes_from_the_xtce_as_the_payload_packs_it(
        reader: spp.XtcePacketDefinition, data: st.DataObject) -> None:
    report = data.draw(st.sampled_from(ZD.housekeeping))
    values = _channel_values(report, data.draw)
    packet = _tm(3, 25, pack_report(report, values))
    got = reader.parse_bytes(packet)
    assert got["ccsds_apid"] == HK_APID and got["pus_service"] == 3 and got["pus_subtype"] == 25
    assert got["hk_structure_id"] == report.sid and got["ccsds_sequence_count"] == 7
    assert got["obt_coarse"] == 1_764_000_000 and got["obt_fine"] == 1 << 15
    assert int(got["packet_crc"]) == int.from_bytes(packet[-2:], "big")
    for channel in report.channels:
        assert _same(channel, values[channel.name], got[xtce_name(channel.name)]), channel.name


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_an_event_report_names_its_event(reader: spp.XtcePacketDefinition, data: st.DataObject) -> None:
    event = data.draw(st.sampled_from(ZD.events))
    arguments = {a.name: _value_for(a.type, data) for a in event.arguments}
    with warnings.catch_warnings():  # the msgpack arguments after the ID are left over, as documented
        warnings.simplefilter("ignore")
        got = reader.parse_bytes(_tm(5, int(event.severity), pack_event(event, arguments)))
    assert str(got["event_id"]) == event.name and got["pus_subtype"] == int(event.severity)


def test_dictionary_names_are_kept_as_aliases(tree: etree._ElementTree) -> None:
    aliases = {a.get("alias") for a in tree.iterfind(f".//x:Alias[@nameSpace='{ALIAS_NAMESPACE}']", NS)}
    packed = {c.name for r in ZD.housekeeping for c in r.channels}
    assert packed <= aliases


def test_two_names_on_one_xtce_name_are_refused() -> None:
    report = ZD.housekeeping[0]
    kind = report.channels[0].type
    twins = (Channel(998, "link.fer", kind), Channel(999, "link_fer", kind))
    bad = Dictionary(ZD.mission, ZD.commands, ZD.telemetry, ZD.events, ZD.parameters,
                     (HousekeepingReport(report.sid, report.name, twins, report.interval),))
    with pytest.raises(ZenithError, match="would both be 'link_fer'"):
        export_xtce(bad)


# --- commands: encoded from the XTCE alone ----------------------------------------------------


def _command_entries(tree: etree._ElementTree, name: str) -> tuple[list[etree._Element], dict[str, etree._Element]]:
    command = tree.find(f".//x:MetaCommand[@name='{name}']", NS)
    assert command is not None, name
    types = {t.get("name"): t for t in tree.iterfind(".//x:ArgumentTypeSet/*", NS)}
    arguments = {a.get("name"): types[a.get("argumentTypeRef")] for a in command.iterfind("x:ArgumentList/x:Argument", NS)}
    return list(command.find("x:CommandContainer/x:EntryList", NS)), arguments


def _encode_argument(kind: etree._Element, value: Any) -> bytes:
    """One argument as its XTCE type says: the little of XTCE our export uses, read independently."""
    tag = etree.QName(kind).localname
    if tag == "IntegerArgumentType":
        encoding = kind.find("x:IntegerDataEncoding", NS)
        bits = int(encoding.get("sizeInBits"))
        return value.to_bytes(bits // 8, "big", signed=encoding.get("encoding") == "twosComplement")
    if tag == "FloatArgumentType":
        bits = int(kind.find("x:FloatDataEncoding", NS).get("sizeInBits"))
        return struct.pack(">f" if bits == 32 else ">d", value)
    if tag == "EnumeratedArgumentType":
        codes = {e.get("label"): int(e.get("value")) for e in kind.iterfind("x:EnumerationList/x:Enumeration", NS)}
        return bytes([codes[value]])
    if tag == "StringArgumentType":
        raw = value.encode()
        bits = int(kind.find(".//x:LeadingSize", NS).get("sizeInBitsOfSizeTag"))
        return len(raw).to_bytes(bits // 8, "big") + raw
    if tag == "BinaryArgumentType":  # XTCE 1.2 has no leading size for binary: Yamcs's own encoder
        algorithm = kind.find(".//x:ToBinaryTransformAlgorithm/x:AlgorithmText", NS).text
        assert algorithm == "org.yamcs.algo.LeadingSizeBinaryEncoder(16)"
        return len(value).to_bytes(2, "big") + value
    raise AssertionError(f"unexpected argument type {tag}")


def _app_data(tree: etree._ElementTree, command: Command, values: dict[str, Any]) -> bytes:
    entries, types = _command_entries(tree, command.name)
    out = b""
    for entry in entries:
        tag = etree.QName(entry).localname
        if tag == "FixedValueEntry":
            out += bytes.fromhex(entry.get("binaryValue"))[-int(entry.get("sizeInBits")) // 8:]
        else:
            name = entry.get("argumentRef")
            out += _encode_argument(types[name], values[name])
    return out


def _value_for(kind: Any, data: st.DataObject) -> Any:
    name = kind.name
    if name in INTEGER_RANGES:
        low, high = INTEGER_RANGES[name]
        low = max(low, int(kind.minimum)) if kind.minimum is not None else low
        high = min(high, int(kind.maximum)) if kind.maximum is not None else high
        return data.draw(st.integers(low, high))
    if name in ("f32", "f64"):
        low = kind.minimum if kind.minimum is not None else -(2.0**100)  # exact in single precision too
        high = kind.maximum if kind.maximum is not None else 2.0**100
        value = data.draw(st.floats(low, high))
        if name == "f32":  # what a single-precision field can carry, still in range
            value = struct.unpack(">f", struct.pack(">f", value))[0]
            assume(low <= value <= high)
        return value
    if name == "bool":
        return data.draw(st.booleans())
    if name == "enum":
        return data.draw(st.sampled_from(sorted(kind.values)))
    if name == "string":
        return data.draw(st.text(max_size=min(kind.max_length, 40)))
    return data.draw(st.binary(max_size=min(kind.max_length, 40)))


EXPORTED = [c for c in ZD.commands if all(a.type.name != "scalar" for a in c.arguments)]


def test_only_commands_with_a_scalar_argument_are_left_out() -> None:
    text, left_out = export_xtce(ZD)
    assert left_out == [c.name for c in ZD.commands if c not in EXPORTED]
    assert all(name in text for name in left_out)  # named in the description, for the console's user


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_command_encoded_from_the_xtce_decodes_on_board_as_given(tree: etree._ElementTree,
                                                                    data: st.DataObject) -> None:
    command = data.draw(st.sampled_from(EXPORTED))
    values = {a.name: _value_for(a.type, data) for a in command.arguments}
    decoded = decode_app_data(ZD, command.service, command.subtype, _app_data(tree, command, values))
    assert decoded.command.name == command.name
    assert decoded.arguments == values


def test_the_command_header_is_pus_c(tree: etree._ElementTree) -> None:
    """Header fields from the XTCE, with the console's fields filled, make a packet our parser takes."""
    entries, types = _command_entries(tree, "PUS_TC")
    assert [etree.QName(e).localname for e in entries][:3] == ["FixedValueEntry"] * 3
    ping = next(c for c in ZD.commands if c.name == "PING")
    fields = {"apid": ping.apid, "sequence_count": 5, "ack_flags": 15, "pus_service": ping.service,
              "pus_subtype": ping.subtype, "source_id": 0}
    bits = ""
    for entry in entries:
        if etree.QName(entry).localname == "FixedValueEntry":
            size = int(entry.get("sizeInBits"))
            bits += format(int(entry.get("binaryValue"), 16), f"0{size}b")[-size:]
        else:
            name = entry.get("argumentRef")
            size = int(types[name].find("x:IntegerDataEncoding", NS).get("sizeInBits"))
            value = 6 if name == "packet_length" else fields[name]  # secondary header 5, CRC 2; minus one
            bits += format(value, f"0{size}b")
    tc = parse_tc(append_crc(int(bits, 2).to_bytes(len(bits) // 8, "big")))
    assert (tc.apid, tc.service, tc.message_subtype, tc.seq_count) == (ping.apid, ping.service, ping.subtype, 5)

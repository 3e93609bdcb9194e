"""The dictionary as XTCE 1.2 (OMG SpaceSystem), so that Yamcs or COSMOS can serve as a console.

Written with Yamcs's own XTCE writer (yamcs-pymdb). What it describes, exactly as the wire has it:

- telemetry: the space packet primary header, the PUS-C TM secondary header (the time field as its
  CUC coarse and fine octets), and on it the TM[3,25] housekeeping reports (one container per
  structure ID, every channel typed, with its units and limits as alarms), the TM[5,x] event
  reports (the event ID as an enumeration; the arguments after it are one msgpack array, which
  XTCE cannot describe) and the TM[1,x] verification reports (the request ID); a housekeeping
  report ends with its CRC-16;
- telecommands: the primary header, the PUS-C TC secondary header and, per command, the function ID
  of a PUS 8,1 and the arguments. Zenith's arguments are one msgpack array; msgpack lets every value
  be written at a fixed width behind a fixed type octet (uint 32 is 0xce and four octets), so each
  argument is an entry of its own behind a fixed value, and the payload decodes what a console
  encodes from this file (an octet-string argument's two-octet length uses Yamcs's own leading-size
  algorithm: XTCE 1.2 gives binary no leading size). Like every PUS mission, the packet length,
  sequence count and CRC are the console's to fill (Yamcs: a command post-processor). A command with an argument of the
  dictionary's ``scalar`` type (any of int, float, bool or string) has no fixed encoding: it is
  left out, and named in the document's description.

XTCE names may not hold dots, so ``gpu.temp`` is ``gpu_temp``, with the dictionary's own name as
an alias in the ``zenith`` namespace.
"""

from __future__ import annotations

from typing import Any

import yamcs.pymdb as Y
from yamcs.pymdb.expressions import Expression, all_of, eq

from flight.dictionary.model import FUNCTION_MANAGEMENT, Argument, Channel, Command, Dictionary, Limits
from flight.dictionary.types import FLOAT_LIMITS, INTEGER_RANGES
from flight.link.errors import ZenithError
from flight.link.pus import ACK_ALL, PUS_VERSION

ROOT_CONTAINER = "CCSDSPacket"  # the name space_packet_parser (and most readers) start from
ALIAS_NAMESPACE = "zenith"
HOUSEKEEPING, EVENTS, VERIFICATION = 3, 5, 1
# msgpack's type octet for a value of each type written at its full width.
_MSGPACK_PREFIX = {"u8": 0xCC, "u16": 0xCD, "u32": 0xCE, "u64": 0xCF, "i8": 0xD0, "i16": 0xD1, "i32": 0xD2,
                   "i64": 0xD3, "f32": 0xCA, "f64": 0xCB, "enum": 0xCC, "string": 0xDA, "bytes": 0xC5}
MSGPACK_FALSE, MSGPACK_TRUE = 0xC2, 0xC3


def xtce_name(name: str) -> str:
    return name.replace(".", "_")


def _integer(bits: int, signed: bool = False) -> Y.IntegerEncoding:
    scheme = Y.IntegerEncodingScheme.TWOS_COMPLEMENT if signed else Y.IntegerEncodingScheme.UNSIGNED
    return Y.IntegerEncoding(bits=bits, scheme=scheme)


def _integer_type(kind: str) -> dict[str, Any]:
    """An integer type's (u8 ... i64) signedness, width and big-endian encoding, as pymdb takes them."""
    signed, bits = kind.startswith("i"), int(kind[1:])
    return {"signed": signed, "bits": bits, "encoding": _integer(bits, signed)}


def _float_type(kind: str) -> dict[str, Any]:
    """A float type's (f32, f64) width and IEEE 754 encoding, as pymdb takes them."""
    bits = int(kind[1:])
    return {"bits": bits, "encoding": Y.float32_t if bits == 32 else Y.float64_t}


class XtceWriter:
    """Builds the SpaceSystem of one dictionary; :meth:`dumps` gives the XML."""

    def __init__(self, dictionary: Dictionary) -> None:
        self.dictionary = dictionary
        self.system = Y.System(dictionary.mission.name)
        self.left_out: list[str] = []
        self._names: dict[str, str] = {}
        self._fields: dict[str, Y.Parameter] = {}
        self._telemetry()
        self._telecommands()
        self.system.long_description = self._description()

    def dumps(self) -> str:
        return self.system.dumps()

    # --- telemetry ----------------------------------------------------------------------------

    def _field(self, name: str, bits: int, description: str) -> Y.IntegerParameter:
        """An unsigned header field of ``bits`` bits, made once."""
        if name not in self._fields:
            self._fields[name] = Y.IntegerParameter(system=self.system, name=name, signed=False,
                                                    bits=max(8, bits), encoding=_integer(bits),
                                                    short_description=description)
        return self._fields[name]  # type: ignore[return-value]

    def _entries(self, fields: list[tuple[str, int, str]]) -> list[Y.ParameterEntry]:
        return [Y.ParameterEntry(self._field(name, bits, text)) for name, bits, text in fields]

    def _telemetry(self) -> None:
        time = self.dictionary.mission.tm_time
        root = Y.Container(system=self.system, name=ROOT_CONTAINER, abstract=True, entries=self._entries([
            ("ccsds_version", 3, "packet version number (0)"), ("ccsds_type", 1, "0 telemetry, 1 telecommand"),
            ("ccsds_secondary_header", 1, "secondary header present"), ("ccsds_apid", 11, "application process ID"),
            ("ccsds_sequence_flags", 2, "3: unsegmented"), ("ccsds_sequence_count", 14, "per APID, modulo 16384"),
            ("ccsds_packet_length", 16, "octets in the packet data field, minus one")]))
        fine = [("obt_fine", 8 * time.fine_octets, f"time: units of 2^-{8 * time.fine_octets} s")] \
            if time.fine_octets else []
        pus_tm = Y.Container(
            system=self.system, name="PUS_TM", abstract=True, base=root,
            condition=all_of(eq(self._fields["ccsds_type"], 0), eq(self._fields["ccsds_secondary_header"], 1)),
            entries=self._entries([
                ("pus_version", 4, "PUS version (2: PUS-C)"), ("time_reference_status", 4, "spacecraft time reference"),
                ("pus_service", 8, "service type"), ("pus_subtype", 8, "message subtype"),
                ("message_type_counter", 16, "per service and subtype"), ("destination_id", 16, "destination"),
                ("obt_coarse", 8 * time.coarse_octets, "time: CUC seconds since 1970-01-01T00:00:00Z"), *fine]))
        crc = self._field("packet_crc", 16, "CRC-16/CCITT-FALSE of the packet")
        self._housekeeping(pus_tm, crc)
        self._events(pus_tm)  # what follows each (arguments, failure data) varies: no CRC position
        self._verification(pus_tm)

    def _service(self, base: Y.Container, service: int, name: str, entries: list[Y.ParameterEntry],
                 subtype: int | None = None, abstract: bool = True) -> Y.Container:
        condition: Expression = eq(self._fields["pus_service"], service)
        if subtype is not None:
            condition = all_of(condition, eq(self._fields["pus_subtype"], subtype))
        return Y.Container(system=self.system, name=name, base=base, abstract=abstract, condition=condition,
                           entries=entries)

    def _housekeeping(self, pus_tm: Y.Container, crc: Y.Parameter) -> None:
        sid = self._field("hk_structure_id", 16, "housekeeping structure ID")
        reports = self._service(pus_tm, HOUSEKEEPING, "PUS_TM_3_25", [Y.ParameterEntry(sid)], subtype=25)
        channels: dict[str, Y.Parameter] = {}
        for report in self.dictionary.housekeeping:
            entries = []
            for channel in report.channels:
                if channel.name not in channels:
                    channels[channel.name] = self._channel(channel)
                entries.append(Y.ParameterEntry(channels[channel.name]))
            Y.Container(system=self.system, name=f"hk_{xtce_name(report.name)}", base=reports,
                        condition=eq(sid, report.sid), entries=[*entries, Y.ParameterEntry(crc)],
                        short_description=f"TM[3,25] structure {report.sid}, every {report.interval:g} s")

    def _events(self, pus_tm: Y.Container) -> None:
        event_id = Y.EnumeratedParameter(
            system=self.system, name="event_id", encoding=Y.uint16_t,
            choices=[(e.id, e.name, e.format) for e in self.dictionary.events],
            short_description="TM[5,x] event ID (x: severity); one msgpack array of its arguments follows")
        self._service(pus_tm, EVENTS, "PUS_TM_5", [Y.ParameterEntry(event_id)], abstract=False)

    def _verification(self, pus_tm: Y.Container) -> None:
        entries = self._entries([
            ("tc_packet_id", 16, "request ID: the telecommand's version, type, flag and APID"),
            ("tc_sequence_control", 16, "request ID: the telecommand's sequence flags and count")])
        self._service(pus_tm, VERIFICATION, "PUS_TM_1", entries, abstract=False)

    def _channel(self, channel: Channel) -> Y.Parameter:
        name = self._unique(channel.name)
        common = {"system": self.system, "name": name, "aliases": {ALIAS_NAMESPACE: channel.name},
                  "short_description": channel.description or None, "units": channel.units or None}
        kind = channel.type.name
        if kind in INTEGER_RANGES:
            return Y.IntegerParameter(**_integer_type(kind), alarm=_threshold(channel.limits), **common)
        if kind in FLOAT_LIMITS:
            return Y.FloatParameter(**_float_type(kind), alarm=_threshold(channel.limits), **common)
        if kind == "bool":
            return Y.BooleanParameter(encoding=Y.uint8_t, **common)
        if kind == "enum":
            alarm = Y.EnumerationAlarm({label: Y.AlarmLevel.CRITICAL for label in channel.limits.critical_values}) \
                if channel.limits.critical_values else None
            return Y.EnumeratedParameter(choices=[(code, label) for label, code in channel.type.values.items()],
                                         encoding=Y.uint8_t, alarm=alarm, **common)
        raise ZenithError(f"telemetry channel {channel.name!r}: type {kind} is not packed in housekeeping")

    def _unique(self, name: str) -> str:
        """The XTCE name of a dictionary name; two dictionary names on one XTCE name are an error."""
        plain = xtce_name(name)
        if self._names.setdefault(plain, name) != name:
            raise ZenithError(f"{name!r} and {self._names[plain]!r} would both be {plain!r} in XTCE")
        return plain

    # --- telecommands -------------------------------------------------------------------------

    def _telecommands(self) -> None:
        fixed = [Y.FixedValueEntry(bytes([0]), "ccsds_version", bits=3), Y.FixedValueEntry(bytes([1]), "ccsds_type", bits=1),
                 Y.FixedValueEntry(bytes([1]), "ccsds_secondary_header", bits=1)]
        apid = Y.IntegerArgument(name="apid", signed=False, bits=16, encoding=_integer(11))
        flags = Y.FixedValueEntry(bytes([3]), "ccsds_sequence_flags", bits=2)
        count = Y.IntegerArgument(name="sequence_count", signed=False, bits=16, encoding=_integer(14), default=0,
                                  short_description="the console's to fill (Yamcs: a command post-processor)")
        length = Y.IntegerArgument(name="packet_length", signed=False, bits=16, encoding=Y.uint16_t, default=0,
                                   short_description="the console's to fill: octets in the data field, minus one")
        version = Y.FixedValueEntry(bytes([PUS_VERSION]), "pus_version", bits=4)
        ack = Y.IntegerArgument(name="ack_flags", signed=False, bits=8, encoding=_integer(4), default=ACK_ALL,
                                short_description="acceptance, start, progress, completion reports asked for")
        service = Y.IntegerArgument(name="pus_service", signed=False, bits=8, encoding=Y.uint8_t)
        subtype = Y.IntegerArgument(name="pus_subtype", signed=False, bits=8, encoding=Y.uint8_t)
        source = Y.IntegerArgument(name="source_id", signed=False, bits=16, encoding=Y.uint16_t, default=0)
        header = Y.Command(
            system=self.system, name="PUS_TC", abstract=True,
            arguments=[apid, count, length, ack, service, subtype, source],
            entries=[*fixed, Y.ArgumentEntry(apid), flags, Y.ArgumentEntry(count), Y.ArgumentEntry(length),
                     version, Y.ArgumentEntry(ack), Y.ArgumentEntry(service), Y.ArgumentEntry(subtype),
                     Y.ArgumentEntry(source)],
            short_description="PUS-C telecommand; the packet ends with a CRC-16/CCITT-FALSE of it all")
        for command in self.dictionary.commands:
            if any(a.type.name == "scalar" for a in command.arguments):
                self.left_out.append(command.name)
                continue
            self._command(header, command)

    def _command(self, header: Y.Command, command: Command) -> None:
        entries: list[Y.ArgumentEntry | Y.FixedValueEntry] = []
        if command.function_id is not None and (command.service, command.subtype) == FUNCTION_MANAGEMENT:
            entries.append(Y.FixedValueEntry(command.function_id.to_bytes(2, "big"), "function_id", bits=16))
        arguments = [self._argument(a) for a in command.arguments]
        if arguments:
            n = len(arguments)
            array = bytes([0x90 | n]) if n < 16 else bytes([0xDC]) + n.to_bytes(2, "big")
            entries.append(Y.FixedValueEntry(array, "msgpack_array", bits=8 * len(array)))
        for spec, argument in zip(command.arguments, arguments, strict=True):
            prefix = _MSGPACK_PREFIX.get(spec.type.name)
            if prefix is not None:
                entries.append(Y.FixedValueEntry(bytes([prefix]), f"msgpack_{spec.name}", bits=8))
            entries.append(Y.ArgumentEntry(argument))
        Y.Command(system=self.system, name=command.name, base=header, arguments=arguments, entries=entries,
                  assignments={"apid": command.apid, "pus_service": command.service,
                               "pus_subtype": command.subtype},
                  short_description=command.description or None)

    def _argument(self, spec: Argument) -> Y.Argument:
        kind, low, high = spec.type.name, spec.type.minimum, spec.type.maximum
        common = {"name": spec.name, "short_description": spec.description or None}
        if kind in INTEGER_RANGES:
            return Y.IntegerArgument(**_integer_type(kind), minimum=None if low is None else int(low),
                                     maximum=None if high is None else int(high), units=spec.units or None, **common)
        if kind in FLOAT_LIMITS:
            return Y.FloatArgument(**_float_type(kind), minimum=low, maximum=high, units=spec.units or None, **common)
        if kind == "bool":  # msgpack's false and true are octets of their own
            return Y.EnumeratedArgument(choices=[(MSGPACK_FALSE, "false"), (MSGPACK_TRUE, "true")],
                                        encoding=Y.uint8_t, **common)
        if kind == "enum":
            return Y.EnumeratedArgument(choices=[(code, label) for label, code in spec.type.values.items()],
                                        encoding=Y.uint8_t, **common)
        if kind == "string":
            return Y.StringArgument(encoding=Y.StringEncoding(length_bits=16, charset=Y.Charset.UTF_8, termination=None),
                                    max_length=spec.type.max_length, **common)
        if kind == "bytes":
            return Y.BinaryArgument(encoding=Y.BinaryEncoding(length_bits=16), max_length=spec.type.max_length,
                                    **common)
        raise ZenithError(f"argument {spec.name!r}: type {kind} has no XTCE encoding")

    def _description(self) -> str:
        text = (f"{self.dictionary.mission.name}: spacecraft ID {self.dictionary.mission.spacecraft_id}, "
                f"exported from the Zenith dictionary by `ground export xtce`.")
        if self.left_out:
            text += (" Left out, for an argument of the scalar type (int, float, bool or string, which has no "
                     f"fixed encoding): {', '.join(self.left_out)}.")
        return text


def _threshold(limits: Limits) -> Y.ThresholdAlarm | None:
    if all(v is None for v in (limits.warning_low, limits.warning_high, limits.critical_low, limits.critical_high)):
        return None
    return Y.ThresholdAlarm(warning_low=limits.warning_low, warning_high=limits.warning_high,
                            critical_low=limits.critical_low, critical_high=limits.critical_high)


def export_xtce(dictionary: Dictionary) -> tuple[str, list[str]]:
    """The XTCE document of a dictionary, and the names of the commands it had to leave out."""
    writer = XtceWriter(dictionary)
    return writer.dumps(), writer.left_out

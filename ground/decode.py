"""``ground decode``: every layer of a CLTU, TC frame, TM frame, CLCW or capture file, as JSON.

The keys are snake_case and stable, so scripts can rely on them. A layer that does not decode stops
the decoding with a :class:`~flight.link.errors.LinkError` naming the layer and the field; the CLI
turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flight.dictionary import Dictionary, decode_app_data
from flight.dictionary.types import json_value
from flight.link.clcw import Clcw
from flight.link.cltu import CltuCodec, CltuConfig
from flight.link.config import LinkConfig
from flight.link.errors import ClcwError, CommandError, LinkError
from flight.link.keys import KeyRing
from flight.link.pus import PacketHeader, cut_packets, is_idle, parse_tc, parse_tm
from flight.link.sdls import Sdls
from flight.link.tcframe import FrameType, SetVr, TcFrame
from flight.link.tmframe import FHP_IDLE, FHP_NO_PACKET_START, TmChannelFormat, TmFrame
from flight.link.uplink_receiver import split_packets
from flight.link.vcdemux import VirtualChannelDemux
from hil.link.capture import CaptureRecord
from hil.link.faults import Fate


@dataclass
class Decoder:
    config: LinkConfig
    dictionary: Dictionary
    keys: KeyRing | None = None

    def __post_init__(self) -> None:
        self._demux: VirtualChannelDemux | None = None

    # --- entry points --------------------------------------------------------------------------

    def cltu(self, raw: bytes, randomized: bool | None = None) -> dict[str, Any]:
        codec = CltuCodec(CltuConfig(self.config.tc.randomize if randomized is None else randomized))
        frame = codec.decode(raw)
        out = {"cltu": {"length": len(raw), "codeblocks": codec.counters["codeblocks"],
                        "corrected_bits": codec.counters["corrected_bits"]}}
        out.update(self.tc(frame))
        return out

    def tc(self, raw: bytes) -> dict[str, Any]:
        vcid = raw[2] >> 2 if len(raw) >= 3 else 0
        channel = self.config.channel(vcid)
        frame = TcFrame.unpack(raw, segmented=bool(channel and channel.segmented), strict=False)
        info: dict[str, Any] = {
            "bypass": frame.bypass,
            "control_command": frame.control_command,
            "spacecraft_id": frame.spacecraft_id,
            "virtual_channel_id": frame.virtual_channel_id,
            "frame_length": frame.length(),
            "frame_sequence_number": frame.frame_sequence_number,
            "fecf_ok": frame.fecf_ok,
            "segment": None if frame.segment is None else {
                "sequence_flags": int(frame.segment.sequence_flags), "map_id": frame.segment.map_id},
        }
        out: dict[str, Any] = {"tc_frame": info}
        if frame.frame_type is FrameType.BC:
            control = frame.control
            info["control"] = {"set_vr": control.value} if isinstance(control, SetVr) else "unlock"
            return out
        data = frame.data
        if self._protected(frame.virtual_channel_id):
            out["sdls"], data = self._unprotect(frame)
            if data is None:
                return out
        out["packets"] = [self.packet(p) for p in split_packets(data)]
        return out

    def tm(self, raw: bytes, reassemble: bool = False) -> dict[str, Any]:
        frame = TmFrame.unpack(raw, has_fecf=self.config.tm.fecf, strict=False)
        info: dict[str, Any] = {
            "spacecraft_id": frame.spacecraft_id,
            "virtual_channel_id": frame.virtual_channel_id,
            "master_channel_frame_count": frame.master_channel_frame_count,
            "virtual_channel_frame_count": frame.virtual_channel_frame_count,
            "first_header_pointer": frame.first_header_pointer,
            "fecf_ok": frame.fecf_ok,
            "clcw": self._clcw(frame.ocf),
        }
        out: dict[str, Any] = {"tm_frame": info}
        packets = self._stream(raw) if reassemble and frame.fecf_ok else self._packets_in(frame)
        out["packets"] = [self.packet(p) for p in packets]
        return out

    def clcw(self, raw: bytes) -> dict[str, Any]:
        return {"clcw": Clcw.unpack(raw).as_dict()}

    def capture(self, records: Iterable[CaptureRecord]) -> Iterator[dict[str, Any]]:
        """One decoded record per capture line; a layer error is reported in the record, not raised."""
        for record in records:
            out: dict[str, Any] = {"t": record.t, "dir": record.direction, "fate": str(record.fate)}
            try:
                if record.direction == "up":
                    out.update(self.cltu(record.frame) if self.config.tc.cltu else self.tc(record.frame))
                else:
                    # Only frames that reached the ground go through packet reassembly.
                    out.update(self.tm(record.frame, reassemble=record.fate is not Fate.DROPPED))
            except LinkError as exc:
                out["error"] = str(exc)
            yield out

    # --- layers --------------------------------------------------------------------------------

    def packet(self, raw: bytes) -> dict[str, Any]:
        header = PacketHeader.unpack(raw)
        out: dict[str, Any] = {
            "apid": header.apid,
            "packet_type": "tc" if header.packet_type else "tm",
            "sequence_count": header.sequence_count,
            "length": header.total_length,
        }
        if header.is_idle or not header.secondary_header_flag:
            return out
        if header.packet_type:
            tc = parse_tc(raw)
            pus: dict[str, Any] = {"service": tc.service, "subservice": tc.message_subtype,
                                   "source_id": tc.source_id, "app_data": tc.app_data.hex()}
            try:
                decoded = decode_app_data(self.dictionary, tc.service, tc.message_subtype, tc.app_data)
                pus["command"] = decoded.command.name
                pus["arguments"] = json_value(decoded.arguments)
            except CommandError as exc:
                pus["command_error"] = str(exc)
        else:
            time_format = self.dictionary.mission.tm_time
            tm = parse_tm(raw, time_format.length)
            pus = {"service": tm.service, "subservice": tm.message_subtype,
                   "time": time_format.decode(bytes(tm.timestamp)), "source_data": tm.source_data.hex()}
        out["pus"] = pus
        return out

    def _protected(self, vcid: int) -> bool:
        return any(vcid in sa.virtual_channel_ids for sa in self.config.sdls.associations)

    def _unprotect(self, frame: TcFrame) -> tuple[dict[str, Any], bytes | None]:
        spi = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
        if self.keys is None:
            return {"spi": spi, "verified": None}, None
        # A fresh SDLS for each frame: this verifies, it does not judge replays (a capture is full of
        # COP-1's legitimate retransmissions).
        verified = Sdls(list(self.config.sdls.associations), self.keys).process(frame)
        plain = verified.frame.data
        return {"spi": verified.spi, "verified": True, "plaintext": plain.hex()}, plain

    def _clcw(self, ocf: bytes | None) -> dict[str, Any] | None:
        if ocf is None:
            return None
        try:
            return Clcw.unpack(ocf).as_dict()
        except ClcwError:
            return {"type_2_report": ocf.hex()}

    def _packets_in(self, frame: TmFrame) -> list[bytes]:
        """Packets that begin and end inside this one frame."""
        fhp = frame.first_header_pointer
        if fhp in (FHP_NO_PACKET_START, FHP_IDLE):
            return []
        return [p for p in cut_packets(frame.data[fhp:])[0] if not is_idle(p)]

    def _stream(self, raw: bytes) -> list[bytes]:
        if self._demux is None:
            fmt = TmChannelFormat(self.config.spacecraft_id, len(raw), self.config.tm.ocf, self.config.tm.fecf)
            self._demux = VirtualChannelDemux(fmt)
        return self._demux.feed(raw).packets

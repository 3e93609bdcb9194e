"""``ground station``: the ground's end of the link as a long-lived process, with its archive.

It drives FOP-1 and SDLS on the uplink and the TM demultiplexer on the downlink (through
:class:`~ground.link.GroundLink`), archives every packet it receives (deduplicated, decoded), finds
the holes in each APID's sequence counts and, while in contact, asks the payload to play them back
from its store, until the archive is complete. Operators' tools reach it on its control socket
(:mod:`ground.control`) and read the archive directly.

Commands are recorded in the archive before they are queued for uplink, so that their first
verification report always finds them. The ground's telecommand sequence counts continue from the
archive's command history after a restart.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

import zmq

from flight.command_line import StopRequest
from flight.counters import Counters, merged
from flight.dictionary import Dictionary, encode_command
from flight.link.errors import CommandError
from flight.link.pus import SEQUENCE_COUNT_MODULO, SequenceCounter, packet_apid, request_id
from flight.link.uplink_sender import SenderEvent
from flight.mission_config import MissionFile
from ground.archive import Archive
from ground.control import ControlServer, Reply, StationError, load_or_create_token
from ground.files.service import GroundFiles
from ground.gap_tracker import GapTracker
from ground.link import GroundLink
from ground.station_config import GroundSettings, control_endpoint, link_endpoints

REALTIME_VC = 0
UPLINK_BACKLOG = 8  # no gap-fill requests while this many commands wait for the uplink
OUTAGES_KEY = "station.outages"  # the outages still to ask the payload for by time, in the archive's state


class Station:
    def __init__(self, mission: MissionFile, dictionary: Dictionary, settings: GroundSettings,
                 out: TextIO | None = None) -> None:
        self.dictionary = dictionary
        self.settings = settings
        self.out = out if out is not None else sys.stdout  # looked up now: a redirected stdout is honoured
        archive_path = mission.resolve(settings.archive)
        archive_path.parent.mkdir(parents=True, exist_ok=True)
        self.archive = Archive(archive_path, dictionary)
        self.tracker = GapTracker(self.archive)
        self.counters = Counters("station")
        uplink, downlink = link_endpoints(mission, settings)
        self.link = GroundLink(mission.link, dictionary, uplink, downlink, sequence=self._sequence())
        token = load_or_create_token(mission.resolve(settings.token_file))
        try:
            self.control = ControlServer(self.link.ctx, control_endpoint(mission, settings), token, self._request)
        except Exception:
            self.link.close()
            raise
        self.in_contact = False
        self.files = GroundFiles(mission, dictionary, self.link, self.archive, self._say)
        self._next_gap_check = 0.0
        # (start, end) to ask for by time; kept in the archive, so a restarted station still asks.
        self._outages: list[tuple[float, float]] = [tuple(w) for w in self.archive.get_state(OUTAGES_KEY, [])]
        # A payload counts each APID from 0: on a fresh archive, packets lost before the first one
        # heard are holes too, not history from before the station existed.
        for apid in dictionary.mission.apids.values():
            if not self.archive.query("SELECT 1 FROM packets WHERE apid = ? LIMIT 1", (apid,)):
                self.tracker.expect(apid, 0)
        # Wake on whichever comes first: a downlink frame or an operator's request.
        self._poller = zmq.Poller()
        self._poller.register(self.link.rx.socket, zmq.POLLIN)
        self._poller.register(self.control.socket, zmq.POLLIN)

    def _sequence(self) -> SequenceCounter:
        """Carry on each APID's TC sequence count from the command history."""
        rows = self.archive.query("SELECT apid, seq FROM commands WHERE id IN (SELECT MAX(id) FROM commands "
                                  "GROUP BY apid)")
        return SequenceCounter({apid: (seq + 1) % SEQUENCE_COUNT_MODULO for apid, seq in rows})

    def start(self) -> None:
        self.link.start()
        self._say(f"station up: archive {self.archive.path}, {self.archive.packet_count()} packets, "
                  f"{self.tracker.missing_count()} missing")

    # --- commanding -----------------------------------------------------------------------------

    def send(self, name: str, arguments: dict[str, Any], source: str = "operator", at: float | None = None
             ) -> dict[str, int | None]:
        """Validate, record and queue a command (or, with ``at``, its insertion into the on-board
        schedule); the archive IDs of what was recorded."""
        scheduled = None
        packet = self._encode(name, arguments)
        if at is not None:
            # Both checked before either is recorded: a refused insertion leaves no orphan in the archive.
            inner, inner_name, inner_arguments = packet, name, arguments
            name, arguments = "SCHEDULE_INSERT", {"time": at, "command": inner}
            packet = self._encode(name, arguments)
            scheduled = self._record(inner_name, inner_arguments, inner, "schedule")
        command_id = self._record(name, arguments, packet, source)
        self.link.sender.send(packet, command_id)
        self.counters.inc("commands_sent")
        return {"command_id": command_id, "scheduled_id": scheduled}

    def _encode(self, name: str, arguments: dict[str, Any]) -> bytes:
        command = self.dictionary.command(name)
        if command is None:
            raise CommandError("name", f"unknown command {name!r}")
        packet = encode_command(self.dictionary, name, arguments, seq_count=self.link.sequence.next(command.apid))
        if len(packet) > self.link.sender.max_packet_length:
            raise StationError(f"{name}: {len(packet)} octets do not fit a TC frame", "packet")
        return packet

    def _record(self, name: str, arguments: dict[str, Any], packet: bytes, source: str) -> int:
        apid = packet_apid(packet)
        seq = ((packet[2] & 0x3F) << 8) | packet[3]
        return self.archive.record_command(name, arguments, apid, seq, int.from_bytes(request_id(packet), "big"),
                                           time.time(), source)

    def _request(self, request: dict[str, Any]) -> Reply:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "status": self.status()}
        if op == "send":
            name, arguments, at = request.get("name"), request.get("arguments", {}), request.get("at")
            if not isinstance(name, str):
                raise StationError("send needs a command name", "name")
            if not isinstance(arguments, dict):
                raise StationError("arguments must be a map", "arguments")
            if at is not None and not isinstance(at, int | float):
                raise StationError("at must be a mission time in seconds", "at")
            source = request.get("source", "operator")
            return {"ok": True, **self.send(name, arguments, str(source)[:32], at)}
        if isinstance(op, str) and op.startswith("files_"):
            return self.files.request(request)
        if op == "send_raw":
            packet = request.get("packet")
            if not isinstance(packet, bytes) or len(packet) < 6:
                raise StationError("send_raw needs a packet (bytes)", "packet")
            return {"ok": True, "command_id": self.send_raw(packet, str(request.get("source", "raw"))[:32])}
        raise StationError(f"unknown op {op!r}", "op")

    def send_raw(self, packet: bytes, source: str) -> int:
        """Uplink a telecommand packet exactly as given, unchecked: for benches and for commands a newer
        payload knows and this dictionary does not. Still authenticated by SDLS, still recorded."""
        if len(packet) > self.link.sender.max_packet_length:
            raise StationError(f"{len(packet)} octets do not fit a TC frame", "packet")
        apid = packet_apid(packet)
        seq = ((packet[2] & 0x3F) << 8) | packet[3]
        command_id = self.archive.record_command("RAW", {"packet": packet}, apid, seq,
                                                 int.from_bytes(request_id(packet), "big"), time.time(), source)
        self.link.sender.send(packet, command_id)
        self.counters.inc("raw_sent")
        return command_id

    def status(self) -> dict[str, Any]:
        fop = self.link.sender.fop
        clcw = self.link.demux.last_clcw
        return {"in_contact": self.in_contact, "uplink_pending": self.link.sender.pending,
                "fop_state": fop.state.name, "missing": self.tracker.missing_count(),
                "packets": self.archive.packet_count(), "counters": self.housekeeping(),
                "fop": {"v_s": fop.v_s, "nn_r": fop.nn_r, "outstanding": fop.outstanding, "window": fop.k},
                "clcw": None if clcw is None else {
                    "vcid": clcw.virtual_channel_id, "report_value": clcw.report_value, "lockout": clcw.lockout,
                    "wait": clcw.wait, "retransmit": clcw.retransmit, "farm_b_counter": clcw.farm_b_counter},
                "gap_fill": {"holes": len(self.tracker.ranges()), "outages_waiting": len(self._outages)}}

    # --- the loop -------------------------------------------------------------------------------

    def step(self, timeout: float = 0.01) -> None:
        self._poller.poll(int(timeout * 1000))
        self.control.serve_pending()  # first, so that a command just asked for leaves in this step
        self.link.pump(0)
        received = self.files.take(self.link.take_received())  # CFDP PDUs to the entity, the rest archived
        if received:
            result = self.archive.ingest(received, time.time())
            self.tracker.observe_all([(p.apid, p.seq, p.vcid == REALTIME_VC) for p in result.stored], time.time())
            for apid, seq in self.tracker.take_resyncs():
                self._outage(apid, seq)
        self.files.step()
        for event in self.link.events:
            self._uplink_event(event)
        self.link.events.clear()
        self._watch_contact()
        if self.settings.gap_fill and self.in_contact:
            self._fill_gaps()

    def _watch_contact(self) -> None:
        heard = self.link.last_heard
        in_contact = heard is not None and time.monotonic() - heard < self.settings.los_after
        if in_contact != self.in_contact:
            self.in_contact = in_contact
            self.counters.inc("aos" if in_contact else "los")
            self._say("AOS: downlink acquired" if in_contact else "LOS: downlink lost")

    def _outage(self, apid: int, seq: int) -> None:
        """Realtime jumped further than the counts can tell: ask for the outage by time instead."""
        rows = self.archive.query("SELECT MAX(time) FROM packets WHERE apid = ? AND seq = ? AND vcid = ?",
                                  (apid, seq, REALTIME_VC))
        after = rows[0][0] if rows else None
        if after is None:
            return
        before = self.archive.query("SELECT MAX(time) FROM packets WHERE apid = ? AND vcid = ? AND time < ?",
                                    (apid, REALTIME_VC, after))[0][0]
        if before is not None:
            self.counters.inc("outages_found")
            # One playback by time covers every APID: windows that overlap are asked for once.
            for i, (start, end) in enumerate(self._outages):
                if before <= end and start <= after:
                    self._outages[i] = (min(start, before), max(end, after))
                    break
            else:
                self._outages.append((before, after))
            self.archive.set_state(OUTAGES_KEY, self._outages)

    def _fill_gaps(self) -> None:
        now = time.time()
        if now < self._next_gap_check or self.link.sender.pending >= UPLINK_BACKLOG:
            return
        self._next_gap_check = now + self.settings.gap_check
        budget = self.settings.gap_requests
        while self._outages and budget:
            start, end = self._outages.pop(0)
            self.archive.set_state(OUTAGES_KEY, self._outages)
            self.send("STORE_PLAYBACK_TIME", {"start": start, "end": end}, "gapfill")
            self.counters.inc("gap_requests")
            budget -= 1
            self._say(f"gap fill: an outage too long for sequence counts; asked for {end - start:.0f} s by time")
        due = []
        for gap in self.tracker.due(now, self.settings.gap_retry):
            if gap.attempts >= self.settings.gap_attempts:
                self.tracker.forget(gap)  # asked often enough: the bounded store no longer holds it
                self.counters.inc("gaps_abandoned")
                self._say(f"gap fill: gave up on APID {gap.apid} counts {gap.first}..{gap.last} after "
                          f"{gap.attempts} requests")
            elif now - gap.found >= self.settings.gap_settle:
                due.append(gap)
        for request, gaps in self.tracker.coalesce(due, self.settings.gap_merge)[:budget]:
            self.send("STORE_PLAYBACK_SEQ", {"apid": request.apid, "first": request.first, "count": request.count},
                      "gapfill")
            for gap in gaps:
                self.tracker.mark_requested(gap, now)
            self.counters.inc("gap_requests")
            holes = f", {len(gaps)} holes" if len(gaps) > 1 else ""
            self._say(f"gap fill: asked for APID {request.apid} counts {request.first}..{request.last} "
                      f"({request.count}{holes})")

    def _uplink_event(self, event: SenderEvent) -> None:
        self.counters.inc(f"uplink_{event.kind.name.lower()}")
        if event.kind.name not in ("ACCEPTED", "CONFIRMED"):
            self._say(f"uplink: {event.kind.name.lower()} {event.detail}".rstrip())

    def housekeeping(self) -> dict[str, int]:
        return merged(self.counters, self.archive.counters, self.tracker.counters, self.control.counters,
                      self.files.counters) | \
            self.link.housekeeping()

    def _say(self, text: str) -> None:
        print(f"ground: {text}", file=self.out, flush=True)

    def close(self) -> None:
        self.control.close()
        self.link.close()
        self.archive.close()


def run_station(mission: MissionFile, dictionary: Dictionary, settings: GroundSettings,
                duration: float | None = None, out: TextIO | None = None) -> int:
    station = Station(mission, dictionary, settings, out)
    stopping = StopRequest(duration)
    try:
        station.start()
        while not stopping:
            station.step()
    except zmq.ContextTerminated:
        pass
    finally:
        print(json.dumps({"counters": station.housekeeping()}), file=station.out, flush=True)
        station.close()
    return 0

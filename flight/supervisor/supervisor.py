"""The supervisor without sockets: uplink in, commands run, services ticked, downlink frames out.

Everything that changes state happens in a *unit of work*: one state-database transaction that
also saves the counters and the packet sequence counts, after which the unit's telemetry (already
in the onboard store) goes to the downlink. The process loop (:mod:`flight.supervisor.process`)
feeds it frames and time; tests drive it directly with a manual clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flight.counters import Counters, merged
from flight.dictionary import Dictionary, encode_command
from flight.dictionary.packing import pack_record
from flight.files.service import OnboardFiles
from flight.files.settings import FilesSettings
from flight.link.config import LinkConfig
from flight.link.pus import SequenceCounter
from flight.link.sdls import Sdls
from flight.link.tmframe import TmChannelFormat
from flight.link.uplink_receiver import UplinkReceiver
from flight.link.vcmux import VirtualChannelMux
from flight.power.mode import PowerState
from flight.power.nvml_gpu import NvmlGpu
from flight.seu.ecc_source import EccSource
from flight.supervisor.clock import Clock
from flight.supervisor.dispatch import DEFERRED, CommandContext, CommandFailed, Dispatcher, Outcome
from flight.supervisor.health.heartbeat import HeartbeatMonitor
from flight.supervisor.health.limits import LimitChecker, LimitResponse
from flight.supervisor.health.modes import Mode, Modes
from flight.supervisor.health.restarts import RestartRecord
from flight.supervisor.journal import Journal
from flight.supervisor.services.bench_faults import BenchFaults
from flight.supervisor.services.ecc import EccMonitor
from flight.supervisor.services.events import EventReporter
from flight.supervisor.services.functions import FunctionManagement
from flight.supervisor.services.housekeeping import Housekeeping
from flight.supervisor.services.jobs import JobManager, default_launcher
from flight.supervisor.services.parameters import Parameters
from flight.supervisor.services.power import PowerService
from flight.supervisor.services.schedule import Schedule
from flight.supervisor.services.storage import PLAYBACK_VC, OnboardStore, Playback
from flight.supervisor.services.test_service import TestService
from flight.supervisor.state_db import StateDb
from flight.supervisor.telemetry import Telemetry
from flight.supervisor.verification import RequestRef, Verifier

REALTIME_VC = 0
LINK_KEY = "link.state"
COUNTERS_KEY = "counters"
PLAYBACK_ROOM = 8 * 1024  # feed playback only while its virtual channel holds less than this
ONBOARD_SOURCE_ID = 1  # PUS source ID of telecommands the supervisor makes itself (health responses)
ONBOARD_SEQUENCE_KEY = "onboard.sequence"
LIMIT_PERIOD = 1.0  # real seconds between limit checks
COUNTER_SAVE_PERIOD = 1.0  # real seconds a count of a refused frame may wait for the next unit
log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self, link: LinkConfig, dictionary: Dictionary, db: StateDb, clock: Clock, sdls: Sdls | None,
                 responses: tuple[LimitResponse, ...] = (), monotonic: Callable[[], float] = time.monotonic,
                 files: FilesSettings | None = None, files_root: Path | None = None,
                 jobs_dir: Path | None = None, job_device: str | None = None,
                 job_launcher: Callable[..., Any] | None = None, ecc_source: EccSource | None = None,
                 bench_key: bytes | None = None, gpu_power: NvmlGpu | None = None) -> None:
        self.dictionary = dictionary
        self.db = db
        self.clock = clock
        self.monotonic = monotonic
        self.apid = dictionary.mission.apids["core"]
        self.receiver = UplinkReceiver(link, sdls)
        self._link_saved: dict[str, Any] = db.get(LINK_KEY) or {}
        if self._link_saved:
            self._load_link(self._link_saved)
        fmt = TmChannelFormat(link.spacecraft_id, link.tm.frame_length, link.tm.ocf, link.tm.fecf)
        self.mux = VirtualChannelMux(fmt, ocf_source=self.receiver.clcw_bytes)
        self.parameters = params = Parameters(db, dictionary)
        self.store = OnboardStore(db, lambda: params.get("store.max_packets"))
        self.playback = Playback(db, self.store)
        self.telemetry = Telemetry(db, clock, dictionary.mission.tm_time, self.store,
                                   lambda packet: self.mux.push(REALTIME_VC, packet))
        self.verifier = Verifier(self.telemetry)
        self.events = EventReporter(db, dictionary, self.telemetry, clock, self.apid,
                                    lambda: params.get("events.flood_limit"), lambda: params.get("events.flood_window"))
        self.modes = Modes(db)
        self.power = PowerState(db)
        self.dispatcher = Dispatcher(db, dictionary, self.verifier, self.events, self.modes)
        self.functions = FunctionManagement(self.dispatcher)
        self.journal = Journal(db)
        self.schedule = Schedule(db, dictionary, self.journal)
        self.housekeeping = Housekeeping(db, dictionary, self.telemetry, clock, self.apid, self.sample)
        self.limits = LimitChecker(dictionary, self.events, responses)
        self.heartbeats = HeartbeatMonitor(lambda: params.get("health.heartbeat_timeout"))
        self.restarts = RestartRecord(db, lambda: params.get("health.restart_window"),
                                      lambda: params.get("health.max_restarts"))
        self.test = TestService(self.telemetry, self.events)
        self.jobs = JobManager(db, self.telemetry, self.events, self.apid, jobs_dir or db.path.parent / "jobs",
                               params.get, monotonic, job_device, job_launcher or default_launcher,
                               allowed=lambda: self.modes.mode is Mode.NOMINAL and not self.governor.suspended)
        self.governor = PowerService(self.events, self.jobs, self.power, params.get, params.set, monotonic,
                                     safe_mode=lambda: self.modes.mode is not Mode.NOMINAL, nvml=gpu_power)
        self.modes.on_safe(self.governor.on_safe_mode)
        self.modes.on_safe(lambda reason: self.jobs.suspend_all(f"safe mode: {reason}"))
        self.ecc = EccMonitor(db, self.events, ecc_source, monotonic, self.jobs.kill_workers)
        self.faults = BenchFaults(db, self.events, self.jobs, ecc_source, bench_key)  # test-only; keyed
        self.files = OnboardFiles(files or FilesSettings(), files_root or db.path.parent / "files", db, self.events,
                                  dictionary.mission.apids["cfdp"], self.mux, self.unit)
        self.dispatcher.reload = [params.load, self.events.load, self.modes.load, self.power.load,
                                  self.housekeeping.load, self.restarts.load, self.schedule.load, self.playback.load]
        # The supervisor's own telecommands (health responses) keep their counts across restarts, so
        # their request IDs, and the reports about them, stay distinct.
        self._onboard_sequence = SequenceCounter({int(a): n for a, n in db.get(ONBOARD_SEQUENCE_KEY, {}).items()})
        self._register_commands()
        self._counter_sets = self._collect_counters()
        self._restore_counters()
        # Journaled before a kill, not yet run: they run first, and are counted as resumed.
        self._interrupted = {entry.id for entry in self.journal.pending()}
        self.started = clock.now()
        self._loop_lag = 0.0
        self._next_limit_check = 0.0
        self._last_unit = monotonic()
        self._boot()

    # --- units of work --------------------------------------------------------------------------

    @contextmanager
    def unit(self) -> Iterator[None]:
        """One atomic step: state, counters, sequence counts and telemetry committed together."""
        try:
            with self.db.transaction():
                yield
                self.telemetry.save()
                self.db.put(COUNTERS_KEY, {key: c.state() for key, c in self._counter_sets.items()})
        except BaseException:
            self.telemetry.rolled_back()
            raise
        self._last_unit = self.monotonic()
        self.telemetry.committed()

    def _boot(self) -> None:
        with self.unit():
            now = self.clock.now()
            self.playback.requeue()  # what the last life had queued for the downlink went with it
            self.jobs.recover()  # their workers died with the last life
            self.files.recover()  # and so did its file transfers
            recent = self.restarts.boot(now)
            window = self.parameters.get("health.restart_window")
            self.events.raise_event("SUPERVISOR_BOOT", boots=self.restarts.boots, recent=min(recent, 65535),
                                    window=window)
            if self.restarts.looping(recent):
                self.events.raise_event("RESTART_LOOP", recent=min(recent, 65535), window=window)
                self._enter_safe(f"restart loop ({recent} restarts within {window:g} s)", hold="restart loop")

    def stop(self) -> None:
        """A deliberate stop: the next start is not counted as a restart."""
        with self.unit():
            self.restarts.stopped_cleanly()

    # --- uplink ---------------------------------------------------------------------------------

    def on_uplink(self, raw: bytes) -> list[Outcome]:
        """Take one CLTU or frame from the radio; the commands it brought have run when this returns."""
        self.receiver.receive(raw)
        delivered = self.receiver.take_packets()
        link = self._link_state()
        if not delivered and link == self._link_saved:
            # Frames refused below FARM-1 (forged, replayed, corrupt) change only counters: saved
            # with the next unit, or now if none has come for a while, so a kill loses few counts.
            if self.monotonic() - self._last_unit >= COUNTER_SAVE_PERIOD:
                with self.unit():
                    pass
            return self.run_journal()
        with self.unit():
            # V(R), the anti-replay values and the packets: on disk before the CLCW can say "received".
            self.db.put(LINK_KEY, link)
            now = self.clock.now()
            for item in delivered:
                self.journal.add(item.packet, "ground", now)
        self._link_saved = link
        return self.run_journal()

    def run_journal(self) -> list[Outcome]:
        """Run every journaled command, one unit of work each (after a restart: what it interrupted)."""
        outcomes = []
        for entry in self.journal.pending():
            if self.files.owns(entry.packet):  # CFDP PDUs go to the onboard entity, not to dispatch
                with self.unit():
                    self.files.receive(entry.packet)
                    self.journal.done(entry)
                continue
            with self.unit():
                if entry.id in self._interrupted:
                    self._interrupted.discard(entry.id)
                    self.dispatcher.counters.inc("resumed")
                outcome = self.dispatcher.dispatch(entry.packet, entry.source)
                self.journal.done(entry)
            outcomes.append(outcome)
        return outcomes

    def _link_state(self) -> dict[str, Any]:
        sdls = self.receiver.sdls
        return {"farms": {str(vcid): farm.state_dict() for vcid, farm in self.receiver.farms.items()},
                "sdls": sdls.state_dict() if sdls is not None else {}}

    def _load_link(self, saved: dict[str, Any]) -> None:
        for vcid, state in saved.get("farms", {}).items():
            farm = self.receiver.farms.get(int(vcid))
            if farm is not None:
                farm.load_state(state)
        if self.receiver.sdls is not None and saved.get("sdls"):
            self.receiver.sdls.load_state(saved["sdls"])

    # --- time -----------------------------------------------------------------------------------

    def tick(self) -> list[Outcome]:
        """Everything time drives: the schedule, health, housekeeping, event windows, playback."""
        outcomes: list[Outcome] = []
        now = self.clock.now()
        next_activity = self.schedule.next_time()
        if next_activity is not None and next_activity <= now:
            with self.unit():
                self.schedule.release_due(now, self.events)
            outcomes += self.run_journal()
        silent = self.heartbeats.check(self.monotonic())
        if silent:
            with self.unit():
                for process, silence, timeout in silent:
                    self.events.raise_event("HEARTBEAT_MISSED", process=process, silence=silence, timeout=timeout)
        if self.governor.due():  # before housekeeping, which reports its plan, and the jobs' tick, which it gates
            with self.unit():
                self.governor.tick()
        limits_due = self.monotonic() >= self._next_limit_check
        if limits_due or self.housekeeping.due():
            with self.unit():
                values = self.sample()
                if limits_due:  # on their own period: disabling housekeeping must not blind the limits
                    self._next_limit_check = self.monotonic() + LIMIT_PERIOD
                    for response in self.limits.check(values):
                        self._respond(response)
                if self.housekeeping.tick(values):
                    self._loop_lag = 0.0  # reported: the next report covers the loop from here
            outcomes += self.run_journal()
        if self.events.due():
            with self.unit():
                self.events.tick()
        self.files.tick()
        if self.ecc.due():  # before the jobs' tick, which finds the workers it killed lost at once
            with self.unit():
                self.ecc.tick()
        if self.jobs.due():
            with self.unit():
                self.jobs.tick()
        self._feed_playback()
        return outcomes

    def on_job_messages(self) -> None:
        """What the job workers reported since the last turn: one unit for all of it."""
        messages = self.jobs.take()
        if messages:
            with self.unit():
                for identity, raw in messages:
                    self._job_message(identity, raw)

    def on_fault_request(self, raw: bytes) -> bytes:
        """A request of the bench's keyed fault interface, in a unit of its own; the reply."""
        with self.unit():
            return self.faults.handle(raw)

    def _job_message(self, identity: bytes, raw: bytes) -> None:
        """One worker message in a savepoint: whatever a worker sends, it can never take the supervisor down."""
        try:
            with self.telemetry.savepoint("job_message"):
                self.jobs.on_message(identity, raw)
        except Exception:  # a manager bug on odd input: the message is dropped and counted, as garbage is
            self.jobs.counters.inc("bad_messages")
            log.exception("a job worker's message could not be handled")

    def heartbeat(self, process: str, timeout: float | None = None) -> None:
        if self.heartbeats.beat(process, self.monotonic(), timeout):
            with self.unit():
                self.events.raise_event("HEARTBEAT_RESTORED", process=process)

    def note_loop(self, seconds: float) -> None:
        self._loop_lag = max(self._loop_lag, seconds)

    def _feed_playback(self) -> None:
        if not self.playback.active():
            return
        if self.mux.queued_octets(PLAYBACK_VC) == 0 and self.playback.finishing():
            # Every packet handed to the playback channel is in a frame already: only now may the
            # completion go (on the real-time channel, which would otherwise overtake the last packets).
            with self.unit():
                for ref, total in self.playback.finish():
                    self.dispatcher.complete(RequestRef.unpack(ref))
                    self.events.raise_event("PLAYBACK_FINISHED", packets=total)
        if self.mux.queued_octets(PLAYBACK_VC) >= PLAYBACK_ROOM or not self.playback.pending():
            return
        with self.unit():
            packets, progress = self.playback.take()
            for step in progress:
                if not step.done and step.sent // 100 > step.before // 100:
                    self.verifier.progress(RequestRef.unpack(step.ref), step.sent // 100)
        for packet in packets:
            self.mux.push(PLAYBACK_VC, packet)

    def _respond(self, response: LimitResponse) -> None:
        if response.action == "SAFE_MODE":
            self._enter_safe(f"limit response: {response.channel}")
            return
        packet = encode_command(self.dictionary, response.action, response.arguments,
                                seq_count=self._onboard_sequence.next(self.apid), source_id=ONBOARD_SOURCE_ID)
        self.db.put(ONBOARD_SEQUENCE_KEY, {str(a): n for a, n in self._onboard_sequence.state().items()})
        self.journal.add(packet, "health", self.clock.now())

    # --- downlink and housekeeping --------------------------------------------------------------

    def next_frame(self) -> bytes:
        return self.mux.next_frame()

    def sample(self) -> dict[str, Any]:
        """Every telemetry channel's current value: the counters, and the state gauges."""
        values: dict[str, Any] = dict(self.counters())
        farm = next(iter(self.receiver.farms.values()))
        lag = self._loop_lag
        now = self.clock.now()
        values.update({
            "farm.v_r": farm.v_r, "farm.state": farm.state.name,
            "schedule.pending": self.schedule.pending(),
            "store.packets": self.store.count, "store.playback_pending": self.playback.pending(),
            "health.boots": self.restarts.boots, "health.recent_restarts": self.restarts.recent(now),
            "health.mode": self.modes.mode.name, "health.uptime": now - self.started,
            "health.loop_lag_ms": lag * 1000.0, "power.mode": self.power.mode.name,
            "clock.time": now, "clock.rate": self.clock.rate,
        })
        values.update(self.jobs.current())
        values.update(self.governor.sample())
        values.update(self.ecc.sample())
        values.update(self.files.sample())
        return values

    def counters(self) -> dict[str, int]:
        return merged(*self._counter_sets.values())

    def _collect_counters(self) -> dict[str, Counters]:
        """Every service's counters by a stable key (how they are saved): built once, the services are fixed."""
        receiver = self.receiver
        sets = {"cmd": self.dispatcher.counters, "verification": self.verifier.counters, "tc": receiver.counters,
                "tm_mux": self.mux.counters, "hk": self.housekeeping.counters, "events": self.events.counters,
                "schedule": self.schedule.counters, "journal": self.journal.counters, "store": self.store.counters,
                "playback": self.playback.counters, "params": self.parameters.counters,
                "modes": self.modes.counters, "limits": self.limits.counters, "heartbeats": self.heartbeats.counters,
                "restarts": self.restarts.counters, "test": self.test.counters,
                "functions": self.functions.counters, "files": self.files.counters,
                "jobs": self.jobs.counters, "ecc": self.ecc.counters, "faults": self.faults.counters,
                "power": self.governor.counters}
        sets.update({f"farm.{vcid}": farm.counters for vcid, farm in receiver.farms.items()})
        if receiver.sdls is not None:
            sets["sdls"] = receiver.sdls.counters
        if receiver.cltu is not None:
            sets["cltu"] = receiver.cltu.counters
        return sets

    def _restore_counters(self) -> None:
        saved = self.db.get(COUNTERS_KEY, {})
        for key, counters in self._counter_sets.items():
            if key in saved:
                counters.restore(saved[key])

    # --- commands -------------------------------------------------------------------------------

    def _register_commands(self) -> None:
        d = self.dispatcher
        self.events.register(d)
        self.housekeeping.register(d)
        self.parameters.register(d, self.telemetry, self.events, self.apid)
        self.schedule.register(d, self.telemetry, self.apid)
        self.test.register(d)
        f = self.functions
        f.add("NOOP", lambda ctx: None)
        f.add("LINK_TEST", lambda ctx: None)
        f.add("RESET_COUNTERS", self._reset_counters)
        f.add("SAFE_MODE_ENTER", lambda ctx: self._enter_safe(ctx.arguments["reason"] or "by command"))
        f.add("SAFE_MODE_EXIT", self._exit_safe)
        f.add("RESTARTS_CLEAR", self._clear_restarts)
        self.jobs.register(f)
        self.governor.register(f)
        d.register("STORE_PLAYBACK_TIME", lambda ctx: self._play(
            ctx, self.store.ids_in_time(ctx.arguments["start"], ctx.arguments["end"])))
        d.register("STORE_PLAYBACK_SEQ", lambda ctx: self._play(ctx, self.store.ids_in_sequence(
            ctx.arguments["apid"], ctx.arguments["first"], ctx.arguments["count"])))
        d.register("STORE_STATUS", self._store_status)

    def _enter_safe(self, reason: str, hold: str | None = None) -> None:
        if self.modes.enter_safe(reason, hold):
            self.events.raise_event("SAFE_MODE_ENTERED", reason=reason[:200])

    def _exit_safe(self, _ctx: CommandContext) -> None:
        if self.modes.hold:
            raise CommandFailed(f"safe mode is held ({self.modes.hold}): send RESTARTS_CLEAR first", "hold")
        if self.modes.mode is Mode.SAFE:
            self.modes.exit_safe()
            self.events.raise_event("SAFE_MODE_EXITED", reason="by command")

    def _clear_restarts(self, _ctx: CommandContext) -> None:
        self.restarts.clear()
        self.modes.release_hold()

    def _play(self, ctx: CommandContext, ids: list[int]) -> object:
        if not ids:
            return None  # nothing stored in that range: complete at once
        self.playback.enqueue(ids, ctx.ref.pack())
        return DEFERRED

    def _store_status(self, _ctx: CommandContext) -> None:
        self.telemetry.emit(self.apid, 15, 13, pack_record(self.store.status()))

    def _reset_counters(self, ctx: CommandContext) -> None:
        chosen = ctx.arguments["service"]
        for name, counters in self._services().items():
            if chosen in ("ALL", name):
                for each in counters:
                    each.reset()
        self.events.raise_event("COUNTERS_RESET", service=chosen)

    def _services(self) -> dict[str, list[Counters]]:
        """The counters RESET_COUNTERS can zero, by the dictionary's enum labels."""
        sets = self._counter_sets
        groups = {"COMMANDS": ["cmd", "verification", "journal"], "TC_LINK": ["tc"], "SDLS": ["sdls"],
                  "TM_LINK": ["tm_mux"], "CLTU": ["cltu"], "HOUSEKEEPING": ["hk"], "EVENTS": ["events"],
                  "SCHEDULE": ["schedule"], "STORE": ["store", "playback"], "PARAMETERS": ["params", "functions"],
                  "HEALTH": ["modes", "limits", "heartbeats", "test"], "JOBS": ["jobs"],
                  "FARM": [key for key in sets if key.startswith("farm.")]}
        return {label: [sets[key] for key in keys if key in sets] for label, keys in groups.items()}

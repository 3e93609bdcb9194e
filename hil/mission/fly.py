"""Flying a scenario: the bench started, each step at its time, then the end-of-mission contact.

Commands go up through the ground station as an operator's would (COP-1 queues them while no
station sees the satellite); a time-tagged one goes inside a SCHEDULE_INSERT, its on-board time
taken from the spacecraft's clock. Faults go to the bench (:mod:`hil.mission.bench`). Downlinks
run beside the timeline, each on its own station client: a listing when the path has a ``*``, then
a class 2 CFDP transfer, followed until it ends. After the last simulated second the link stays up
until the archive is complete, every command has its verdict and every transfer has ended (or until
``settle_s`` runs out); then everything stops and the records are read. Housekeeping goes on all
the while, and on a lossy link a fresh gap opens every few seconds, so "complete" is judged at one
moment: the newest packet's time is read first, then the station says it misses nothing, so every
packet up to that time is in the archive. That time is the summary's cutoff for missing packets.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from flight.link.errors import ZenithError
from ground.api import StationClient
from ground.files.cli import follow
from hil.mission.bench import MissionBench
from hil.mission.plan import Geometry, PlannedStep
from hil.mission.progress import Progress
from hil.mission.scenario import FAULT_KINDS, AtJob, Downlink, Scenario, SeuFault, TimelineCommand
from hil.mission.summary import MissionLog

TICK = 0.2
RETRY_WALL_S = 1.0  # how often a fault waiting for its job to be at work is tried again


@dataclass
class _Aimed:
    """A fault aimed at a job, not yet all carried out: tried again until its deadline."""

    planned: PlannedStep
    fault: AtJob
    left: int  # flips still to make, or 1: the worker still to kill
    deadline_s: float
    next_try: float = 0.0
    refused: str = ""


class MissionFlight:
    def __init__(self, scenario: Scenario, geometry: Geometry, steps: list[PlannedStep], out: Path, rate: float,
                 settle_s: float, say: Callable[[str], None]) -> None:
        self.scenario, self.geometry, self.steps, self.out = scenario, geometry, steps, out
        self.rate, self.settle_s, self.say = rate, settle_s, say
        self.bench = MissionBench(scenario, geometry, out, rate)
        self.log = MissionLog()
        self._downlinks: list[threading.Thread] = []
        self._aimed: list[_Aimed] = []
        self._lock = threading.Lock()

    def fly(self) -> MissionLog:
        started = time.monotonic()
        try:
            stack = self.bench.start()
            self.say(f"bench up: mission file {stack.mission_path}" + (
                f"; {self.bench.late_s:.1f} s late: the first steps go at once" if self.bench.late_s else
                f"; T+0 in {self.bench.epoch - time.time():.1f} s"))
            with stack.client(timeout=10.0) as gs:
                progress = Progress(self.bench, self.geometry, gs, self.out / "bus-trace.jsonl")
                for planned in self.steps:
                    self._wait_until(planned.t_s, progress)
                    self._do(planned, gs)
                self._wait_until(self.geometry.duration_s, progress)
                for aimed in self._aimed:  # still waiting for their job when the orbits ran out
                    self._note(aimed.planned, f"{_kind(aimed.fault)} fault", False,
                               f"the mission ended first: {aimed.refused}")
                progress.done()
                self.say("mission over: the link stays up while the store plays back and transfers end")
                self.log.settle_s = self._settle(gs, progress)
                self.log.station = gs.status()["counters"]
        finally:
            self.log.exit_codes = self.bench.stop()
            self.log.wall_s = time.monotonic() - started
        return self.log

    def _wait_until(self, t_s: float, progress: Progress) -> None:
        wake = self.bench.wall_at(t_s)
        while (left := wake - time.time()) > 0:
            progress.update()
            for aimed in [a for a in self._aimed if a.next_try <= time.time()]:
                self._aimed.remove(aimed)
                self._aim(aimed)
            time.sleep(min(TICK, left))

    def _note(self, planned: PlannedStep, what: str, ok: bool, detail: str) -> None:
        entry = {"t_s": round(planned.t_s, 1), "sent_s": round(self.bench.mission_s(), 1), "where": planned.where,
                 "what": what, "ok": ok, "detail": detail}
        with self._lock:
            self.log.steps.append(entry)
        self.say(f"T+{planned.t_s:7.0f} s  {what}: {detail}")

    def _do(self, planned: PlannedStep, gs: StationClient) -> None:
        step = planned.step
        if isinstance(step, TimelineCommand):
            self._command(planned, step, gs)
        elif isinstance(step, Downlink):
            thread = threading.Thread(target=self._downlink, args=(planned, step), daemon=True,
                                      name=f"downlink-{planned.where}")
            self._downlinks.append(thread)
            thread.start()
        elif isinstance(step, AtJob):
            self._aim(_Aimed(planned, step, step.count if isinstance(step, SeuFault) else 1,
                             planned.t_s + step.within_s))
        else:
            outcome = self.bench.inject(step)
            self._note(planned, f"{_kind(step)} fault", outcome.ok, outcome.detail)

    def _aim(self, aimed: _Aimed) -> None:
        fault = aimed.fault
        outcome = self.bench.inject(replace(fault, count=aimed.left) if isinstance(fault, SeuFault) else fault)
        aimed.left -= outcome.done
        aimed.refused = outcome.detail if not outcome.ok else aimed.refused
        late = self.bench.mission_s() - aimed.planned.t_s
        waited = f" ({late:.0f} s after its time: the job was not at work before)" if late > self.rate else ""
        if aimed.left == 0:
            done = (f"{fault.count} bit flip{'s' if fault.count > 1 else ''} in job {fault.job}'s {fault.target} "
                    f"({fault.bits})" if isinstance(fault, SeuFault) else outcome.detail)
            self._note(aimed.planned, f"{_kind(fault)} fault", True, done + waited)
        elif self.bench.mission_s() >= aimed.deadline_s:
            self._note(aimed.planned, f"{_kind(fault)} fault", False,
                       f"gave up after {fault.within_s:g} s: {aimed.refused}")
        else:
            aimed.next_try = time.time() + RETRY_WALL_S
            self._aimed.append(aimed)

    def _command(self, planned: PlannedStep, command: TimelineCommand, gs: StationClient) -> None:
        at = None
        if planned.release_s is not None:  # the spacecraft keeps real time: the tag is its clock, not the orbit's
            at = gs.mission_time() + (planned.release_s - self.bench.mission_s()) / self.rate
        try:
            result = gs.send(command.name, command.args, wait="none", at=at)
        except ZenithError as exc:
            self._note(planned, command.name, False, f"refused by the station: {exc}")
            return
        self.log.command_ids.append(result.command_id)
        if result.scheduled_id:
            self.log.command_ids.append(result.scheduled_id)
        if command.repeat > 1:  # a soak: its first and last sending are noted, not each one
            if planned.repeat_index in (0, command.repeat - 1):
                self._note(planned, command.name, True, f"sent {planned.repeat_index + 1} of {command.repeat}, "
                                                        f"{command.every_s:g} s apart")
            return
        tagged = f", to run on board at T+{planned.release_s:.0f} s" if planned.release_s is not None else ""
        self._note(planned, command.name, True, f"sent (command {result.command_id}){tagged}")

    def _downlink(self, planned: PlannedStep, downlink: Downlink) -> None:
        assert self.bench.stack is not None
        local = (self.out / "downlinks").resolve()
        local.mkdir(parents=True, exist_ok=True)
        budget = self.geometry.duration_s / self.rate + self.settle_s  # it may wait for a pass, and the contact
        try:
            with self.bench.stack.client(timeout=10.0) as gs:
                remote = self._resolve(gs, downlink.remote, budget)
                if remote is None:
                    return self._file(planned, downlink.remote, {"state": "failed", "condition": "no such file"})
                request = gs.control.call("files_get", local=str(local / Path(remote).name), remote=remote,
                                          cfdp_class=2)["request"]
                self.say(f"downlink {remote}: requested")
                final = follow(gs, request["id"], budget, as_json=True)
        except ZenithError as exc:
            return self._file(planned, downlink.remote, {"state": "failed", "condition": str(exc)})
        self._file(planned, remote, final or {**request, "state": "failed", "condition": "timed out"})

    def _resolve(self, gs: StationClient, remote: str, budget: float) -> str | None:
        """The path itself, or the newest match of its ``*`` in a listing of its directory."""
        if "*" not in remote:
            return remote
        directory, _, pattern = remote.rpartition("/")
        request = gs.control.call("files_list_remote", remote=directory or ".")["request"]
        final = follow(gs, request["id"], budget, as_json=True)
        names = sorted(str(e.get("name", "")) for e in (final or {}).get("listing", []))
        found = [n for n in names if fnmatch.fnmatchcase(Path(n).name, pattern)]
        return f"{directory}/{Path(found[-1]).name}" if found else None

    def _file(self, planned: PlannedStep, remote: str, request: dict[str, Any]) -> None:
        ok = request.get("state") == "finished" and bool(request.get("verified"))
        with self._lock:
            self.log.files.append({"remote": remote, "local": request.get("local", ""), "size": request.get("size"),
                                   "verified": ok, "state": request.get("state"),
                                   "condition": request.get("condition", ""), "at_s": round(self.bench.mission_s(), 1)})
        detail = f"{request.get('size')} octets, checksum verified" if ok else \
            f"{request.get('state')}: {request.get('condition', '')}"
        self._note(planned, f"downlink {remote}", ok, detail)

    def _settle(self, gs: StationClient, progress: Progress) -> float:
        started = time.monotonic()
        while time.monotonic() - started < self.settle_s:
            progress.update()
            newest = gs.archive.query("SELECT MAX(time) FROM packets")[0][0]
            if self._settled(gs):
                self.log.archive_complete_at = newest
                break
            time.sleep(0.5)
        else:
            self.say(f"gave up settling after {self.settle_s:g} s; the summary shows what was missing")
        progress.done()
        return time.monotonic() - started

    def _settled(self, gs: StationClient) -> bool:
        status = gs.status()
        if not status["in_contact"] or status["missing"] or status["uplink_pending"]:
            return False
        if any(thread.is_alive() for thread in self._downlinks):
            return False
        return all(_ended(gs, command_id) for command_id in self.log.command_ids)


def _kind(fault: object) -> str:
    return next(name for name, cls in FAULT_KINDS.items() if type(fault) is cls)


def _ended(gs: StationClient, command_id: int) -> bool:
    stages = gs.archive.stages(command_id)
    return any(not s.ok or s.stage == "completion" for s in stages)

"""The bench's keyed fault interface (``hil seu inject``): upsets and ECC errors on demand, for testing.

Off unless the mission file's ``[flight] bench_key_file`` names a key; then a REP socket (bench port
base+7) takes requests signed with it (:mod:`flight.supervisor.fault_request`). What each does:

- ``flip``: the running job's worker flips one bit of its parameters, optimizer state or weights at
  its next step boundary, and says where (SEU_INJECTED); the protection must then find it;
- ``checkpoint``: one bit of the job's newest checkpoint file flips on disk (SEU_INJECTED), for the
  load to refuse it and take the generation before;
- ``ecc``: the simulated GPU counts corrected or uncorrected errors or an Xid, which the ECC monitor
  then reads as it would NVML's.

Every request is answered, accepted or rejected with a typed reason, and counted; an accepted one
raises BENCH_FAULT, so the event log tells injected faults from natural ones.
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

from flight.counters import Counters
from flight.jobs.checkpoint_names import generation_step, generations
from flight.seu.ecc_source import EccSource, SimulatedEcc
from flight.supervisor.fault_request import FaultRequest, FaultRequestError, open_request, reply
from flight.supervisor.services.events import EventReporter
from flight.supervisor.services.jobs import JobManager
from flight.supervisor.state_db import StateDb

SEQ_KEY = "faults.last_seq"
log = logging.getLogger(__name__)


class BenchFaults:
    def __init__(self, db: StateDb, events: EventReporter, jobs: JobManager, ecc: EccSource | None,
                 key: bytes | None) -> None:
        self.db = db
        self.events = events
        self.jobs = jobs
        self.ecc = ecc
        self.key = key  # None: the interface is off (and its socket is not bound)
        self.counters = Counters("faults")

    def handle(self, raw: bytes) -> bytes:
        """One request (inside a unit): carried out or refused; the reply to send back."""
        try:
            if self.key is None:
                raise FaultRequestError("refused", "the bench fault interface is off (no bench_key_file)")
            request = open_request(self.key, raw, self.db.get(SEQ_KEY, 0))
            self.db.put(SEQ_KEY, request.seq)  # authentic: its sequence is spent, whatever happens next
            detail = self._carry_out(request)
        except FaultRequestError as exc:
            self.counters.inc("rejected")
            self.counters.inc(f"rejected_{exc.reason}")
            log.warning("bench fault request rejected: %s", exc)
            return reply(False, exc.reason, exc.detail)
        self.counters.inc("accepted")
        self.events.raise_event("BENCH_FAULT", kind=request.kind, detail=detail[:150])
        return reply(True, detail=detail)

    def _carry_out(self, request: FaultRequest) -> str:
        fields = request.fields
        if request.kind == "ecc":
            return self._ecc(fields["corrected"], fields["uncorrected"], fields["xid"])
        if request.kind == "flip":
            sent = self.jobs.tell_running(fields["job"], "inject", target=fields["target"], bits=fields["bits"],
                                          seed=fields["seed"], at=fields["at"])
            if not sent:
                raise FaultRequestError("refused", f"job {fields['job']} is not running")
            where = f"[{fields['at'][0]}] bit {fields['at'][1]}" if fields["at"] else f"seed {fields['seed']}"
            return f"job {fields['job']}: a {fields['bits']} bit of {fields['target'][:64]}, {where}"
        return self._checkpoint(fields["job"], fields["seed"])

    def _ecc(self, corrected: int, uncorrected: int, xid: int) -> str:
        if not isinstance(self.ecc, SimulatedEcc):
            source = self.ecc.name if self.ecc is not None else "none"
            raise FaultRequestError("refused", f"the ECC source is {source}: only the simulated GPU counts "
                                               "injected errors")
        self.ecc.inject(corrected=corrected, uncorrected=uncorrected, xid=xid or None)
        return f"corrected +{corrected}, uncorrected +{uncorrected}" + (f", Xid {xid}" if xid else "")

    def _checkpoint(self, job: int, seed: int) -> str:
        found = generations(self.jobs.job_dir(job) / "checkpoints")
        if not found:
            raise FaultRequestError("refused", f"job {job} has no checkpoint on disk")
        path = found[0]
        rng = random.Random(seed)
        try:
            offset, bit = flip_file_bit(path, rng)
        except OSError as exc:
            raise FaultRequestError("refused", f"cannot flip a bit of {path.name}: {exc.strerror}") from None
        self.events.raise_event("SEU_INJECTED", job=job, step=generation_step(path), target=f"checkpoint {path.name}",
                                element=offset, bit=bit)
        return f"job {job}: {path.name} byte {offset} bit {bit}"


def flip_file_bit(path: Path, rng: random.Random) -> tuple[int, int]:
    """Invert one random bit of a file in place, as a damaged disk would (no atomic write: this is the
    damage). The byte offset and the bit."""
    with path.open("r+b") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise OSError(0, "the file is empty")
        offset, bit = rng.randrange(size), rng.randrange(8)
        f.seek(offset)
        byte = f.read(1)[0] ^ (1 << bit)
        f.seek(offset)
        f.write(bytes([byte]))
        f.flush()
        os.fsync(f.fileno())
    return offset, bit

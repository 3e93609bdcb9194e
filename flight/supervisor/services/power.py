"""The power governor in the supervisor: the bus's state in, the payload's settings and draw out.

With every new bus state (but not more often than every quarter second of real time, however fast
the bench runs the bus), and at least every second, the governor plans (:mod:`flight.power.governor`) in the power mode the operator
chose, and the supervisor carries the plan out:

- **run**: jobs that power suspended are queued again (each resumes from its checkpoint), and the
  running job is told its duty cycle (a pause between steps). On a bench the cap sets the simulated
  GPU's draw; on a GPU it goes to the board through NVML where ``[flight] power_cap_control``
  allows it (:mod:`flight.power.nvml_gpu`). Where it does not, or the driver refuses a cap
  (POWER_CAP_REFUSED), the governor plans with the cap the driver enforces, and governs by duty
  cycle and suspension alone;
- **suspend** or **off**: every job is checkpointed and stopped (``SUSPENDED``, "power: ..."), with
  a POWER_SUSPENDED event saying why; nothing new starts until the plan runs again.

On a GPU the governor reads the board's draw and temperature through NVML, and plans with the
hotter of the board's temperature and the bus's figure for it (neither limit may be passed).

The payload's draw goes back to the bus after each tick: the board's, through NVML; on a bench, the
simulated GPU's at the chosen cap and duty while a job runs, its suspended draw otherwise. Once a
bus has been heard, ``power.bus_timeout`` seconds without its state leave the governor unable to
plan, and it suspends: a blind payload must not drain the battery. A payload that never heard a bus
runs its jobs unmanaged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from flight.counters import Counters
from flight.power.bus_message import BusMessageError, BusReport, pack_draw, unpack_state
from flight.power.governor import Action, BusState, Decision, Governor, Limits, Setting, payload_w
from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode, PowerState
from flight.power.nvml_gpu import CapRefused, GpuPowerError, GpuSensed, NvmlGpu
from flight.supervisor.dispatch import CommandContext, CommandFailed
from flight.supervisor.services.events import EventReporter
from flight.supervisor.services.functions import FunctionManagement
from flight.supervisor.services.jobs import JobManager

TICK_PERIOD = 1.0  # real seconds between plans when no new bus state comes (to notice a silent bus)
# Real seconds between plans at the most: each plan is a unit of work (a database commit), and a bus
# run hundreds of times faster than real time sends far more states than that.
MIN_PLAN_GAP = 0.25
REASON = "power: "  # how the jobs this service suspended are told from those safe mode suspended


class PowerService:
    def __init__(self, events: EventReporter, jobs: JobManager, power: PowerState, parameter: Callable[[str], Any],
                 set_parameter: Callable[[str, Any], Any], monotonic: Callable[[], float] = time.monotonic,
                 gpu: GpuPowerModel | None = None, safe_mode: Callable[[], bool] = lambda: False,
                 nvml: NvmlGpu | None = None) -> None:
        self.events = events
        self.jobs = jobs
        self.power = power
        self.parameter = parameter
        self.set_parameter = set_parameter
        self.monotonic = monotonic
        self.nvml = nvml  # the real GPU, or None: the simulated model stands in
        self.gpu = nvml.model(gpu or GpuPowerModel()) if nvml is not None else gpu or GpuPowerModel()
        self.safe_mode = safe_mode  # the supervisor's safe mode: the payload is off whatever the plan says
        self.governor = Governor(gpu=self.gpu)
        # The governor sets the cap: the simulated GPU's always; a real one's where the mission file
        # allows it, until the driver refuses one (a refusal is not retried: permissions do not change
        # under a running process; a restart tries again).
        self.cap_control = nvml is None or nvml.control
        self.sensed: GpuSensed | None = None  # the board, as NVML last read it
        self._driver_cap_w: float | None = None  # the cap the driver enforces, as last read
        self._applied_cap_w: float | None = None
        self.counters = Counters("power")
        self._sense()  # the driver's cap, before the first plan
        self.report: BusReport | None = None
        self.heard_at = 0.0
        self.decision: Decision | None = None
        self.setting = Setting(Action.SUSPEND)
        # Jobs are held suspended by this service: found by their state at start, so that a restarted
        # supervisor resumes those its last life suspended.
        self.suspended = bool(jobs.suspended_for(REASON))
        self._running: int | None = None  # the job running at the last plan
        self._next = 0.0
        self._draw_due = False
        self._planned_at = -MIN_PLAN_GAP
        self._told: tuple[int, int, float] | None = None  # (job, attempt, duty) last sent to a worker

    def register(self, functions: FunctionManagement) -> None:
        functions.add("SET_POWER_MODE", self._set_mode)
        functions.add("SET_POWER_CAP", self._set_cap)

    # --- commands ---------------------------------------------------------------------------------

    def _set_mode(self, ctx: CommandContext) -> None:
        mode = PowerMode[ctx.arguments["mode"]]
        if self.safe_mode() and mode is not PowerMode.OFF:
            raise CommandFailed("safe mode holds the payload OFF: leave safe mode first", "mode")
        self.power.set(mode)
        self.events.raise_event("POWER_MODE_CHANGED", mode=mode.name, reason="by command")
        self._next = 0.0  # plan at once in the new mode

    def on_safe_mode(self, reason: str) -> None:
        """Safe mode (inside its unit) sets the power mode to OFF, the minimum."""
        if self.power.mode is not PowerMode.OFF:
            self.power.set(PowerMode.OFF)
            self.events.raise_event("POWER_MODE_CHANGED", mode="OFF", reason=f"safe mode: {reason}"[:150])
        self._next = 0.0

    def _set_cap(self, ctx: CommandContext) -> None:
        # Through the parameter, so that it is kept across restarts and PARAM_GET shows it.
        self.set_parameter("power.cap_ceiling_w", ctx.arguments["cap_w"])
        self._next = 0.0

    # --- the bus ----------------------------------------------------------------------------------

    def on_bus_message(self, raw: bytes) -> None:
        """One bus state (outside a unit: it only replaces the one held, and counts)."""
        try:
            self.report = unpack_state(raw)
        except BusMessageError:
            self.counters.inc("bad_bus_messages")
            return
        self.heard_at = self.monotonic()
        self.counters.inc("bus_messages")
        self._next = min(self._next, self._planned_at + MIN_PLAN_GAP)  # a new state: plan with it, soon

    def due(self) -> bool:
        """Once a bus has been heard: a payload with no bus interface (a bench without ``hil bus``) runs
        its jobs unmanaged, as it did before the governor."""
        return self.report is not None and self.monotonic() >= self._next

    def tick(self) -> None:
        """Inside a unit: plan with the newest bus state, and carry the plan out."""
        self._planned_at = self.monotonic()
        self._next = self._planned_at + TICK_PERIOD
        self._draw_due = True
        self._sense()
        if self.report is None or self.monotonic() - self.heard_at > self.parameter("power.bus_timeout"):
            self.decision = None  # no plan, and no margin to report
            self._hold(f"no bus state for {self.parameter('power.bus_timeout'):g} s: the governor cannot plan")
            return
        self.governor.limits = self._limits()
        self.governor.gpu = self._model()
        was_safe = self.governor.safe
        mode = PowerMode.OFF if self.safe_mode() else self.power.mode
        decision = self.governor.decide(self._bus_state(), mode)
        self.decision = decision
        if self.governor.safe != was_safe:
            self.events.raise_event("POWER_SAFE", state="entered" if self.governor.safe else "left",
                                    reason=decision.reason[:150] if self.governor.safe else "battery and GPU recovered")
        if decision.now.action is Action.RUN:
            self._run(decision.now)
        else:
            self._hold(decision.reason)

    def _sense(self) -> None:
        if self.nvml is None:
            return
        try:
            self.sensed = self.nvml.read()
        except GpuPowerError:
            self.sensed = None  # this plan goes on the bus's temperature and the model's draw
            self.counters.inc("nvml_errors")
            return
        self._driver_cap_w = self.sensed.cap_w

    def _bus_state(self) -> BusState:
        """The bus's state, with the GPU's temperature the hotter of the bus's figure and the board's."""
        state = self.report.state
        if self.sensed is not None and self.sensed.temp_c > state.gpu_temp_c:
            return replace(state, gpu_temp_c=self.sensed.temp_c)
        return state

    def _fixed_cap_w(self) -> float | None:
        """With no control of the cap: the one the driver enforces, the only one the plan can choose
        (never read: the board's highest, the safe assumption for the battery)."""
        if self.cap_control:
            return None
        return self.gpu.clamp(self._driver_cap_w if self._driver_cap_w is not None else self.gpu.max_w)

    def _model(self) -> GpuPowerModel:
        fixed = self._fixed_cap_w()
        return self.gpu if fixed is None else replace(self.gpu, min_cap_w=fixed)

    def _limits(self) -> Limits:
        ceiling = self.parameter("power.cap_ceiling_w")
        fixed = self._fixed_cap_w()
        return replace(self.governor.limits, soc_floor=self.parameter("power.soc_floor"),
                       temp_limit_c=self.parameter("power.temp_limit_c"),
                       cap_ceiling_w=ceiling if fixed is None else min(ceiling, fixed))

    def _run(self, setting: Setting) -> None:
        if self.suspended:
            resumed = self.jobs.resume_suspended(REASON)
            self.suspended = False
            self.counters.inc("resumptions")
            self.events.raise_event("POWER_RESUMED", jobs=len(resumed), reason="the plan runs the job again")
        self.setting = setting
        self._running = job = self.jobs.running_job()
        worker = self.jobs.workers.get(job) if job is not None else None
        # Told again whenever it changes, and to each new worker (a resumed job starts at full duty).
        told = worker is not None and (job, worker.attempt, setting.duty) == self._told
        if worker is not None and not told and self.jobs.tell_running(worker.job, "duty", duty=setting.duty):
            self._told = (worker.job, worker.attempt, setting.duty)
        self._apply_cap(setting.cap_w)

    def _apply_cap(self, cap_w: float) -> None:
        if self.nvml is None or not self.cap_control or cap_w == self._applied_cap_w:
            return
        try:
            self.nvml.set_cap(cap_w)
        except CapRefused as exc:
            self.cap_control = False
            self.counters.inc("cap_refusals")
            self.events.raise_event("POWER_CAP_REFUSED", cap_w=cap_w, reason=str(exc)[:150])
            self._next = 0.0  # plan again at once, with the driver's cap
            return
        except GpuPowerError:
            self.counters.inc("nvml_errors")  # a passing failure: tried again at the next plan
            return
        self._applied_cap_w = cap_w

    def close(self) -> None:
        """The supervisor exits: the board's default cap again."""
        if self.nvml is not None:
            self.nvml.close()

    def _hold(self, reason: str) -> None:
        self.setting = Setting(Action.OFF if self.safe_mode() or self.governor.safe else Action.SUSPEND)
        self._running = None
        count = 0 if self.suspended else self.jobs.active_jobs()
        if not count:
            return
        self.jobs.suspend_all(REASON + reason)
        self.suspended = True
        self.counters.inc("suspensions")
        self.events.raise_event("POWER_SUSPENDED", jobs=count, reason=reason[:150])

    # --- what goes back to the bus, and into housekeeping --------------------------------------------

    def take_draw(self) -> bytes | None:
        """The draw report for the bus, once after each tick (None between ticks)."""
        if not self._draw_due:
            return None
        self._draw_due = False
        running = self._job_running()
        return pack_draw(self.draw_w(), self.setting.cap_w if running else 0.0,
                         self.setting.duty if running else 0.0, running)

    def _job_running(self) -> bool:
        """The plan runs a job, and one was running when it was made."""
        return self.setting.action is Action.RUN and self._running is not None

    def draw_w(self) -> float:
        """What the payload draws: the board's, as NVML last read it; on a bench, the simulated GPU at
        the chosen setting while a job runs (as of the last plan, made at least every second: no
        database read on every housekeeping sample)."""
        if self.sensed is not None:
            return self.sensed.draw_w
        if self.setting.action is Action.RUN and not self._job_running():
            return self.gpu.suspended_w  # the plan would run a job, but none is running yet
        return payload_w(self.setting, self.gpu)

    def sample(self) -> dict[str, Any]:
        state = self.report.state if self.report is not None else None
        running = self._job_running()
        return {
            "power.action": self.setting.action.name if self.report is not None else "NONE",
            "power.draw_w": self.draw_w(), "power.cap_w": self.setting.cap_w if running else 0.0,
            "power.duty": self.setting.duty if running else 0.0,
            "power.soc": state.soc if state else 0.0,
            "power.gpu_temp_c": self._bus_state().gpu_temp_c if state else 0.0,
            "power.array_w": state.array_w if state else 0.0, "power.in_eclipse": bool(state and state.in_eclipse),
            "power.eclipse_in_s": state.eclipse_entry_s if state else 0.0,
            "power.margin_wh": self.decision.margin_wh if self.decision is not None else 0.0,
            "power.gpu_cap_w": self._gpu_cap_w(), "power.gpu_source": "SIMULATED" if self.nvml is None else "NVML",
            "power.cap_control": self.cap_control, "power.allocation_w": state.allocation_w if state else 0.0,
            "power.plate_c": self.report.plate_c if self.report else 0.0,
            "power.radiator_c": self.report.radiator_c if self.report else 0.0,
        }

    def _gpu_cap_w(self) -> float:
        if self.nvml is not None:
            return self._driver_cap_w or 0.0
        return self.setting.cap_w if self._job_running() else 0.0

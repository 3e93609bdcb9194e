"""A payload power policy flown through simulated orbits: the work it does and the limits it keeps.

A policy maps the bus state to a setting (run at a cap and duty cycle, suspend, or off). It is
flown in fixed steps against :class:`hil.bus.simulator.BusSimulator`, on the simulated GPU of
:mod:`flight.power.gpu_model`; the log adds up the work (in seconds at full speed), the energy the
payload drew, and the violations: eclipses that end with the battery under its floor, and steps
with the GPU over its temperature limit. Two policies are here: the governor's (in any power
mode), and the naive one the governor is measured against (full power in sunlight, stopped in
eclipse).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flight.power.governor import Action, BusState, Governor, Limits, Setting, payload_w
from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode
from hil.bus.orbit import Orbit
from hil.bus.simulator import BusSettings, BusSimulator

Policy = Callable[[BusState], Setting]


def governed(mode: PowerMode, limits: Limits, gpu: GpuPowerModel) -> Policy:
    governor = Governor(limits, gpu)
    return lambda bus: governor.decide(bus, mode).now


def naive(gpu: GpuPowerModel) -> Policy:
    return lambda bus: Setting(Action.SUSPEND) if bus.in_eclipse else Setting(Action.RUN, gpu.max_w, 1.0)


@dataclass
class OrbitLog:
    seconds: float = 0.0
    work_s: float = 0.0  # seconds of work at full speed
    payload_j: float = 0.0
    run_s: float = 0.0  # time the job ran (any cap)
    min_soc: float = 1.0
    max_gpu_c: float = -273.15
    eclipse_exit_socs: list[float] = field(default_factory=list)
    floor_violations: int = 0  # eclipses that ended with the battery under its floor
    limit_violations: int = 0  # steps with the GPU over its temperature limit
    suspensions: int = 0  # times a running job was stopped (each after a checkpoint, in flight)
    shed_s: float = 0.0  # time the EPS had cut the payload off

    def per_orbit(self, period_s: float) -> float:
        return self.work_s * period_s / self.seconds if self.seconds else 0.0


def fly(policy: Policy, orbit: Orbit, start: float, hours: float, step_s: float = 10.0,
        settings: BusSettings | None = None, limits: Limits | None = None,
        gpu: GpuPowerModel | None = None) -> OrbitLog:
    limits, gpu = limits or Limits(), gpu or GpuPowerModel()
    duration = hours * 3600.0
    bus = BusSimulator(orbit, start, duration, settings)
    log = OrbitLog()
    was_running = False
    state = bus.bus_state()
    while log.seconds < duration:
        setting = policy(state)
        sample = bus.advance(step_s, payload_w(setting, gpu))
        running = setting.action is Action.RUN and not sample.shed
        log.seconds += step_s
        log.payload_j += sample.payload_w * step_s
        if running:
            log.work_s += gpu.speed(setting.cap_w, setting.duty) * step_s
            log.run_s += step_s
        log.suspensions += was_running and not running
        was_running = running
        log.shed_s += step_s if sample.shed else 0.0
        log.min_soc = min(log.min_soc, sample.soc)
        log.max_gpu_c = max(log.max_gpu_c, sample.gpu_c)
        log.limit_violations += sample.gpu_c > limits.temp_limit_c
        after = bus.bus_state()
        if state.in_eclipse and not after.in_eclipse:  # an eclipse just ended: the floor must have held
            log.eclipse_exit_socs.append(sample.soc)
            log.floor_violations += sample.soc < limits.soc_floor
        state = after
    return log

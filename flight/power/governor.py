"""The payload power governor: the most work per orbit that the battery and the radiator allow.

Each tick it plans to the end of the next eclipse (a receding horizon: the plan is made again with
every new bus state). It weighs every pair of settings, one for the sunlit time left before the
eclipse and one for the eclipse (a power cap and a duty cycle, or the job suspended after a
checkpoint), and keeps the pair that does the most work while the battery still holds its floor,
plus a margin, when the eclipse ends. The GPU's speed is concave in its power
(:mod:`flight.power.gpu_model`), so a low cap buys the most work per joule: the plan spends an
eclipse's battery energy at low caps, through all of the eclipse or, when the energy is short,
through its first part (a switched-off GPU draws nothing, where a low duty cycle pays the idle power
in every pause), and suspends the job for what the battery cannot carry it through.

Temperature is watched directly: the cap comes down linearly over the ``thermal_band`` below the
limit, and the job is suspended at the limit. A critical state of charge or temperature is power
safe mode (the payload off); it is left only once both are back past their resume levels
(hysteresis), so the payload does not flap on the boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

import numpy as np

from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode

DUTIES = (1.0, 0.75, 0.5, 0.25)
SHARES = (0.75, 0.5, 0.25)  # of an eclipse run at full duty before the job is suspended for the rest


@dataclass(frozen=True)
class BusState:
    """What the bus says (hil bus, or the spacecraft's own EPS), with the eclipse prediction."""

    soc: float  # state of charge, 0..1
    capacity_wh: float
    array_w: float  # the solar array's power now
    sunlit_array_w: float  # what it gives in full sun: the plan's figure for the sunlit time ahead
    bus_load_w: float  # everything but the payload
    in_eclipse: bool
    eclipse_entry_s: float  # from now to the next eclipse's entry (0 inside one)
    eclipse_exit_s: float  # from now to that eclipse's exit
    gpu_temp_c: float
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    max_charge_w: float = 1e9
    allocation_w: float = 1e9  # what the bus lets the payload draw now (its line's rating; 0: shed)


@dataclass(frozen=True)
class Limits:
    soc_floor: float = 0.30  # the state of charge at the end of every eclipse stays at or above it
    soc_critical: float = 0.22  # below: power safe mode
    soc_resume: float = 0.40  # safe mode ends only above this (and below temp_resume_c)
    temp_limit_c: float = 85.0  # the GPU's temperature stays at or below it
    temp_critical_c: float = 95.0
    temp_resume_c: float = 70.0
    thermal_band_c: float = 10.0  # the cap comes down over this band below the limit
    cap_ceiling_w: float = 700.0  # SET_POWER_CAP: the operator's highest cap


class Action(enum.Enum):
    RUN = "run"
    SUSPEND = "suspend"  # checkpoint and stop: the GPU is switched off (or idles: GpuPowerModel.suspended_w)
    OFF = "off"  # the payload powered down (power safe mode, or mode OFF)


@dataclass(frozen=True)
class Setting:
    action: Action
    cap_w: float = 0.0
    duty: float = 0.0
    # In an eclipse plan: run for this share of the eclipse, then suspend. A switched-off GPU draws
    # nothing, so running the first part of an eclipse at full duty does more work for the energy
    # than a low duty cycle all through it, which pays the idle power in every pause.
    share: float = 1.0


@dataclass(frozen=True)
class Decision:
    now: Setting  # what to do now
    eclipse: Setting  # what the plan does in the coming (or current) eclipse
    soc_at_exit: float  # the plan's state of charge when the eclipse ends
    margin_wh: float  # energy above the floor then (negative: the floor cannot be held)
    reason: str


MARGINS = {PowerMode.PERFORMANCE: 0.02, PowerMode.BALANCED: 0.10, PowerMode.ECLIPSE_SAFE: 0.10}


def plan(bus: BusState, mode: PowerMode, limits: Limits, gpu: GpuPowerModel) -> Decision:
    """The best settings until the next eclipse ends (pure: the same state gives the same plan)."""
    if mode is PowerMode.OFF:
        return _off(bus, limits, gpu, "power mode OFF")
    thermal_cap = _thermal_cap(bus.gpu_temp_c, limits, gpu)
    ceiling = min(limits.cap_ceiling_w, bus.allocation_w, thermal_cap) if thermal_cap is not None else None
    runs = _candidates(ceiling, gpu)
    suspend = Setting(Action.SUSPEND)
    sunlit = [suspend] if bus.in_eclipse else [*runs, suspend]
    parts = [Setting(Action.RUN, s.cap_w, 1.0, share) for s in runs if s.duty == 1.0 for share in SHARES]
    eclipse = [suspend] if mode is PowerMode.ECLIPSE_SAFE else [*runs, *parts, suspend]
    if mode is PowerMode.ECLIPSE_SAFE and not bus.in_eclipse:
        sunlit = [s for s in sunlit if _net_w(bus, s, gpu) >= 0]  # eclipse-safe never draws on the battery
    floor = limits.soc_floor + MARGINS[mode]
    best = _best_pair(bus, sunlit, eclipse, floor, gpu)
    sun, dark = best or (suspend, suspend)  # none holds the floor: the least drain
    if thermal_cap is None:
        reason = f"GPU at {bus.gpu_temp_c:.1f} °C, the limit is {limits.temp_limit_c:.1f}: suspended"
    elif not runs:
        reason = f"no cap the GPU takes is at or under {ceiling:.0f} W: suspended"
    elif best is None:
        reason = "the floor cannot be held: suspended"
    elif (dark if bus.in_eclipse else sun).action is Action.SUSPEND:
        reason = f"running now would leave the battery under {floor:.0%} when the eclipse ends"
    else:
        reason = "plan" if thermal_cap >= gpu.max_w else f"thermal cap {thermal_cap:.0f} W"
    soc = _soc_after(bus, sun, dark, gpu)
    # In the eclipse the plan runs first, for its share, and is made again every tick: it runs on as
    # long as the energy lasts, and suspends the job when a share of what is left no longer fits.
    now = (replace(dark, share=1.0) if dark.action is Action.RUN else dark) if bus.in_eclipse else sun
    return Decision(now, dark, soc, (soc - limits.soc_floor) * bus.capacity_wh, reason)


def _off(bus: BusState, limits: Limits, gpu: GpuPowerModel, reason: str) -> Decision:
    """The payload powered down through the eclipse, with where that leaves the battery."""
    off = Setting(Action.OFF)
    soc = _soc_after(bus, off, off, gpu)
    return Decision(off, off, soc, (soc - limits.soc_floor) * bus.capacity_wh, reason)


def _best_pair(bus: BusState, sunlit: list[Setting], eclipse: list[Setting], floor: float,
               gpu: GpuPowerModel) -> tuple[Setting, Setting] | None:
    """The (sunlit, eclipse) pair that does the most work and ends the eclipse at or above ``floor``
    (ties: the fuller battery). Every pair at once, as arrays: the plan runs every tick."""
    if not sunlit or not eclipse:
        return None
    entry = np.array([_entry_energy(bus, s, gpu) for s in sunlit])
    dark_s = bus.eclipse_exit_s - bus.eclipse_entry_s
    drain = np.array([(bus.bus_load_w + _mean_payload_w(d, gpu)) / bus.discharge_efficiency for d in eclipse])
    soc = (entry[:, None] - drain[None, :] * max(dark_s, 0.0) / 3600.0) / bus.capacity_wh
    sunlit_s = 0.0 if bus.in_eclipse else bus.eclipse_entry_s
    work = (sunlit_s * np.array([_speed(s, gpu) for s in sunlit])[:, None]
            + dark_s * np.array([_speed(d, gpu) * d.share for d in eclipse])[None, :])
    feasible = soc >= floor
    if not feasible.any():
        return None
    # the most work, then the fullest battery: lexicographic, as a sort key of (work, soc)
    order = np.lexsort((np.where(feasible, soc, -np.inf).ravel(), np.where(feasible, work, -np.inf).ravel()))
    i, j = np.unravel_index(order[-1], soc.shape)
    return sunlit[int(i)], eclipse[int(j)]


def _entry_energy(bus: BusState, sun: Setting, gpu: GpuPowerModel) -> float:
    energy = bus.soc * bus.capacity_wh
    return energy if bus.in_eclipse else _charge(energy, _net_w(bus, sun, gpu), bus.eclipse_entry_s, bus)


def _candidates(ceiling: float | None, gpu: GpuPowerModel) -> list[Setting]:
    """Caps every 50 W from the lowest to the ceiling, each at every duty cycle (none above the limit)."""
    if ceiling is None or ceiling < gpu.min_cap_w:
        return []
    caps = sorted({gpu.min_cap_w + 50.0 * k for k in range(int((ceiling - gpu.min_cap_w) // 50) + 1)} | {ceiling})
    return [Setting(Action.RUN, cap, duty) for cap in caps for duty in DUTIES]


def _thermal_cap(temp_c: float, limits: Limits, gpu: GpuPowerModel) -> float | None:
    """The highest cap the temperature allows (None: none at all, the job must stop)."""
    if temp_c >= limits.temp_limit_c:
        return None
    start = limits.temp_limit_c - limits.thermal_band_c
    if temp_c <= start:
        return gpu.max_w
    share = (limits.temp_limit_c - temp_c) / limits.thermal_band_c
    return gpu.min_cap_w + share * (gpu.max_w - gpu.min_cap_w)


def payload_w(setting: Setting, gpu: GpuPowerModel) -> float:
    if setting.action is Action.OFF:
        return 0.0
    if setting.action is Action.SUSPEND:
        return gpu.suspended_w
    return gpu.draw_w(setting.cap_w, setting.duty)


def _mean_payload_w(setting: Setting, gpu: GpuPowerModel) -> float:
    """Over a phase: the setting's draw for its share, suspended for the rest."""
    return setting.share * payload_w(setting, gpu) + (1.0 - setting.share) * gpu.suspended_w


def _speed(setting: Setting, gpu: GpuPowerModel) -> float:
    return gpu.speed(setting.cap_w, setting.duty) if setting.action is Action.RUN else 0.0


def _net_w(bus: BusState, sun: Setting, gpu: GpuPowerModel) -> float:
    return bus.sunlit_array_w - bus.bus_load_w - payload_w(sun, gpu)


def _soc_after(bus: BusState, sun: Setting, dark: Setting, gpu: GpuPowerModel) -> float:
    """The state of charge at the eclipse's exit if ``sun`` runs until its entry and ``dark`` through it."""
    energy = _entry_energy(bus, sun, gpu)
    drain_w = bus.bus_load_w + _mean_payload_w(dark, gpu)
    energy = _charge(energy, -drain_w, bus.eclipse_exit_s - bus.eclipse_entry_s, bus)
    return energy / bus.capacity_wh


def _charge(energy_wh: float, net_w: float, seconds: float, bus: BusState) -> float:
    """The battery after ``seconds`` of a net power (surplus charges, with losses; a deficit drains)."""
    hours = max(seconds, 0.0) / 3600.0
    if net_w >= 0:
        return min(bus.capacity_wh, energy_wh + min(net_w, bus.max_charge_w) * bus.charge_efficiency * hours)
    return energy_wh + net_w / bus.discharge_efficiency * hours


RESUME_SOC_MARGIN = 0.03  # a suspended job resumes only when the plan holds the floor with this to spare


class Governor:
    """The plan, with hysteresis around it: a suspended job stays suspended to the end of the eclipse it
    was suspended in, and resumes only when the plan has margin to spare and the GPU has cooled below
    the middle of its thermal band (each suspension costs a checkpoint and a restart: it must not
    flap on a boundary); and power safe mode, entered on a critical state and left with hysteresis."""

    def __init__(self, limits: Limits | None = None, gpu: GpuPowerModel | None = None) -> None:
        self.limits = limits or Limits()
        self.gpu = gpu or GpuPowerModel()
        self.safe = False
        self.holding = False  # the job is suspended and held so
        self._held_in_eclipse = False

    def decide(self, bus: BusState, mode: PowerMode) -> Decision:
        limits = self.limits
        critical = bus.soc < limits.soc_critical or bus.gpu_temp_c > limits.temp_critical_c
        if critical:
            self.safe = True
        elif self.safe and bus.soc >= limits.soc_resume and bus.gpu_temp_c <= limits.temp_resume_c:
            self.safe = False
        if self.safe:
            return _off(bus, limits, self.gpu, f"power safe mode: state of charge {bus.soc:.0%}, GPU "
                        f"{bus.gpu_temp_c:.1f} °C (resumes at {limits.soc_resume:.0%} and "
                        f"{limits.temp_resume_c:.0f} °C)")
        decision = plan(bus, mode, limits, self.gpu)
        if decision.now.action is not Action.RUN:
            self.holding, self._held_in_eclipse = True, bus.in_eclipse
            return decision
        if self.holding:
            if bus.in_eclipse and self._held_in_eclipse:
                return self._held(decision, "suspended to the end of this eclipse")
            cooler = bus.gpu_temp_c <= limits.temp_limit_c - limits.thermal_band_c / 2
            spare = plan(bus, mode, replace(limits, soc_floor=limits.soc_floor + RESUME_SOC_MARGIN), self.gpu)
            if not cooler or spare.now.action is not Action.RUN:
                return self._held(decision, "held suspended until there is margin to resume")
            self.holding = False
        return decision

    @staticmethod
    def _held(decision: Decision, why: str) -> Decision:
        return replace(decision, now=Setting(Action.SUSPEND), reason=why)

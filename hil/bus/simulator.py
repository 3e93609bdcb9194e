"""The spacecraft bus, stepped through time: orbit and Sun, eclipses ahead, the EPS, and the thermal nodes.

It knows nothing of who draws the payload's power: each ``advance`` is told the draw, and
``bus_state`` says what the governor needs (state of charge, array, loads, the next eclipse's entry
and exit, the GPU's temperature). The eclipses are found once, for the whole run, by
:func:`hil.bus.shadow.eclipses`; the sunlit fraction is computed at every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flight.power.governor import BusState
from hil.bus.eps import Eps, EpsSettings, EpsStep
from hil.bus.orbit import Orbit
from hil.bus.shadow import EclipseWindow, eclipses, sunlit_fraction
from hil.bus.sun import AU_KM, sun_position_km
from hil.bus.thermal import ThermalModel, ThermalSettings


@dataclass(frozen=True)
class BusSettings:
    eps: EpsSettings = field(default_factory=EpsSettings)
    thermal: ThermalSettings = field(default_factory=ThermalSettings)


@dataclass
class BusSample:
    """One step of the bus, as telemetry would show it."""

    time: float
    sunlit_fraction: float
    soc: float
    array_w: float
    payload_w: float
    heater_w: float
    gpu_c: float
    plate_c: float
    radiator_c: float
    shed: bool


class BusSimulator:
    def __init__(self, orbit: Orbit, start: float, duration_s: float, settings: BusSettings | None = None) -> None:
        self.orbit = orbit
        self.settings = settings or BusSettings()
        self.t = start
        self.eps = Eps(self.settings.eps)
        self.thermal = ThermalModel(self.settings.thermal)
        self.duration_s = duration_s
        self.eclipses: list[EclipseWindow] = []
        self.end = start
        self._extend()
        self._heater_w = 0.0
        self._fraction, self._distance_au = self._light(start)

    def _extend(self) -> None:
        """Find the eclipses of the next ``duration_s``, and far enough past it that the last step still
        sees the eclipse after it (a bus that runs on extends again as it goes)."""
        start, end = self.end, max(self.end, self.t) + self.duration_s + 2 * self.orbit.period_s
        self.eclipses = [e for e in self.eclipses if e.exit > self.t]
        found = eclipses(self.orbit, start, end)
        if self.eclipses and found and found[0].entry <= self.eclipses[-1].exit:  # one cut at the old end
            found[0] = EclipseWindow(self.eclipses[-1].entry, found[0].exit, self.eclipses[-1].umbra_entry,
                                     found[0].umbra_exit)
            self.eclipses.pop()
        self.eclipses += found
        self.end = end

    def _light(self, t: float) -> tuple[float, float]:
        sun = sun_position_km(t)
        return sunlit_fraction(self.orbit.position_km(t), sun), float(np.linalg.norm(sun)) / AU_KM

    @property
    def sunlit_fraction(self) -> float:
        return self._fraction

    def next_eclipse(self) -> EclipseWindow | None:
        """The eclipse the bus is in, or the next one (None: none before the end of what was computed)."""
        return next((e for e in self.eclipses if e.exit > self.t), None)

    def bus_state(self) -> BusState:
        eclipse = self.next_eclipse()
        in_eclipse = eclipse is not None and eclipse.entry <= self.t
        if eclipse is None:  # no eclipse ahead: the plan's horizon is the end, all of it sunlit
            entry = exit_ = self.end - self.t
        else:
            entry, exit_ = max(0.0, eclipse.entry - self.t), eclipse.exit - self.t
        eps = self.settings.eps
        return BusState(soc=self.eps.soc, capacity_wh=eps.capacity_wh, array_w=self.eps.array_power_w(self._fraction,
                        self._distance_au), sunlit_array_w=self.eps.array_power_w(1.0, self._distance_au),
                        bus_load_w=self.eps.bus_load_w + self._heater_w, in_eclipse=in_eclipse, eclipse_entry_s=entry,
                        eclipse_exit_s=exit_, gpu_temp_c=self.thermal.gpu_c,
                        charge_efficiency=eps.charge_efficiency, discharge_efficiency=eps.discharge_efficiency,
                        max_charge_w=eps.max_charge_w, allocation_w=self.eps.allocation_w)

    def advance(self, seconds: float, payload_w: float) -> BusSample:
        """``seconds`` with the payload asking for ``payload_w`` (the EPS may shed it)."""
        step: EpsStep = self.eps.step(seconds, self._fraction, payload_w, self._distance_au, self._heater_w)
        got = step.payload_w
        self._heater_w = self.thermal.step(seconds, got, self._fraction, self._distance_au)
        self.t += seconds
        if self.t + 2 * self.orbit.period_s > self.end:
            self._extend()
        self._fraction, self._distance_au = self._light(self.t)
        return BusSample(self.t, self._fraction, self.eps.soc, step.array_w, got, self._heater_w, self.thermal.gpu_c,
                         self.thermal.plate_c, self.thermal.radiator_c, step.shed)

"""The payload's heat path in three nodes: the GPU, its cold plate, and the radiator that sees space.

The GPU's power all becomes heat. It flows by conduction to the cold plate and on to the radiator
(conductances in W/K), and the radiator alone gets rid of it, by radiation to deep space
(``ε σ A T⁴``), while it absorbs sunlight (in the sunlit fraction of the orbit) and the Earth's
infrared. Each node warms by its heat capacity. The numbers are a bench's, not a flight design's:
they give a GPU that settles near 84 °C at full power in sunlight (above 85 °C with the array's
extra heat near the subsolar point is where a real radiator would be sized) and cools in eclipse,
so the governor's thermal limit is a real constraint at the top of its range. An idle payload is
kept from freezing the way spacecraft do it: the plate-to-radiator heat pipe is a variable-
conductance one, nearly closed when the plate is cold, and a thermostat heater on the cold plate
makes up the rest; the heater's power is a bus load.

Integrated with explicit Euler substeps, short enough for the GPU node's small time constant.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight.link.errors import ConfigError

STEFAN_BOLTZMANN = 5.670374419e-8  # W m⁻² K⁻⁴
KELVIN = 273.15
SOLAR_CONSTANT = 1361.0  # W/m² at 1 AU
SPACE_K = 3.0


@dataclass(frozen=True)
class ThermalSettings:
    gpu_heat_j_per_k: float = 1500.0  # die, package, heat spreader
    plate_heat_j_per_k: float = 8000.0
    radiator_heat_j_per_k: float = 25000.0
    gpu_to_plate_w_per_k: float = 20.0
    plate_to_radiator_w_per_k: float = 50.0  # the heat pipe fully open (plate at or above open_c)
    closed_w_per_k: float = 2.0  # the variable-conductance heat pipe closed (plate at or below closed_c)
    open_c: float = 20.0
    closed_c: float = -5.0
    radiator_area_m2: float = 2.4
    emissivity: float = 0.85
    absorptivity: float = 0.2  # white paint: it reflects most sunlight
    sun_facing_m2: float = 0.6  # the radiator's area the Sun sees, edge-on mostly
    earth_ir_w: float = 120.0  # the Earth's infrared and albedo on the radiator, all orbit long
    other_heat_w: float = 50.0  # the payload computer and power conversion beside the GPU, into the plate
    heater_w: float = 200.0  # keeps the cold plate above heater_setpoint_c when the GPU is off or idle
    heater_setpoint_c: float = -10.0
    initial_c: float = 20.0
    max_step_s: float = 2.0

    def __post_init__(self) -> None:
        positive = ("closed_w_per_k", "gpu_heat_j_per_k", "plate_heat_j_per_k", "radiator_heat_j_per_k", "gpu_to_plate_w_per_k",
                    "plate_to_radiator_w_per_k", "radiator_area_m2", "max_step_s")
        bad = [name for name in positive if not getattr(self, name) > 0]
        if not 0 < self.emissivity <= 1:
            bad.append("emissivity")
        if not 0 <= self.absorptivity <= 1:
            bad.append("absorptivity")
        if self.heater_w < 0:
            bad.append("heater_w")
        if self.closed_c >= self.open_c:
            bad.append("closed_c")
        if bad:
            raise ConfigError(f"{bad[0]}: {getattr(self, bad[0])} is out of range (the bus's thermal model)")


class ThermalModel:
    def __init__(self, settings: ThermalSettings | None = None) -> None:
        self.settings = settings or ThermalSettings()
        start = self.settings.initial_c + KELVIN
        self.gpu_k = self.plate_k = self.radiator_k = start

    @property
    def gpu_c(self) -> float:
        return self.gpu_k - KELVIN

    @property
    def plate_c(self) -> float:
        return self.plate_k - KELVIN

    @property
    def radiator_c(self) -> float:
        return self.radiator_k - KELVIN

    def step(self, seconds: float, gpu_w: float, sunlit_fraction: float, sun_distance_au: float = 1.0) -> float:
        """Advance ``seconds``; the heater's mean power over them (W, drawn from the bus)."""
        s = self.settings
        substeps = max(1, int(-(-seconds // s.max_step_s)))
        dt = seconds / substeps
        solar = s.absorptivity * s.sun_facing_m2 * SOLAR_CONSTANT * sunlit_fraction / sun_distance_au**2
        setpoint = s.heater_setpoint_c + KELVIN
        heater_j = 0.0
        for _ in range(substeps):
            heater = s.heater_w if self.plate_k < setpoint else 0.0
            heater_j += heater * dt
            to_plate = s.gpu_to_plate_w_per_k * (self.gpu_k - self.plate_k)
            to_radiator = self._link_w_per_k() * (self.plate_k - self.radiator_k)
            emitted = s.emissivity * STEFAN_BOLTZMANN * s.radiator_area_m2 * (self.radiator_k**4 - SPACE_K**4)
            self.gpu_k += (gpu_w - to_plate) * dt / s.gpu_heat_j_per_k
            self.plate_k += (to_plate + s.other_heat_w + heater - to_radiator) * dt / s.plate_heat_j_per_k
            self.radiator_k += (to_radiator + solar + s.earth_ir_w - emitted) * dt / s.radiator_heat_j_per_k
        return heater_j / seconds if seconds > 0 else 0.0

    def _link_w_per_k(self) -> float:
        s = self.settings
        opening = min(1.0, max(0.0, (self.plate_k - KELVIN - s.closed_c) / (s.open_c - s.closed_c)))
        return s.closed_w_per_k + opening * (s.plate_to_radiator_w_per_k - s.closed_w_per_k)

    def steady_gpu_c(self, gpu_w: float, sunlit_fraction: float) -> float:
        """Where the GPU settles at a constant power, with the heat pipe open (a working payload's plate
        is well above open_c): the radiator's balance, then the conduction drops."""
        s = self.settings
        solar = s.absorptivity * s.sun_facing_m2 * SOLAR_CONSTANT * sunlit_fraction
        heat = gpu_w + s.other_heat_w + solar + s.earth_ir_w
        radiator_k = (heat / (s.emissivity * STEFAN_BOLTZMANN * s.radiator_area_m2) + SPACE_K**4) ** 0.25
        plate_k = radiator_k + (gpu_w + s.other_heat_w) / s.plate_to_radiator_w_per_k
        return plate_k + gpu_w / s.gpu_to_plate_w_per_k - KELVIN

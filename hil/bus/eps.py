"""The electrical power system the payload lives on: a solar array, a battery, and the bus's own loads.

The array tracks the Sun (as a payload platform's would), so its power is its rating times the sunlit
fraction of the Sun's disc, scaled by the inverse square of the Sun's distance. The battery is an
energy store with charge and discharge efficiencies, a charge-rate limit, and a depth-of-discharge
floor below which the bus sheds the payload (it never runs the battery empty: the rest of the
spacecraft needs it). Surplus the battery cannot take is shunted, as a real EPS dumps it in the array.
The payload's power line has a rating (its allocation, published to the payload): a current limiter
holds the line there, and gives nothing while the payload is shed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight.link.errors import ConfigError


@dataclass(frozen=True)
class EpsSettings:
    array_w: float = 2400.0  # at 1 AU in full sun, end of life
    capacity_wh: float = 400.0  # small for a 700 W payload: the eclipses are what the governor must plan for
    initial_soc: float = 0.8
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    max_charge_w: float = 1200.0
    shed_soc: float = 0.15  # the EPS cuts the payload off below this: the bus's own last reserve
    bus_load_w: float = 250.0  # avionics, radios, heaters, attitude control
    payload_line_w: float = 1000.0  # the payload's power line: its current limiter's rating

    def __post_init__(self) -> None:
        checks = {
            "array_w": self.array_w >= 0, "capacity_wh": self.capacity_wh > 0,
            "initial_soc": 0 <= self.initial_soc <= 1, "charge_efficiency": 0 < self.charge_efficiency <= 1,
            "discharge_efficiency": 0 < self.discharge_efficiency <= 1, "max_charge_w": self.max_charge_w > 0,
            "shed_soc": 0 <= self.shed_soc < 1, "bus_load_w": self.bus_load_w >= 0,
            "payload_line_w": self.payload_line_w >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            # the field first, so that a file's reader can name its line
            raise ConfigError(f"{bad[0]}: {getattr(self, bad[0])} is out of range (the bus's EPS)")


@dataclass
class EpsStep:
    array_w: float  # generated
    payload_w: float  # what the payload got (0 when shed)
    battery_w: float  # into the battery (negative: out of it)
    shunted_w: float  # surplus thrown away
    shed: bool  # the payload was cut off to save the bus


class Eps:
    def __init__(self, settings: EpsSettings | None = None) -> None:
        self.settings = settings or EpsSettings()
        self.energy_wh = self.settings.initial_soc * self.settings.capacity_wh
        self.shed = False
        # Anomalies the bench injects: strings of the array lost, a load stuck on.
        self.array_share = 1.0
        self.extra_load_w = 0.0

    @property
    def bus_load_w(self) -> float:
        """The bus's own loads now (a stuck load included; its heaters are the thermal model's)."""
        return self.settings.bus_load_w + self.extra_load_w

    @property
    def allocation_w(self) -> float:
        """What the payload may draw now: its line's rating, or nothing while it is shed."""
        return 0.0 if self.shed else self.settings.payload_line_w

    @property
    def soc(self) -> float:
        return self.energy_wh / self.settings.capacity_wh

    def array_power_w(self, sunlit_fraction: float, sun_distance_au: float = 1.0) -> float:
        return self.settings.array_w * self.array_share * sunlit_fraction / sun_distance_au**2

    def step(self, seconds: float, sunlit_fraction: float, payload_w: float, sun_distance_au: float = 1.0,
             heater_w: float = 0.0) -> EpsStep:
        """``seconds`` of the array, the bus (with its heaters, never shed) and the payload's draw; the
        battery takes the difference."""
        s = self.settings
        array = self.array_power_w(sunlit_fraction, sun_distance_au)
        # The EPS sheds the payload at its reserve, and gives it back once the battery has some margin.
        if self.soc <= s.shed_soc:
            self.shed = True
        elif self.shed and self.soc >= s.shed_soc + 0.05:
            self.shed = False
        payload = min(payload_w, self.allocation_w)
        net = array - self.bus_load_w - heater_w - payload
        hours = seconds / 3600.0
        shunted = 0.0
        if net >= 0:
            into = min(net, s.max_charge_w, (s.capacity_wh - self.energy_wh) / hours / s.charge_efficiency
                       if hours > 0 else 0.0)
            shunted = net - into
            self.energy_wh += into * s.charge_efficiency * hours
            battery = into
        else:
            self.energy_wh = max(0.0, self.energy_wh + net / s.discharge_efficiency * hours)
            battery = net
        return EpsStep(array, payload, battery, shunted, self.shed)

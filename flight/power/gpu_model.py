"""A simulated GPU's power and speed against its power cap: the stand-in for NVML on a CPU bench.

An H100 SXM draws up to 700 W and takes a power cap down to about 200 W; it idles near 60 W. Its
throughput against the cap is strongly concave: the clocks fall slowly while the voltage falls with
them, so halving the power costs far less than half the speed. We model the busy GPU's speed as
``((cap - idle) / (max - idle)) ** exponent`` of full speed, with an exponent of 0.4: at 350 W it
keeps 73% of its speed for 45% of its active power, at 200 W 54% for 22%. The exponent is a
setting, so a bench can fit it to measurements of its own GPU.

A duty cycle below 1 is a pause between steps: the GPU idles for that share of the time. A suspended
job (checkpointed and stopped) lets the bus switch the GPU off, so it draws ``suspended_w``, nothing
by default: that is what makes suspending through an eclipse worth more than a trickle of work.
"""

from __future__ import annotations

from dataclasses import dataclass

from flight.link.errors import ConfigError


@dataclass(frozen=True)
class GpuPowerModel:
    idle_w: float = 60.0
    max_w: float = 700.0  # the board's limit, and the highest cap
    min_cap_w: float = 200.0  # the lowest cap the driver takes
    exponent: float = 0.4  # how concave speed is in power: 1 is linear, smaller is more concave
    # With no job to run the bus switches the GPU off; set it to idle_w for a GPU that stays powered.
    suspended_w: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.idle_w < self.min_cap_w <= self.max_w:
            raise ConfigError(f"gpu model: need 0 <= idle ({self.idle_w}) < min cap ({self.min_cap_w}) <= max "
                              f"({self.max_w}) W")
        if not 0 <= self.suspended_w <= self.idle_w:
            raise ConfigError(f"gpu model: suspended draw {self.suspended_w} W must be in [0, idle]")
        if not 0 < self.exponent <= 1:
            raise ConfigError(f"gpu model: exponent {self.exponent} must be in (0, 1]")

    def clamp(self, cap_w: float) -> float:
        return min(self.max_w, max(self.min_cap_w, cap_w))

    def speed(self, cap_w: float, duty: float = 1.0) -> float:
        """Work per second as a share of full speed, at this cap and duty cycle."""
        cap = self.clamp(cap_w)
        return _share(duty) * ((cap - self.idle_w) / (self.max_w - self.idle_w)) ** self.exponent

    def draw_w(self, cap_w: float, duty: float = 1.0) -> float:
        """The board's power: busy at the cap for ``duty`` of the time, idle for the rest."""
        return self.idle_w + _share(duty) * (self.clamp(cap_w) - self.idle_w)

    def joules_per_work(self, cap_w: float) -> float:
        """Energy per unit of work (a full-speed second's worth) when busy at this cap."""
        return self.draw_w(cap_w) / self.speed(cap_w)


def _share(duty: float) -> float:
    if not 0 <= duty <= 1:
        raise ValueError(f"duty cycle {duty} outside [0, 1]")
    return duty

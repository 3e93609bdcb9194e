"""Power benchmarks, on the simulated bus and GPU (the orbit from sgp4; no GPU needed or used).

- **Work per orbit**: training work per orbit (seconds at full speed, which is training steps at any
  one step time) under the governor (performance mode) ÷ under the naive policy (full power in
  sunlight, stopped in eclipse), both flown through the same simulated day of the default 325 km
  orbit, with the same battery, array and radiator. The floor and temperature violations of both
  are reported. Target ≥ 1.2, with zero violations for the governor.
- **Energy per token**: joules per token in each power mode over the same day, with the simulated
  GPU's full-speed rate set to what a real job measured (an H200 trained shakespeare_char at about
  1.5 M tokens/s, issue 4): the payload's energy ÷ the tokens its work stands for. Reported for
  information, against full power's joules per token.
"""

from __future__ import annotations

from bench.harness import Record
from flight.power.governor import Limits
from flight.power.gpu_model import GpuPowerModel
from flight.power.mode import PowerMode
from hil.bus.orbit import Orbit
from hil.bus.orbit_run import OrbitLog, fly, governed, naive

HOURS = 24.0
STEP_S = 10.0
FULL_SPEED_TOKENS_PER_S = 1.5e6  # shakespeare_char on an H200 (issue 4's measurement)


def run() -> list[Record]:
    orbit = Orbit.default()
    start = orbit.epoch
    gpu, limits = GpuPowerModel(), Limits()
    logs = {mode: fly(governed(mode, limits, gpu), orbit, start, HOURS, STEP_S, limits=limits, gpu=gpu)
            for mode in (PowerMode.PERFORMANCE, PowerMode.BALANCED, PowerMode.ECLIPSE_SAFE)}
    simple = fly(naive(gpu), orbit, start, HOURS, STEP_S, limits=limits, gpu=gpu)
    ours = logs[PowerMode.PERFORMANCE]
    period = orbit.period_s
    records = [Record(f"power: work per orbit, governor ÷ naive (floor/temperature violations: governor "
                      f"{_violations(ours)}, naive {_violations(simple)})", ours.per_orbit(period),
                      "full-speed s/orbit", simple.per_orbit(period), ours.per_orbit(period) / simple.per_orbit(period),
                      ">= 1.2")]
    full = gpu.joules_per_work(gpu.max_w) / FULL_SPEED_TOKENS_PER_S
    for mode, log in logs.items():
        joules = _joules_per_token(log)
        records.append(Record(f"power: energy per token, {mode.name.lower()} mode (÷ full power's)", joules,
                              "J/token", full, joules / full, ""))
    return records


def _violations(log: OrbitLog) -> str:
    return f"{log.floor_violations}/{log.limit_violations}"


def _joules_per_token(log: OrbitLog) -> float:
    tokens = log.work_s * FULL_SPEED_TOKENS_PER_S
    return log.payload_j / tokens if tokens else float("inf")

"""How often to checkpoint: Young and Daly's first-order optimum, T = sqrt(2 × C × MTBF).

C is the cost of a checkpoint, measured (a worker reports how long each write took). The MTBF comes
from the upsets observed while jobs ran: exposure ÷ upsets, counting at least one (no upsets yet in
an hour says the MTBF is at least about an hour, not infinite). It never goes below a configured
floor, so that a burst of upsets cannot drive the job into checkpointing without end. An operator's
parameter overrides the result.

Rollbacks need a good state older than the worst-case detection delay. Checksummed upsets are found
before the next optimizer step and the loss guard's within the step, so the host shadow or the
newest checkpoint always predates them; ``keep`` (3) generations leave two more behind it, for an
upset found only when a checkpoint is read back.
"""

from __future__ import annotations

import math


def young_daly(checkpoint_cost_s: float, mtbf_s: float) -> float:
    return math.sqrt(2.0 * max(checkpoint_cost_s, 0.0) * max(mtbf_s, 0.0))


def observed_mtbf(exposure_s: float, upsets: int, floor_s: float) -> float:
    return max(floor_s, exposure_s / max(upsets, 1))


def checkpoint_interval(checkpoint_cost_s: float, exposure_s: float, upsets: int, floor_s: float,
                        override_s: float = 0.0) -> tuple[float, float]:
    """(interval, MTBF) in seconds; a positive ``override_s`` is the interval."""
    mtbf = observed_mtbf(exposure_s, upsets, floor_s)
    return (override_s if override_s > 0 else young_daly(checkpoint_cost_s, mtbf)), mtbf

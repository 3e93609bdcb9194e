"""Upset protection of a training job: seal, verify, guard, and the shadow to roll back to.

The parameters and the optimizer state are sealed with block checksums right after each optimizer
step and verified right before the next one changes them. Between the two run the data loading
and the forward and backward passes, which only read that state: most of a step's time is covered,
and an upset there is found before it can be folded into the weights (where no checksum could tell
it from learning). The loss guard watches what the checksums cannot: activations and gradients.

A detection raises ``Upset``; the trainer rolls back to ``last_good`` or earlier and replays the
same batches, which makes the run equal to one that was never hit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from flight.seu.host_shadow import HostShadow
from flight.seu.loss_guard import LossGuard, Trip
from flight.seu.scrubber import Detection, Scrubber
from flight.seu.training_state import tensor_class, training_tensors


@dataclass
class Upset(Exception):
    last_good: int  # the newest step whose state can be trusted
    detections: list[Detection] = field(default_factory=list)
    trip: Trip | None = None

    def __str__(self) -> str:
        if self.trip is not None:
            return f"step {self.trip.step}: {self.trip.reason}"
        return ", ".join(f"{d.tensor} block {d.block}" for d in self.detections)


@dataclass(frozen=True)
class Policy:
    scrub: bool = True  # seal after each optimizer step, verify before the next
    shadow_interval: int = 25  # steps between host shadow copies; 0: roll back to checkpoints only
    guard: bool = True  # non-finite and spiking losses


class TrainingProtection:
    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, policy: Policy) -> None:
        self.policy = policy
        self.optimizer = optimizer
        self.tensors: Callable[[], dict[str, torch.Tensor]] = lambda: training_tensors(model, optimizer)
        self.scrubber = Scrubber(self.tensors) if policy.scrub else None
        self.shadow = HostShadow() if policy.shadow_interval > 0 else None
        self.guard = LossGuard() if policy.guard else None
        self.rollbacks = 0
        self.lost_steps = 0  # steps computed again after rollbacks
        self._states = -1  # optimizer state entries at the last seal

    def start(self, step: int) -> None:
        """At the start of a run or after a restore: seal what is there, and shadow it."""
        if self.scrubber is not None:
            self.scrubber.seal()
            self._states = len(self.optimizer.state)
        if self.shadow is not None:
            self.shadow.take(step, self.tensors())

    def before_update(self, step: int) -> None:
        """Before the optimizer step that makes step ``step + 1``: the state must be as sealed."""
        if self.scrubber is not None and self.scrubber.sealed:
            found = self.scrubber.verify()
            if found:
                raise Upset(step, detections=found)

    def after_update(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> None:
        """After the optimizer step that made ``step``: judge its loss, then seal and maybe shadow it."""
        if self.guard is not None:
            trip = self.guard.check(step, float(loss), 0.0 if grad_norm is None else float(grad_norm))
            if trip is not None:
                raise Upset(step - 1, trip=trip)
        if self.scrubber is not None:
            # The optimizer makes its state at its first step; otherwise the tensors stay the same objects.
            states = len(self.optimizer.state)
            self.scrubber.seal(relayout=states != self._states)
            self._states = states
        if self.shadow is not None and step % self.policy.shadow_interval == 0:
            self.shadow.take(step, self.tensors())

    def restore_shadow(self, at_most: int) -> int | None:
        """Roll back to the shadow if it is old enough and intact; the step it holds, or None."""
        if self.shadow is None or not self.shadow.held or self.shadow.step > at_most or not self.shadow.intact():
            return None
        if self.shadow.names != set(self.tensors()):
            if any(tensor_class(name) == "optim" for name in self.shadow.names):
                return None  # taken of another state than this one: no use
            self.optimizer.state.clear()  # a shadow from before the first step: AdamW had no state then
        return self.shadow.restore(self.tensors())

    def rolled_back(self, from_step: int, to_step: int) -> None:
        self.rollbacks += 1
        self.lost_steps += from_step - to_step
        self.start(to_step)

    def stats(self) -> dict[str, int]:
        scrubber, guard = self.scrubber, self.guard
        return {"scrubbed_bytes": scrubber.scrubbed_bytes if scrubber else 0,
                "detections": (scrubber.detections if scrubber else 0) + (guard.trips if guard else 0),
                "rollbacks": self.rollbacks, "lost_steps": self.lost_steps, "repairs": 0}

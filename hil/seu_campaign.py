"""``hil seu campaign``: inject N upsets into a training job and judge the protection.

The job is the flight trainer, run in this process on the CPU training config (or any config), once
without faults and once with N single-bit flips at random steps, in random elements of the
parameters and optimizer state, with bits drawn uniformly or from the exponent. The report gives:

- detection coverage (flips found ÷ flips injected) and detection latency (seconds and steps from a
  flip to its detection);
- rollback time and the steps computed again;
- the final validation loss of both runs, and their difference (replays are exact on a CPU, so it
  should be nothing at all; the issue's bound is 0.05).

Everything is seeded: a campaign replays exactly. The summary is JSON, printed at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flight.atomic_file import write_json_atomic
from flight.link.errors import ConfigError
from hil.seu_inject import add_inject_actions

TOLERANCE = 0.05  # the final validation loss may differ from the fault-free run's by at most this


@dataclass(frozen=True)
class CampaignSpec:
    flips: int = 200
    steps: int = 300
    seed: int = 1
    bits: str = "uniform"  # or "exponent"
    targets: tuple[str, ...] = ("param", "optim")
    config: str = "shakespeare_cpu"
    shadow_interval: int = 1  # a shadow each step: a rollback recomputes nothing, so N flips stay cheap


@dataclass
class Injected:
    step: int
    tensor: str
    block: int
    bit: int
    at: float  # perf_counter when flipped
    detected_at: float | None = None
    detected_step: int | None = None


@dataclass
class Campaign:
    spec: CampaignSpec
    injected: list[Injected] = field(default_factory=list)
    rollback_s: list[float] = field(default_factory=list)
    unexpected: int = 0  # detections that match no flip (there should be none)


def plan(spec: CampaignSpec) -> list[int]:
    """The steps after which a flip lands: ``flips`` distinct steps of the run, seeded."""
    if not 1 <= spec.flips < spec.steps:
        raise ValueError(f"{spec.flips} flips need more than {spec.flips} steps (got {spec.steps})")
    return sorted(random.Random(spec.seed).sample(range(1, spec.steps), spec.flips))


def run_campaign(spec: CampaignSpec, progress: Any = None) -> dict[str, Any]:
    import torch

    from flight.jobs.batches import TokenData
    from flight.jobs.device import Device
    from flight.jobs.shakespeare import prepared
    from flight.jobs.trainer import Trainer, TrainSpec
    from flight.seu.bitflip import BitClass, apply, random_flip
    from flight.seu.training_state import tensor_class

    data = TokenData.open(prepared())
    cpu = Device(torch.device("cpu"))
    train_spec = TrainSpec(config=spec.config, seed=spec.seed, max_iters=spec.steps, log_interval=10,
                           eval_interval=spec.steps, sample_tokens=1, shadow_interval=spec.shadow_interval)
    began = time.perf_counter()
    clean = Trainer(train_spec, data, cpu).run()
    clean_s = time.perf_counter() - began

    campaign = Campaign(spec)
    schedule = plan(spec)
    rng = random.Random(spec.seed + 1)
    bit_class = BitClass.EXPONENT if spec.bits == "exponent" else BitClass.ANY

    def report(kind: str, fields: dict[str, Any]) -> None:
        if kind != "upset":
            return
        match = next((f for f in campaign.injected if f.detected_at is None and f.tensor == fields["target"]
                      and f.block == fields["block"]), None)
        if match is None:
            campaign.unexpected += 1
            return
        match.detected_at, match.detected_step = time.perf_counter(), fields["step"]

    def inject(trainer: Trainer) -> None:
        due = len(campaign.injected)
        if due < len(schedule) and trainer.step == schedule[due]:
            assert trainer.protection is not None
            tensors = {n: t for n, t in trainer.protection.tensors().items() if tensor_class(n) in spec.targets}
            flip = random_flip(rng, tensors, bit_class)
            apply(flip, tensors)
            campaign.injected.append(Injected(trainer.step, flip.tensor, flip.block, flip.bit, time.perf_counter()))
            if progress is not None and (due + 1) % 20 == 0:
                progress(f"{due + 1}/{spec.flips} flips injected, step {trainer.step}/{spec.steps}")

    trainer = Trainer(train_spec, data, cpu, report=report)
    trainer.between_steps = inject
    roll_back = trainer.roll_back

    def timed_roll_back(upset: Any) -> int:
        started = time.perf_counter()
        restored = roll_back(upset)
        campaign.rollback_s.append(time.perf_counter() - started)
        return restored

    trainer.roll_back = timed_roll_back  # type: ignore[method-assign]
    began = time.perf_counter()
    faulty = trainer.run()
    faulty_s = time.perf_counter() - began
    assert trainer.protection is not None
    return summary(campaign, clean.val_loss, faulty.val_loss, trainer.protection.lost_steps, clean_s, faulty_s)


def summary(campaign: Campaign, clean_val: float | None, faulty_val: float | None, lost_steps: int,
            clean_s: float, faulty_s: float) -> dict[str, Any]:
    found = [f for f in campaign.injected if f.detected_at is not None]
    latency = [f.detected_at - f.at for f in found if f.detected_at is not None]
    latency_steps = [f.detected_step - f.step for f in found if f.detected_step is not None]
    difference = abs(faulty_val - clean_val) if clean_val is not None and faulty_val is not None else None
    return {
        "spec": {**asdict(campaign.spec), "targets": list(campaign.spec.targets)},
        "injected": len(campaign.injected),
        "detected": len(found),
        "missed": len(campaign.injected) - len(found),
        "unexpected_detections": campaign.unexpected,
        "coverage": len(found) / len(campaign.injected) if campaign.injected else 0.0,
        "detection_latency_s": {"mean": _mean(latency), "max": max(latency, default=0.0)},
        "detection_latency_steps": {"mean": _mean(latency_steps), "max": max(latency_steps, default=0)},
        "rollbacks": len(campaign.rollback_s),
        "rollback_s": {"mean": _mean(campaign.rollback_s), "max": max(campaign.rollback_s, default=0.0)},
        "lost_steps": lost_steps,
        "val_loss": {"fault_free": clean_val, "with_upsets": faulty_val, "difference": difference,
                     "tolerance": TOLERANCE},
        "wall_s": {"fault_free": clean_s, "with_upsets": faulty_s},
        "passed": bool(campaign.injected) and len(found) == len(campaign.injected) and difference is not None
        and difference <= TOLERANCE,
    }


def _mean(values: list[float] | list[int]) -> float:
    return sum(values) / len(values) if values else 0.0


# ---- hil seu


def add_seu_command(commands: argparse._SubParsersAction[Any]) -> None:
    seu = commands.add_parser("seu", help="inject single-event upsets and judge the protection",
                              description="Single-event upsets: a campaign of N flips into a training job run "
                              "here (campaign), or one fault at a time into a running supervisor through its "
                              "keyed bench interface (inject; keygen writes its key).", allow_abbrev=False)
    actions = seu.add_subparsers(title="actions", dest="action", metavar="ACTION", required=True)
    campaign = actions.add_parser("campaign", help="N flips into a training job run here; a JSON report",
                                  description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                  allow_abbrev=False)
    defaults = CampaignSpec()
    campaign.add_argument("--flips", type=int, default=defaults.flips, help=f"upsets to inject (default {defaults.flips})")
    campaign.add_argument("--steps", type=int, default=defaults.steps,
                          help=f"training steps of each run (default {defaults.steps})")
    campaign.add_argument("--seed", type=int, default=defaults.seed, help="seeds the job and the flips (default 1)")
    campaign.add_argument("--bits", choices=("uniform", "exponent"), default=defaults.bits,
                          help="which bit of an element flips: any, or one of the exponent's (default uniform)")
    campaign.add_argument("--targets", default=",".join(defaults.targets), metavar="param,optim",
                          help="what the flips hit: param, optim, or both (default both)")
    campaign.add_argument("--config", default=defaults.config, help=f"training config (default {defaults.config})")
    campaign.add_argument("--shadow-interval", type=int, default=defaults.shadow_interval,
                          help="steps between host shadows (default 1)")
    campaign.add_argument("--json", type=Path, metavar="FILE", help="also write the summary here")
    campaign.set_defaults(handler=run_seu)
    add_inject_actions(actions)


def run_seu(args: argparse.Namespace) -> int:
    from flight.jobs.configs import CONFIGS

    targets = tuple(t for t in args.targets.split(",") if t)
    if not targets or set(targets) - {"param", "optim"}:
        raise ConfigError(f"--targets {args.targets!r}: param, optim, or param,optim")
    if args.config not in CONFIGS:
        raise ConfigError(f"--config {args.config!r}: one of {', '.join(sorted(CONFIGS))}")
    spec = CampaignSpec(args.flips, args.steps, args.seed, args.bits, targets, args.config, args.shadow_interval)
    try:
        plan(spec)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if spec.shadow_interval < 0:
        raise ConfigError("--shadow-interval must be 0 or more")
    result = run_campaign(spec, progress=lambda line: print(line, file=sys.stderr, flush=True))
    if args.json is not None:
        write_json_atomic(args.json, result)
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1
